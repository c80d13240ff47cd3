import { connect as tlsConnect } from 'node:tls';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { MAX_CLIENT_HELLO_BYTES, parseClientHello, Substituter } from '../../daemon/net/secret-proxy/index.js';
import { newPlaceholder } from '../../daemon/secrets/index.js';

const A = { secretName: 'a', placeholder: newPlaceholder('sbx1'), value: 'v"a\\l&u=e+/ü' };
const B = { secretName: 'b', placeholder: newPlaceholder('sbx1'), value: 'bee' };
const latin1 = (s: string) => Buffer.from(s, 'utf8').toString('latin1');

describe('Substituter', () => {
  it('replaces only allowed placeholders and reports the others as misdirected', () => {
    const s = new Substituter([A], [A, B]);
    expect(s.header('x-key', `${A.placeholder} ${B.placeholder} hob-secret-zz-aaaaaaaaaaaaaaaaaaaaaaaaaa`)).toBe(`${latin1(A.value)} ${B.placeholder} hob-secret-zz-aaaaaaaaaaaaaaaaaaaaaaaaaa`);
    expect([...s.used]).toEqual(['a']);
    expect([...s.misdirected]).toEqual(['b']);
  });

  it('Basic credentials are decoded, substituted and re-encoded; non-matching ones are untouched', () => {
    const s = new Substituter([A], [A]);
    const out = s.header('Authorization', `Basic ${Buffer.from(`user:${A.placeholder}`).toString('base64')}`);
    expect(Buffer.from(out.slice(6), 'base64').toString('utf8')).toBe(`user:${A.value}`);
    const plain = `Basic ${Buffer.from('user:pass').toString('base64')}`;
    expect(s.header('authorization', plain)).toBe(plain);
    expect(s.header('authorization', `Bearer ${A.placeholder}`)).toBe(`Bearer ${latin1(A.value)}`);
  });

  it('JSON: the value is escaped inside the string; bytes around stay identical', () => {
    const s = new Substituter([A], [A]);
    const text = Buffer.from(`{"k": "${A.placeholder}", "x": 1.50, "u": "ü"}`, 'utf8').toString('latin1');
    const out = Buffer.from(s.json(text), 'latin1').toString('utf8');
    expect((JSON.parse(out) as { k: string }).k).toBe(A.value);
    expect(out).toContain('"x": 1.50, "u": "ü"');
  });

  it('URLs and forms: plain and percent-encoded placeholders, value percent-encoded', () => {
    const s = new Substituter([A], [A]);
    const enc = A.placeholder.replaceAll('-', '%2D');
    const out = s.target(`/p/${A.placeholder}?a=${A.placeholder}&b=${enc}&c=%ZZ&d`);
    const u = new URL(out, 'https://h');
    expect(u.searchParams.get('a')).toBe(A.value);
    expect(u.searchParams.get('b')).toBe(A.value);
    expect(out).toContain('&c=%ZZ&d');
    expect(decodeURIComponent(u.pathname)).toBe(`/p/${A.value}`);
    expect(new URLSearchParams(s.formEncoded(`x=${A.placeholder}&y=a+b`)).get('x')).toBe(A.value);
  });

  it('nothing allowed: text is returned unchanged', () => {
    const s = new Substituter([], [A]);
    const t = `/x?k=${A.placeholder}`;
    expect(s.target(t)).toBe(t);
    expect(s.used.size).toBe(0);
    expect([...s.misdirected]).toEqual(['a']);
  });
});

describe('parseClientHello', () => {
  async function helloFor(servername: string | undefined): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const srv = createServer((sock) => {
        sock.once('data', (d: Buffer) => { resolve(d); sock.destroy(); srv.close(); });
      });
      srv.listen(0, '127.0.0.1', () => {
        const port = (srv.address() as { port: number }).port;
        const c = tlsConnect({ host: '127.0.0.1', port, ...(servername ? { servername } : {}), ALPNProtocols: ['h2', 'http/1.1'] });
        c.on('error', () => undefined);
      });
      srv.on('error', reject);
    });
  }

  it('reads the server name of a real ClientHello, and asks for more when it is cut', async () => {
    const hello = await helloFor('API.Example.COM');
    expect(parseClientHello(hello)).toEqual({ kind: 'hello', serverName: 'api.example.com' });
    expect(parseClientHello(hello.subarray(0, 40))).toEqual({ kind: 'incomplete' });
    expect(parseClientHello(await helloFor(undefined))).toEqual({ kind: 'hello', serverName: undefined });
  });

  it('refuses what is not a ClientHello', () => {
    expect(parseClientHello(Buffer.from('GET / HTTP/1.1\r\n')).kind).toBe('invalid');
    expect(parseClientHello(Buffer.from([22, 3, 1, 0, 0])).kind).toBe('invalid');
    expect(parseClientHello(Buffer.from([22, 3, 1, 0, 4, 2, 0, 0, 0])).kind).toBe('invalid');
    expect(parseClientHello(Buffer.concat([Buffer.from([22, 3, 1, 0x40, 0]), Buffer.alloc(MAX_CLIENT_HELLO_BYTES)])).kind).toBe('invalid');
  });
});
