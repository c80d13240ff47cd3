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
    let addresses: readonly DnsAddress[] = [];
    try {
      addresses = parseAnswer(reply).addresses;
    } catch (err) {
      if (!(err instanceof DnsFormatError)) throw err;
      // Relayed unread: the guest judges it. Nothing is added to the allow set.
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
    let buf = Buffer.alloc(0);
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2) {
        const n = buf.readUInt16BE(0);
        if (buf.length < 2 + n) break;
        const msg = Buffer.from(buf.subarray(2, 2 + n));
        buf = buf.subarray(2 + n);
        if (this.inflight >= MAX_INFLIGHT) {
          sock.destroy();
          return;
        }
        this.inflight++;
        // Answers may go back out of order (RFC 7766 allows it); each carries its id.
        this.answer(msg, 'tcp')
          .then((reply) => {
            if (!reply || sock.destroyed) return;
            const len = Buffer.alloc(2);
            len.writeUInt16BE(reply.length);
            sock.write(Buffer.concat([len, reply]));
          })
          .catch((err: unknown) => this.opts.log?.(`resolver ${this.opts.address}: ${(err as Error).message}`))
          .finally(() => this.inflight--);
      }
    });
  }
}
