/**
 * The secret proxy end to end on loopback, without a VM (docs/architecture.md §11):
 * a guest-like client trusting the sandbox CA, the proxy, a fake HTTPS upstream with
 * its own CA.
 */
import { request as httpsRequest } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { guestRequest, startFixture, type Fixture } from '../helpers/secret-proxy.js';

/** Characters that need escaping in JSON, forms, URLs; no control characters (refused by the store). */
const VALUE = 'sk-REAL/va+lue="q"&x=1\\ü';
const OTHER_VALUE = 'other-REAL-value';

describe('secret proxy', () => {
  let f: Fixture;
  let ph: string;
  let otherPh: string;

  beforeEach(async () => {
    f = await startFixture();
    f.store.set({ name: 'model', hosts: ['api.test'], value: VALUE });
    f.store.set({ name: 'other', hosts: ['*.other.test'], value: OTHER_VALUE });
    ph = f.store.grant(f.sandboxId, 'model', 'MODEL_KEY').placeholder;
    otherPh = f.store.grant(f.sandboxId, 'other', 'OTHER_KEY').placeholder;
    for (const n of ['api.test', 'www.other.test', 'plain.test']) f.pinned.add(n);
  });
  afterEach(async () => { await f.close(); });

  const last = () => f.received.at(-1)!;
  const noValueIn = (x: unknown) => expect(JSON.stringify(x)).not.toContain('REAL');

  it('puts the value into a Bearer header and a custom header, and audits without the value', async () => {
    const r = await guestRequest(f, { host: 'api.test', path: '/v1/messages?beta=true', headers: { authorization: `Bearer ${ph}`, 'x-api-key': ph } });
    expect(r.status).toBe(200);
    expect(last().headers.authorization).toBe(`Bearer ${Buffer.from(VALUE, 'utf8').toString('latin1')}`);
    expect(Buffer.from(last().headers['x-api-key'] as string, 'latin1').toString('utf8')).toBe(VALUE);
    expect(f.audit).toEqual([{ type: 'secret.substituted', sandboxId: f.sandboxId, secret: 'model', host: 'api.test', method: 'GET', path: '/v1/messages', status: 200 }]);
    noValueIn(f.audit);
  });

  it('puts the value into a query string, plain and percent-encoded, and into the path', async () => {
    const encodedPh = [...ph].map((c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`).join('');
    await guestRequest(f, { host: 'api.test', path: `/bot${ph}/send?key=${ph}&enc=${encodedPh}&keep=${encodeURIComponent('a b')}` });
    const url = new URL(last().url, 'https://api.test');
    expect(url.searchParams.get('key')).toBe(VALUE);
    expect(url.searchParams.get('enc')).toBe(VALUE);
    expect(url.searchParams.get('keep')).toBe('a b');
    expect(decodeURIComponent(url.pathname)).toBe(`/bot${VALUE}/send`);
  });

  it('puts the value into a JSON body (escaped) and a form body (percent-encoded)', async () => {
    const json = `{"api_key": "${ph}", "nested": {"list": ["prefix ${ph} suffix"]}, "n": 12345678901234567890}`;
    await guestRequest(f, { host: 'api.test', path: '/json', method: 'POST', headers: { 'content-type': 'application/json; charset=utf-8' }, body: json });
    const parsed = JSON.parse(last().body) as { api_key: string; nested: { list: string[] } };
    expect(parsed.api_key).toBe(VALUE);
    expect(parsed.nested.list[0]).toBe(`prefix ${VALUE} suffix`);
    expect(last().body).toContain('12345678901234567890'); // untouched bytes stay as they were
    expect(Number(last().headers['content-length'])).toBe(Buffer.byteLength(last().body));

    await guestRequest(f, { host: 'api.test', path: '/form', method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `token=${ph}&grant=a+b` });
    const form = new URLSearchParams(last().body);
    expect(form.get('token')).toBe(VALUE);
    expect(form.get('grant')).toBe('a b');
  });

  it('decodes, substitutes and re-encodes Basic credentials', async () => {
    const basic = Buffer.from(`x-access-token:${ph}`).toString('base64');
    await guestRequest(f, { host: 'api.test', path: '/repo.git/info/refs', headers: { authorization: `Basic ${basic}` } });
    const got = /^Basic (.+)$/.exec(last().headers.authorization as string)?.[1] ?? '';
    expect(Buffer.from(got, 'base64').toString('utf8')).toBe(`x-access-token:${VALUE}`);
  });

  it('streams a server-sent event response: the first event arrives before the upstream finishes', async () => {
    let release!: () => void;
    const released = new Promise<void>((r) => { release = r; });
    f.handlers.set('/sse', (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.write('event: first\ndata: 1\n\n');
      void released.then(() => { res.write('event: second\ndata: 2\n\n'); res.end(); });
    });
    const pieces: string[] = [];
    await new Promise<void>((resolve, reject) => {
      const req = httpsRequest({ host: '127.0.0.1', port: f.proxyPort, servername: 'api.test', ca: f.ca.certPem, agent: false, path: '/sse', headers: { host: 'api.test', authorization: `Bearer ${ph}` } }, (res) => {
        res.on('data', (c: Buffer) => {
          pieces.push(c.toString());
          if (pieces.length === 1) release(); // the upstream is still holding its second event
        });
        res.on('end', () => resolve());
        res.on('error', reject);
      });
      req.on('error', reject);
      setTimeout(() => reject(new Error('no first piece: the response was buffered')), 5000).unref();
      req.end();
    });
    expect(pieces[0]).toBe('event: first\ndata: 1\n\n');
    expect(pieces.join('')).toContain('event: second');
  });

  it('leaves a placeholder going to a host it is not for unchanged, and audits it', async () => {
    await guestRequest(f, { host: 'www.other.test', path: '/x', headers: { authorization: `Bearer ${ph}`, 'x-other': otherPh } });
    expect(last().headers.authorization).toBe(`Bearer ${ph}`);
    expect(last().headers['x-other']).toBe(OTHER_VALUE);
    expect(f.audit.map((e) => [e.type, e.secret, e.host])).toEqual([
      ['secret.substituted', 'other', 'www.other.test'],
      ['secret.misdirected', 'model', 'www.other.test'],
    ]);
  });

  it('does not substitute when the Host header differs from the server name', async () => {
    await guestRequest(f, { host: 'api.test', hostHeader: 'www.other.test', path: '/front', headers: { authorization: `Bearer ${ph}`, 'x-other': otherPh } });
    expect(last().headers.authorization).toBe(`Bearer ${ph}`);
    expect(last().headers['x-other']).toBe(otherPh);
    expect(f.audit.map((e) => [e.type, e.secret, e.hostHeader])).toEqual([
      ['secret.misdirected', 'model', 'www.other.test'],
      ['secret.misdirected', 'other', 'www.other.test'],
    ]);
  });

  it('stops substituting at the next request on the same connection once the grant is revoked', async () => {
    const { Agent } = await import('node:https');
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const get = () => new Promise<void>((resolve, reject) => {
      const req = httpsRequest({ host: '127.0.0.1', port: f.proxyPort, servername: 'api.test', ca: f.ca.certPem, agent, path: '/k', headers: { host: 'api.test', 'x-api-key': ph } }, (res) => { res.resume(); res.on('end', resolve); });
      req.on('error', reject);
      req.end();
    });
    await get();
    expect(Buffer.from(last().headers['x-api-key'] as string, 'latin1').toString('utf8')).toBe(VALUE);
    f.store.revoke(f.sandboxId, 'model');
    await get();
    expect(last().headers['x-api-key']).toBe(ph);
    expect(f.proxy.stats.connections).toBe(1);
    agent.destroy();
  });

  it('passes a connection to a host without a secret through untouched: the guest sees the upstream certificate', async () => {
    const peer = await new Promise<string>((resolve, reject) => {
      const s = tlsConnect({ host: '127.0.0.1', port: f.proxyPort, servername: 'plain.test', ca: f.upstreamCa.certPem }, () => {
        resolve(String(s.getPeerCertificate().issuer.CN));
        s.end();
      });
      s.on('error', reject);
    });
    expect(peer).toBe('hob secret proxy CA upstream');
    expect(f.proxy.stats.leaves).toBe(0);
  });

  it('does not intercept a secret host whose address hob did not pin', async () => {
    f.pinned.delete('api.test');
    await expect(guestRequest(f, { host: 'api.test', path: '/', headers: { 'x-api-key': ph } })).rejects.toThrow();
    expect(f.received).toHaveLength(0);
  });

  it('substitutes headers of a websocket upgrade, then passes bytes both ways', async () => {
    const echoed = await new Promise<string>((resolve, reject) => {
      const req = httpsRequest({
        host: '127.0.0.1', port: f.proxyPort, servername: 'api.test', ca: f.ca.certPem, agent: false, path: `/ws?token=${ph}`,
        headers: { host: 'api.test', connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', authorization: `Bearer ${ph}` },
      });
      req.on('upgrade', (res, socket) => {
        expect(res.statusCode).toBe(101);
        socket.on('data', (c: Buffer) => { resolve(c.toString()); socket.destroy(); });
        socket.write('ping over the tunnel');
      });
      req.on('error', reject);
      req.end();
    });
    expect(echoed).toBe('ping over the tunnel');
    const up = f.received.find((r) => r.url.startsWith('/ws'))!;
    expect(Buffer.from(up.headers.authorization as string, 'latin1').toString('utf8')).toBe(`Bearer ${VALUE}`);
    expect(new URL(up.url, 'https://x').searchParams.get('token')).toBe(VALUE);
    expect(up.headers.upgrade).toBe('websocket');
    expect(f.audit.map((e) => [e.type, e.status])).toEqual([['secret.substituted', 101]]);
  });

  it('with the redirect\'s original destination: intercepts only if that address is pinned for the server name', async () => {
    const { SecretProxy } = await import('../../daemon/net/secret-proxy/index.js');
    const pinned = new Set<string>();
    const proxy = new SecretProxy({
      sandboxId: f.sandboxId, ca: f.ca, secrets: () => f.store.activeSecrets(f.sandboxId),
      pinnedAddresses: (name) => (pinned.has(name) ? ['127.0.0.1'] : []),
      originalDestination: () => ({ address: '127.0.0.1', port: f.upstreamPort }),
      upstreamCa: f.upstreamCa.certPem, audit: () => undefined,
    });
    const port = (await proxy.listen()).port;
    const issuer = () => new Promise<string>((resolve, reject) => {
      const s = tlsConnect({ host: '127.0.0.1', port, servername: 'api.test', ca: [f.ca.certPem, f.upstreamCa.certPem] }, () => {
        resolve(String(s.getPeerCertificate().issuer.CN));
        s.end();
      });
      s.on('error', reject);
    });
    try {
      expect(await issuer()).toBe('hob secret proxy CA upstream'); // not pinned for api.test: passed through
      pinned.add('api.test');
      expect(await issuer()).toBe(`hob secret proxy CA ${f.sandboxId}`);
      await guestRequest({ ...f, proxyPort: port }, { host: 'api.test', path: '/o', headers: { 'x-api-key': ph } });
      expect(Buffer.from(last().headers['x-api-key'] as string, 'latin1').toString('utf8')).toBe(VALUE);
    } finally {
      await proxy.close();
    }
  });

  it('answers 502 when the upstream certificate is not trusted, without the value anywhere', async () => {
    const { SecretProxy, SandboxCa } = await import('../../daemon/net/secret-proxy/index.js');
    const wrongCa = await SandboxCa.create('wrong');
    const proxy = new SecretProxy({ sandboxId: f.sandboxId, ca: f.ca, secrets: () => f.store.activeSecrets(f.sandboxId), pinnedAddresses: () => ['127.0.0.1'], upstreamPort: f.upstreamPort, upstreamCa: wrongCa.certPem, audit: () => undefined });
    const port = (await proxy.listen()).port;
    try {
      const r = await guestRequest({ ...f, proxyPort: port }, { host: 'api.test', path: '/', headers: { 'x-api-key': ph } });
      expect(r.status).toBe(502);
      expect(r.body).not.toContain('REAL');
      expect(f.received).toHaveLength(0);
    } finally {
      await proxy.close();
    }
  });
});
