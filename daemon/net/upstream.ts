/**
 * Upstream DNS servers of hob's resolver: where they come from (config or the host's
 * /etc/resolv.conf) and one query/answer exchange with them over UDP or TCP. Queries are
 * sent from hobd's own network namespace (the host's), never from a sandbox's.
 */
import { randomInt } from 'node:crypto';
import dgram from 'node:dgram';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import { DnsFormatError, messageId, parseAnswer, parseQuery, withId } from './dns-wire.js';

/** One upstream server. */
export interface UpstreamServer {
  readonly address: string;
  readonly port: number;
  readonly family: 4 | 6;
}

/**
 * Parses "1.1.1.1", "1.1.1.1:5353", "2606:4700::1111" or "[2606:4700::1111]:53".
 * Returns undefined when the text is none of these.
 */
export function parseServer(text: string): UpstreamServer | undefined {
  const t = text.trim();
  let host = t;
  let port = 53;
  const bracket = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(t);
  const v4port = /^([0-9.]+):(\d{1,5})$/.exec(t);
  if (bracket) {
    host = bracket[1] ?? '';
    if (bracket[2] !== undefined) port = Number(bracket[2]);
  } else if (v4port) {
    host = v4port[1] ?? '';
    port = Number(v4port[2]);
  }
  if (!(port >= 1 && port <= 65535)) return undefined;
  // An IPv6 zone ("fe80::1%eth0") is accepted by net.isIP's caller only without the zone.
  const family = net.isIP(host.split('%')[0] ?? '');
  if (family !== 4 && family !== 6) return undefined;
  return { address: host, port, family };
}

/**
 * The nameservers of a resolv.conf text, in order (entries that are not IP addresses are
 * skipped).
 */
export function parseResolvConf(text: string): UpstreamServer[] {
  const out: UpstreamServer[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    const s = m ? parseServer(m[1] ?? '') : undefined;
    if (s) out.push(s);
  }
  return out;
}

/** The host's nameservers from /etc/resolv.conf (empty when the file is missing or lists none). */
export async function hostNameservers(path = '/etc/resolv.conf'): Promise<UpstreamServer[]> {
  try {
    return parseResolvConf(await readFile(path, 'utf8'));
  } catch {
    return [];
  }
}

/** Time allowed for one server to answer before the next one is tried. */
export const UPSTREAM_TIMEOUT_MS = 2_000;

/** An upstream exchange failed (no server answered, or every answer was unusable). */
export class UpstreamError extends Error {}

function sameQuestion(query: Buffer, answer: Buffer): boolean {
  try {
    const q = parseQuery(query);
    const a = parseAnswer(answer);
    return a.name === q.name && a.type === q.type;
  } catch (err) {
    if (err instanceof DnsFormatError) return false;
    throw err;
  }
}

function udpExchange(server: UpstreamServer, query: Buffer, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket(server.family === 6 ? 'udp6' : 'udp4');
    let done = false;
    const timer = setTimeout(() => finish(new UpstreamError(`${server.address}:${server.port} did not answer`)), timeoutMs);
    const finish = (result: Buffer | Error): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.close();
      if (result instanceof Error) reject(result);
      else resolve(result);
    };
    sock.on('error', (err) => finish(err));
    sock.on('message', (msg, rinfo) => {
      // Ignore anything that is not the answer to this query from this server.
      if (rinfo.port !== server.port || (server.family === 4 && rinfo.address !== server.address)) return;
      if (msg.length < 12 || messageId(msg) !== messageId(query)) return;
      if (!sameQuestion(query, msg)) return;
      finish(msg);
    });
    // Connected: only this server's datagrams arrive, and an ICMP "port unreachable" fails
    // the exchange at once instead of after the timeout. Node calls this callback also when
    // the connect failed (no route to the server: ENETUNREACH), and `send` on a socket that
    // is not connected throws, so the error must be checked first.
    sock.connect(server.port, server.address, (err?: Error) => {
      if (err) return finish(err);
      if (done) return;
      sock.send(query, (sendErr) => {
        if (sendErr) finish(sendErr);
      });
    });
  });
}

function tcpExchange(server: UpstreamServer, query: Buffer, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: server.address, port: server.port });
    let buf = Buffer.alloc(0);
    let done = false;
    const timer = setTimeout(() => finish(new UpstreamError(`${server.address}:${server.port} did not answer over TCP`)), timeoutMs);
    const finish = (result: Buffer | Error): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      if (result instanceof Error) reject(result);
      else resolve(result);
    };
    sock.on('error', (err) => finish(err));
    sock.on('connect', () => {
      const len = Buffer.alloc(2);
      len.writeUInt16BE(query.length);
      sock.write(Buffer.concat([len, query]));
    });
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length < 2) return;
      const n = buf.readUInt16BE(0);
      if (buf.length < 2 + n) return;
      const msg = buf.subarray(2, 2 + n);
      if (msg.length < 12 || messageId(msg) !== messageId(query) || !sameQuestion(query, msg)) {
        finish(new UpstreamError(`${server.address}:${server.port} sent an answer to another question`));
      } else {
        finish(Buffer.from(msg));
      }
    });
    sock.on('end', () => finish(new UpstreamError(`${server.address}:${server.port} closed the connection without an answer`)));
  });
}

/**
 * Sends `query` (a complete DNS message) to the servers in order until one answers, over
 * UDP or TCP. The id on the wire is a fresh random one; the answer comes back with the
 * query's id. A truncated UDP answer is returned as it is (the client retries over TCP).
 * @throws UpstreamError when there are no servers or none answered in time.
 */
export async function forwardQuery(
  servers: readonly UpstreamServer[],
  query: Buffer,
  transport: 'udp' | 'tcp',
  timeoutMs = UPSTREAM_TIMEOUT_MS,
): Promise<Buffer> {
  if (servers.length === 0) throw new UpstreamError('no upstream DNS server configured');
  const originalId = messageId(query);
  const wire = withId(query, randomInt(0x10000));
  const errors: string[] = [];
  for (const server of servers) {
    try {
      const answer = transport === 'udp' ? await udpExchange(server, wire, timeoutMs) : await tcpExchange(server, wire, timeoutMs);
      return withId(answer, originalId);
    } catch (err) {
      errors.push((err as Error).message);
    }
  }
  throw new UpstreamError(`no upstream DNS server answered: ${errors.join('; ')}`);
}
