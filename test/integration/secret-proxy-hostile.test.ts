/**
 * The guest is the attacker (docs/architecture.md §8, §11): hostile input to the
 * secret proxy keeps its memory bounded, never forwards a body it could not check,
 * and leaves it serving the next honest request.
 */
import { randomBytes } from 'node:crypto';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { guestRequest, startFixture, type Fixture } from '../helpers/secret-proxy.js';

const VALUE = 'hostile-test-REAL-value';

/** Resolves when the socket closes, with the ms it took. */
function closed(s: Socket | import('node:tls').TLSSocket): Promise<number> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    if (s.destroyed) resolve(0);
    s.on('close', () => resolve(Date.now() - t0));
  });
}

describe('secret proxy under hostile input', () => {
  let f: Fixture;
  let ph: string;

  beforeEach(async () => {
    f = await startFixture({ maxBodyBytes: 64 * 1024, maxHeaderBytes: 16 * 1024, headersTimeoutMs: 1000, handshakeTimeoutMs: 1000, leafCacheSize: 32, maxConnections: 64 });
    f.store.set({ name: 'model', hosts: ['api.test', '*.api.test'], value: VALUE });
    ph = f.store.grant(f.sandboxId, 'model').placeholder;
    f.pinned.add('*');
  });
  afterEach(async () => { await f.close(); });

  const honest = async () => {
    const r = await guestRequest(f, { host: 'api.test', path: '/honest', headers: { 'x-api-key': ph } });
    expect(r.status).toBe(200);
    expect(f.received.at(-1)?.headers['x-api-key']).toBe(VALUE);
  };

  it('closes garbage instead of TLS, and a ClientHello that never ends', async () => {
    for (const junk of [randomBytes(4096), Buffer.from('GET / HTTP/1.1\r\nHost: api.test\r\n\r\n'), Buffer.concat([Buffer.from([22, 3, 1, 0x40, 0x00]), randomBytes(16_384)]), Buffer.concat([Buffer.from([22, 3, 1, 0x00, 0x05, 1, 0xff, 0xff, 0xff, 0]), randomBytes(64)])]) {
      const s = netConnect(f.proxyPort, '127.0.0.1');
      s.on('error', () => undefined);
      const done = closed(s);
      s.write(junk);
      expect(await done).toBeLessThan(3000);
    }
    // A hello whose declared length is never reached: cut off by the handshake timeout.
    const s = netConnect(f.proxyPort, '127.0.0.1');
    s.on('error', () => undefined);
    s.write(Buffer.from([22, 3, 1, 0x10, 0x00, 1, 0, 0x0f, 0xfc]));
    expect(await closed(s)).toBeLessThan(3000);
    await honest();
  });

  it('answers 431 to a huge request head and 413 to an oversized JSON body, forwarding neither', async () => {
    const big = await guestRequest(f, { host: 'api.test', path: '/big-head', headers: { 'x-pad': 'a'.repeat(64 * 1024), 'x-api-key': ph } }).catch((e: Error) => e);
    if (!(big instanceof Error)) expect(big.status).toBe(431);
    const body = `{"k":"${ph}","pad":"${'b'.repeat(100 * 1024)}"}`;
    const r = await guestRequest(f, { host: 'api.test', path: '/big-body', method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(r.status).toBe(413);
    // Chunked, so no length is declared: refused while reading (or the connection is cut).
    const chunked = await guestRequest(f, { host: 'api.test', path: '/big-chunked', method: 'POST', headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' }, body }).catch((e: Error) => e);
    if (!(chunked instanceof Error)) expect(chunked.status).toBe(413);
    expect(f.received.map((x) => x.url)).toEqual([]);
    // A large body that needs no rewriting streams through.
    const bin = await guestRequest(f, { host: 'api.test', path: '/upload', method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: randomBytes(1024 * 1024) });
    expect(bin.status).toBe(200);
    expect(f.received.at(-1)?.body.length).toBeGreaterThan(0);
    await honest();
  });

  it('cuts off a slow request head (slowloris) and a stalled handshake', async () => {
    const s = tlsConnect({ host: '127.0.0.1', port: f.proxyPort, servername: 'api.test', ca: f.ca.certPem });
    s.on('error', () => undefined);
    await new Promise<void>((r) => s.once('secureConnect', () => r()));
    const done = closed(s);
    s.write('GET /slow HTTP/1.1\r\nHost: api.test\r\n');
    const trickle = setInterval(() => { if (!s.destroyed) s.write('X-A: b\r\n'); }, 200);
    const took = await done;
    clearInterval(trickle);
    expect(took).toBeLessThan(3000);
    const raw = netConnect(f.proxyPort, '127.0.0.1');
    raw.on('error', () => undefined);
    expect(await closed(raw)).toBeLessThan(3000);
    expect(f.received).toHaveLength(0);
    await honest();
  });

  it('keeps the leaf cache bounded under thousands of server names and refuses connections beyond the limit', async () => {
    const before = process.memoryUsage().rss;
    const names = Array.from({ length: 1000 }, (_, i) => `n${i}.api.test`);
    for (let i = 0; i < names.length; i += 25) {
      await Promise.all(names.slice(i, i + 25).map((servername) => new Promise<void>((resolve) => {
        const s = tlsConnect({ host: '127.0.0.1', port: f.proxyPort, servername, ca: f.ca.certPem }, () => s.destroy());
        s.on('error', () => resolve());
        s.on('close', () => resolve());
      })));
    }
    expect(f.proxy.stats.leaves).toBeLessThanOrEqual(32);
    expect(process.memoryUsage().rss - before).toBeLessThan(200 * 1024 * 1024);
    // Connection limit: 64 open at once, the rest closed at accept.
    const held = Array.from({ length: 80 }, () => { const s = netConnect(f.proxyPort, '127.0.0.1'); s.on('error', () => undefined); return s; });
    await new Promise((r) => setTimeout(r, 300));
    expect(f.proxy.stats.connections).toBeLessThanOrEqual(64);
    for (const s of held) s.destroy();
    await new Promise((r) => setTimeout(r, 100));
    await honest();
  });
});
