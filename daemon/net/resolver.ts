/**
 * hob's DNS resolver for one sandbox: a forwarder listening on UDP and TCP on the host side
 * of the sandbox's transit link (`<transit host>:<resolverPort>`). The guest asks
 * 172.31.255.1:53; the sandbox namespace DNATs that to this listener. The listener is in
 * hobd's own namespace, so one hobd process serves every sandbox; the socket a query
 * arrives on says which sandbox asked.
 *
 * Per query: the policy decides the name; a denied name gets REFUSED. An allowed one is
 * forwarded unchanged (fresh id) to the upstream servers; before the answer goes back, the
 * A records in it are handed to `onAnswer`, which puts them into the sandbox's nftables
 * allow set, so the guest can connect as soon as it has the answer.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { NetworkError } from './errors.js';
import { DnsFormatError, type DnsAddress, errorResponse, parseAnswer, parseQuery, RCODE } from './dns-wire.js';
import type { CompiledPolicy } from './policy.js';
import { forwardQuery, type UpstreamServer } from './upstream.js';

/** Queries of one sandbox being worked on at once; more are dropped (the guest retries). */
export const MAX_INFLIGHT = 256;
/** TCP connections of one sandbox at once; more are closed right away. */
export const MAX_TCP_CONNECTIONS = 32;
/** A TCP connection without a query for this long is closed (RFC 7766 suggests seconds). */
export const TCP_IDLE_MS = 10_000;

export interface ResolverOptions {
  /** Address to listen on (host side of the transit link). */
  readonly address: string;
  /** UDP and TCP port to listen on; 0 = any free port (the same for both). */
  readonly port: number;
  /** Current upstream servers (read per query). */
  readonly upstream: () => readonly UpstreamServer[];
  /** Current policy (read per query, so a policy change applies to the next query). */
  readonly policy: () => CompiledPolicy;
  /**
   * Called with an allowed name and the A records of its answer before the answer is sent;
   * the answer waits for it. If it rejects, the guest gets SERVFAIL instead of the answer.
   */
  readonly onAnswer: (name: string, addresses: readonly DnsAddress[]) => Promise<void>;
  /** Diagnostics (failed upstreams, hook failures). */
  readonly log?: (message: string) => void;
}

/** A running resolver; see the module comment. */
export class SandboxResolver {
  private inflight = 0;
  private readonly connections = new Set<net.Socket>();
  private closed = false;

  private constructor(
    private readonly opts: ResolverOptions,
    private readonly udp: dgram.Socket,
    private readonly tcp: net.Server,
  ) {
    this.port = udp.address().port;
  }

