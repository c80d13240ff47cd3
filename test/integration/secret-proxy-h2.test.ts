/**
 * The secret proxy with a guest speaking HTTP/2 (ALPN h2), translated to
 * HTTP/1.1 toward the upstream (docs/architecture.md §11).
 */
import { connect as h2connect, type ClientHttp2Session, type OutgoingHttpHeaders } from 'node:http2';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startFixture, type Fixture } from '../helpers/secret-proxy.js';

const VALUE = 'h2-REAL-value+/="x"';

describe('secret proxy over HTTP/2', () => {
  let f: Fixture;
  let ph: string;
  let session: ClientHttp2Session;

  beforeEach(async () => {
    f = await startFixture({ maxBodyBytes: 64 * 1024 });
    f.store.set({ name: 'model', hosts: ['api.test'], value: VALUE });
    ph = f.store.grant(f.sandboxId, 'model').placeholder;
    f.pinned.add('api.test');
    session = h2connect(`https://127.0.0.1:${f.proxyPort}`, { ca: f.ca.certPem, servername: 'api.test' });
    session.on('error', () => undefined);
  });
  afterEach(async () => {
    session.close();
    await f.close();
  });

  const request = (headers: OutgoingHttpHeaders, body?: string, onData?: (c: string) => void) => new Promise<{ status: number; body: string }>((resolve, reject) => {
    const s = session.request({ ':authority': 'api.test', ...headers });
    let status = 0;
    const chunks: string[] = [];
    s.on('response', (h) => { status = Number(h[':status']); });
    s.on('data', (c: Buffer) => { chunks.push(c.toString()); onData?.(c.toString()); });
    s.on('end', () => resolve({ status, body: chunks.join('') }));
    s.on('error', reject);
    s.end(body);
  });

  it('negotiates h2 and substitutes headers, query and a JSON body without a declared length', async () => {
    expect((await request({ ':path': `/h?k=${ph}`, authorization: `Bearer ${ph}` })).status).toBe(200);
    expect(session.alpnProtocol).toBe('h2');
    const got = f.received.at(-1)!;
    expect(got.headers.authorization).toBe(`Bearer ${VALUE}`);
    expect(got.headers.host).toBe('api.test');
    expect(new URL(got.url, 'https://x').searchParams.get('k')).toBe(VALUE);
    await request({ ':method': 'POST', ':path': '/j', 'content-type': 'application/json' }, `{"key":"${ph}"}`);
    expect((JSON.parse(f.received.at(-1)!.body) as { key: string }).key).toBe(VALUE);
    expect(f.audit.map((e) => [e.type, e.method, e.path, e.status])).toEqual([
      ['secret.substituted', 'GET', '/h', 200], ['secret.substituted', 'POST', '/j', 200],
    ]);
  });

  it('streams server-sent events piece by piece', async () => {
    let release!: () => void;
    const released = new Promise<void>((r) => { release = r; });
    f.handlers.set('/sse', (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: 1\n\n');
      void released.then(() => res.end('data: 2\n\n'));
    });
    const timer = setTimeout(() => release(), 5000);
    const pieces: string[] = [];
    const r = await request({ ':path': '/sse' }, undefined, (c) => { pieces.push(c); if (pieces.length === 1) release(); });
    clearTimeout(timer);
    expect(pieces[0]).toBe('data: 1\n\n');
    expect(r.body).toBe('data: 1\n\ndata: 2\n\n');
  });

  it('no substitution when :authority differs from the server name; 413 for an oversized JSON body, the session survives', async () => {
    await request({ ':path': '/m', ':authority': 'evil.test', 'x-key': ph });
    expect(f.received.at(-1)!.headers['x-key']).toBe(ph);
    const big = await request({ ':method': 'POST', ':path': '/big', 'content-type': 'application/json' }, `{"k":"${ph}","p":"${'x'.repeat(100 * 1024)}"}`).catch((e: Error) => e);
    if (!(big instanceof Error)) expect(big.status).toBe(413);
    expect(f.received.some((x) => x.url === '/big')).toBe(false);
    expect((await request({ ':path': '/after' })).status).toBe(200);
  });
});
