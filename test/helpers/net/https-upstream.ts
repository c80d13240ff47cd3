/**
 * A fake HTTPS upstream for the secrets e2e test and bench, run inside the fake internet's
 * namespace (net/internet.ts) with its own CA (not the sandbox's): port 443 of the given
 * addresses, a leaf per TLS server name. It records every request (server name, method,
 * URL, headers, body) and answers:
 * - `GET /sse`: a server-sent event stream: `data: first`, then nothing until some
 *   request for `/release` arrives, then `data: last` and the end. A client that gets
 *   `first` before asking for `/release` proves the stream is not buffered on its way.
 * - `GET /bytes/N`: N bytes (bench).
 * - with `git` in the config, a path naming a `.git` repository: git smart HTTP behind Basic
 *   auth (git-http.ts), serving the bare repositories under `git.root`.
 * - with `anthropic` in the config, `POST /v1/messages`: the fake Messages API (fake-anthropic.ts).
 * - anything else: `{"ok":true}`.
 *
 * argv[2]: JSON {addresses: string[], ca: {certPem, keyPem}, git?: GitHttpOptions,
 * anthropic?: FakeAnthropicOptions}. RPC: `take` → the requests since the last take.
 */
import type { ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import { createSecureContext, type SecureContext } from 'node:tls';
import { SandboxCa } from '../../../daemon/net/secret-proxy/index.js';
import { sendBytes } from './byte-stream.js';
import { answerAnthropicMessages, isAnthropicMessages, type FakeAnthropicOptions } from './fake-anthropic.js';
import { serveGit, type GitHttpOptions } from './git-http.js';
import { serve } from './rpc.js';

interface Received {
  sni: string | undefined;
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

const config = JSON.parse(process.argv[2] ?? '{}') as {
  addresses: string[];
  ca: { certPem: string; keyPem: string };
  git?: GitHttpOptions;
  anthropic?: FakeAnthropicOptions;
};
const ca = await SandboxCa.load(config.ca);
const contexts = new Map<string, Promise<SecureContext>>();
const contextFor = (name: string): Promise<SecureContext> => {
  let c = contexts.get(name);
  if (!c) {
    c = ca.mintLeaf(name).then((l) => createSecureContext({ cert: l.certPem, key: l.keyPem }));
    contexts.set(name, c);
  }
  return c;
};
const fallback = await ca.mintLeaf('upstream.invalid');
let received: Received[] = [];
const waiting = new Set<ServerResponse>();

const server = createServer({
  cert: fallback.certPem,
  key: fallback.keyPem,
  SNICallback: (name, cb) => { contextFor(name).then((c) => cb(null, c), (e: Error) => cb(e)); },
}, (req, res) => {
  const parts: Buffer[] = [];
  req.on('error', () => res.destroy());
  req.on('data', (c: Buffer) => parts.push(c));
  req.on('end', () => {
    const url = req.url ?? '';
    const sni = (req.socket as import('node:tls').TLSSocket).servername || undefined;
    const raw = Buffer.concat(parts);
    if (!url.startsWith('/bytes/')) received.push({ sni, method: req.method ?? '', url, headers: req.headers, body: raw.toString('utf8') });
    if (config.git && /^\/[^?]*\.git\//.test(url)) return serveGit(req, res, raw, config.git);
    if (config.anthropic && isAnthropicMessages(req.method ?? '', url)) return answerAnthropicMessages(req, res, raw.toString('utf8'), config.anthropic);
    if (url === '/sse') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.write('data: first\n\n');
      waiting.add(res);
      res.on('close', () => waiting.delete(res));
      return;
    }
    if (url === '/release') {
      for (const w of waiting) w.end('data: last\n\n');
      waiting.clear();
    }
    const bytes = /^\/bytes\/(\d+)$/.exec(url);
    if (bytes) return sendBytes(res, Number(bytes[1]));
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ ok: true }));
  });
});
// One server object cannot listen twice: one per address, sharing the handler.
const servers = [server, ...config.addresses.slice(1).map(() => createServer({
  cert: fallback.certPem,
  key: fallback.keyPem,
  SNICallback: (name, cb) => { contextFor(name).then((c) => cb(null, c), (e: Error) => cb(e)); },
}, (req, res) => server.emit('request', req, res)))];
await Promise.all(config.addresses.map((address, i) => new Promise<void>((resolve, reject) => {
  const s = servers[i]!;
  s.on('tlsClientError', () => undefined);
  s.once('error', reject);
  s.listen(443, address, () => resolve());
})));

serve({
  take: () => {
    const out = received;
    received = [];
    return out;
  },
});
