/**
 * What a test does from a place in the network (the fake guest, or the test's host
 * namespace for positive controls): resolve names, send raw DNS queries over UDP or TCP,
 * fetch URLs, open TCP connections. Every operation gives up after TIMEOUT_MS and reports
 * an outcome instead of throwing, so tests can assert on error codes.
 */
import dgram from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import http from 'node:http';
import net from 'node:net';
import { parseAnswer } from '../../../daemon/net/dns-wire.js';
import { buildQuery } from './dns-build.js';

const TIMEOUT_MS = 4_000;

/** Outcome of a network operation: ok with a value, or an error code (TIMEOUT when none came). */
export type Outcome<T> = { ok: true; value: T } | { ok: false; code: string };

function fail(err: unknown): { ok: false; code: string } {
  return { ok: false, code: String((err as NodeJS.ErrnoException).code ?? (err as Error).message) };
}

/** Resolves A records of `name` through the system-style resolver pointed at `server`. */
export async function resolve4(server: string, name: string): Promise<Outcome<string[]>> {
  const r = new Resolver({ timeout: TIMEOUT_MS, tries: 1 });
  r.setServers([server]);
  try {
    return { ok: true, value: (await r.resolve4(name)).sort() };
  } catch (err) {
    return fail(err);
  }
}

/** Result of a raw DNS exchange. */
export interface RawDnsResult {
  readonly rcode: number;
  readonly addresses: string[];
}

/** One raw DNS query for the A records of `name` to `server`:`port` (53) over UDP or TCP. */
export function rawDns(server: string, name: string, transport: 'udp' | 'tcp', port = 53): Promise<Outcome<RawDnsResult>> {
  const query = buildQuery(name);
  const done = (msg: Buffer): Outcome<RawDnsResult> => {
    const a = parseAnswer(msg);
    return { ok: true, value: { rcode: a.rcode, addresses: a.addresses.map((x) => x.address).sort() } };
  };
  return new Promise((resolvePromise) => {
    let finished = false;
    const finish = (o: Outcome<RawDnsResult>, cleanup: () => void): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      cleanup();
      resolvePromise(o);
    };
    let cleanup = (): void => undefined;
    const timer = setTimeout(() => finish({ ok: false, code: 'TIMEOUT' }, cleanup), TIMEOUT_MS);
    if (transport === 'udp') {
      // Connected, so that an ICMP rejection surfaces as an error.
      const s = dgram.createSocket('udp4');
      cleanup = () => s.close();
      s.on('error', (err) => finish(fail(err), cleanup));
      s.on('message', (msg) => finish(done(msg), cleanup));
      s.connect(port, server, () => s.send(query));
    } else {
      const s = net.connect({ host: server, port });
      cleanup = () => s.destroy();
      let buf = Buffer.alloc(0);
      s.on('error', (err) => finish(fail(err), cleanup));
      s.on('connect', () => {
        const len = Buffer.alloc(2);
        len.writeUInt16BE(query.length);
        s.write(Buffer.concat([len, query]));
      });
      s.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) finish(done(buf.subarray(2, 2 + buf.readUInt16BE(0))), cleanup);
      });
    }
  });
}

/** A `lookup` for node:http that asks `server` (as a guest's /etc/resolv.conf would make it). */
function lookupVia(server: string): net.LookupFunction {
  return (hostname, _options, callback) => {
    const cb = callback as unknown as (err: Error | null, address: string | { address: string; family: number }[], family?: number) => void;
    if (net.isIP(hostname)) return cb(null, hostname, net.isIP(hostname));
    resolve4(server, hostname).then((r) => {
      if (!r.ok) return cb(Object.assign(new Error(`lookup ${hostname}: ${r.code}`), { code: r.code }), '');
      const all = (_options as { all?: boolean }).all;
      if (all) cb(null, r.value.map((address) => ({ address, family: 4 })));
      else cb(null, r.value[0] ?? '', 4);
    }, (err: Error) => cb(err, ''));
  };
}

/** GET `url`: status and body. Names are resolved by `dnsServer` when given, else the system's way. */
export function httpGet(url: string, dnsServer?: string): Promise<Outcome<{ status: number; body: string }>> {
  return new Promise((resolvePromise) => {
    const lookup = dnsServer ? { lookup: lookupVia(dnsServer) } : {};
    const req = http.get(url, { timeout: TIMEOUT_MS, agent: false, ...lookup }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolvePromise({ ok: true, value: { status: res.statusCode ?? 0, body } }));
      res.on('error', (err) => resolvePromise(fail(err)));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    req.on('error', (err) => resolvePromise(fail(err)));
  });
}

/** Opens (and closes) a TCP connection. */
export function tcpConnect(host: string, port: number): Promise<Outcome<true>> {
  return new Promise((resolvePromise) => {
    const s = net.connect({ host, port, timeout: TIMEOUT_MS });
    s.on('connect', () => {
      s.destroy();
      resolvePromise({ ok: true, value: true });
    });
    s.on('timeout', () => {
      s.destroy();
      resolvePromise({ ok: false, code: 'TIMEOUT' });
    });
    s.on('error', (err) => resolvePromise(fail(err)));
  });
}