  /**
   * Binds the UDP and TCP listeners.
   * @throws NetworkError when either cannot be bound (address missing, port taken).
   */
  static async start(opts: ResolverOptions): Promise<SandboxResolver> {
    const udp = dgram.createSocket({ type: 'udp4' });
    const tcp = net.createServer();
    try {
      await new Promise<void>((resolve, reject) => {
        udp.once('error', reject);
        udp.bind({ address: opts.address, port: opts.port, exclusive: true }, () => {
          udp.off('error', reject);
          resolve();
        });
      });
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen({ host: opts.address, port: udp.address().port, exclusive: true }, () => {
          tcp.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      udp.close();
      tcp.close();
      throw new NetworkError(`cannot listen for DNS on ${opts.address}:${opts.port}: ${(err as Error).message}`, { cause: err });
    }
    const r = new SandboxResolver(opts, udp, tcp);
    udp.on('message', (msg, rinfo) => r.onUdp(msg, rinfo));
    udp.on('error', (err) => opts.log?.(`resolver ${opts.address}: udp: ${err.message}`));
    tcp.on('connection', (sock) => r.onTcp(sock));
    tcp.on('error', (err) => opts.log?.(`resolver ${opts.address}: tcp: ${err.message}`));
    return r;
  }

  /** The port listened on (UDP and TCP). */
  readonly port: number;

  /** Stops listening and closes open TCP connections. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const c of this.connections) c.destroy();
    await Promise.all([
      new Promise<void>((resolve) => this.udp.close(() => resolve())),
      new Promise<void>((resolve) => this.tcp.close(() => resolve())),
    ]);
  }

  /** Answers one query; undefined when nothing should be sent back (unreadable garbage). */
  async answer(query: Buffer, transport: 'udp' | 'tcp'): Promise<Buffer | undefined> {
    let q;
    try {
      q = parseQuery(query);
    } catch (err) {
      if (!(err instanceof DnsFormatError)) throw err;
      // A header we can read that is a query gets FORMERR; anything else is ignored.
      return query.length >= 12 && !((query[2] ?? 0) & 0x80) ? errorResponse(query, RCODE.FORMERR) : undefined;
    }
    if (q.opcode !== 0) return errorResponse(query, RCODE.NOTIMP);
    const policy = this.opts.policy();
    if (policy.decide(q.name) === 'deny' || (policy.restricted && q.class !== 1)) {
      return errorResponse(query, RCODE.REFUSED);
    }
    let reply: Buffer;
    try {
      reply = await forwardQuery(this.opts.upstream(), query, transport);
    } catch (err) {
      this.opts.log?.(`resolver ${this.opts.address}: ${q.name}: ${(err as Error).message}`);
      return errorResponse(query, RCODE.SERVFAIL);
    }
    // The upstream must answer the question hob judged: an answer for another name (a
    // confused or spoofing upstream) would let the guest learn, and the allow set gain,
    // addresses of a name the policy never saw. An answer hob cannot read is refused too.
    let addresses: readonly DnsAddress[];
    try {
      const summary = parseAnswer(reply);
      if (summary.name !== q.name || summary.type !== q.type) {
        this.opts.log?.(`resolver ${this.opts.address}: ${q.name}: the upstream answered another question`);
        return errorResponse(query, RCODE.SERVFAIL);
      }
      addresses = summary.addresses;
    } catch (err) {
      if (!(err instanceof DnsFormatError)) throw err;
      this.opts.log?.(`resolver ${this.opts.address}: ${q.name}: unreadable upstream answer: ${err.message}`);
      return errorResponse(query, RCODE.SERVFAIL);
    }
    if (addresses.length > 0) {
      try {
        await this.opts.onAnswer(q.name, addresses);
      } catch (err) {
        this.opts.log?.(`resolver ${this.opts.address}: ${q.name}: cannot allow its addresses: ${(err as Error).message}`);
        return errorResponse(query, RCODE.SERVFAIL);
      }
    }
    return reply;
  }

  private onUdp(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (this.inflight >= MAX_INFLIGHT) return;
    this.inflight++;
    this.answer(msg, 'udp')
      .then((reply) => {
        if (reply && !this.closed) this.udp.send(reply, rinfo.port, rinfo.address);
      })
      .catch((err: unknown) => this.opts.log?.(`resolver ${this.opts.address}: ${(err as Error).message}`))
      .finally(() => this.inflight--);
  }

  private onTcp(sock: net.Socket): void {
    if (this.connections.size >= MAX_TCP_CONNECTIONS || this.closed) {
      sock.destroy();
      return;
    }
    this.connections.add(sock);
    sock.setTimeout(TCP_IDLE_MS, () => sock.destroy());
    sock.on('close', () => this.connections.delete(sock));
    sock.on('error', () => sock.destroy());
    const reader = new LengthPrefixedReader();
    // Backpressure: a guest that sends queries faster than they are answered, or does not
    // read its answers, stops being read (TCP then stops it) instead of queueing in hobd.
    let pending = 0;
    const throttle = (): void => {
      if (pending >= MAX_TCP_PENDING || sock.writableLength > MAX_TCP_UNSENT_BYTES) sock.pause();
      else if (sock.isPaused()) sock.resume();
    };
    sock.on('drain', throttle);
    sock.on('data', (d: Buffer) => {
      for (const msg of reader.push(d)) {
        if (this.inflight >= MAX_INFLIGHT) {
          sock.destroy();
          return;
        }
        this.inflight++;
        pending++;
        // Answers may go back out of order (RFC 7766 allows it); each carries its id.
        this.answer(msg, 'tcp')
          .then((reply) => {
            if (!reply || sock.destroyed) return;
            const len = Buffer.alloc(2);
            len.writeUInt16BE(reply.length);
            sock.write(Buffer.concat([len, reply]));
          })
          .catch((err: unknown) => this.opts.log?.(`resolver ${this.opts.address}: ${(err as Error).message}`))
          .finally(() => {
            this.inflight--;
            pending--;
            if (!sock.destroyed) throttle();
          });
      }
      throttle();
    });
  }
}

/** Queries of one TCP connection being answered at once before hob stops reading it. */
export const MAX_TCP_PENDING = 16;
/** Answer bytes queued for a TCP client that does not read before hob stops reading it. */
export const MAX_TCP_UNSENT_BYTES = 256 * 1024;

/**
 * Splits a TCP stream into DNS messages (RFC 1035 4.2.2: a 2-byte length, then the
 * message). Holds at most one incomplete message (65,537 bytes); the pieces of a message
 * still incomplete are joined once, when it is complete (joining on every chunk would
 * copy a message trickled in 1-byte pieces quadratically).
 */
export class LengthPrefixedReader {
  private chunks: Buffer[] = [];
  private bytes = 0;

  push(chunk: Buffer): Buffer[] {
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    const messages: Buffer[] = [];
    for (;;) {
      if (this.bytes < 2) break;
      const head = this.chunks.length === 1 || (this.chunks[0] as Buffer).length >= 2 ? (this.chunks[0] as Buffer) : this.join();
      const need = 2 + head.readUInt16BE(0);
      if (this.bytes < need) break;
      const all = this.join();
      messages.push(Buffer.from(all.subarray(2, need)));
      const rest = all.subarray(need);
      this.chunks = rest.length > 0 ? [rest] : [];
      this.bytes = rest.length;
    }
    return messages;
  }

  private join(): Buffer {
    const all = this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks, this.bytes);
    this.chunks = [all];
    return all;
  }
}
