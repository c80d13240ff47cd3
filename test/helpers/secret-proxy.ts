/**
 * A secret proxy on loopback with everything around it, no VM: a secret store
 * in a temporary database, a fake HTTPS upstream with its own CA standing in
 * for the real hosts, DNS pinning that says "127.0.0.1" for the test's names,
 * and a guest-like client that trusts the sandbox's CA.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer as createHttpsServer, request as httpsRequest, type Server as HttpsServer } from 'node:https';
import type { IncomingMessage, ServerResponse, IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSecureContext, type SecureContext } from 'node:tls';
import { closeDatabase, insertSandbox, openDatabase, type HobDb } from '../../daemon/db/index.js';
import { SecretCipher, SecretStore } from '../../daemon/secrets/index.js';
import { SandboxCa, SecretProxy, type SecretAuditEvent, type SecretProxyLimits } from '../../daemon/net/secret-proxy/index.js';

export interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface Fixture {
  dir: string;
  db: HobDb;
  store: SecretStore;
  sandboxId: string;
  ca: SandboxCa;
  upstreamCa: SandboxCa;
  upstream: HttpsServer;
  upstreamPort: number;
  received: Received[];
  /** Requests the upstream is handling by path, for tests that answer themselves. */
  handlers: Map<string, (req: IncomingMessage, res: ServerResponse, body: string, raw: Buffer) => void>;
  proxy: SecretProxy;
  proxyPort: number;
  audit: SecretAuditEvent[];
  /** Names the fake resolver pinned to 127.0.0.1 (all of them when it holds '*'). */
  pinned: Set<string>;
  close(): Promise<void>;
}

export async function startFixture(limits: Partial<SecretProxyLimits> = {}): Promise<Fixture> {
  const dir = await mkdtemp(join(tmpdir(), 'hob-secret-proxy-'));
  const db = openDatabase(join(dir, 'hob.db'));
  const store = new SecretStore(db, SecretCipher.open(join(dir, 'secrets.key')));
  const sandboxId = insertSandbox(db, { name: 'guest', state: 'running', image: 'dev', cpus: 1, memoryMiB: 512, diskBytes: 1 << 30, vmm: 'qemu' }).id;
  const ca = await SandboxCa.create(sandboxId);
  const upstreamCa = await SandboxCa.create('upstream');
  const contexts = new Map<string, Promise<SecureContext>>();
  const contextFor = (name: string) => {
    let c = contexts.get(name);
    if (!c) {
      c = upstreamCa.mintLeaf(name).then((l) => createSecureContext({ cert: l.certPem, key: l.keyPem }));
      contexts.set(name, c);
    }
    return c;
  };
  const fallback = await upstreamCa.mintLeaf('api.test');
  const received: Received[] = [];
  const handlers = new Map<string, (req: IncomingMessage, res: ServerResponse, body: string, raw: Buffer) => void>();
  const upstream = createHttpsServer({
    cert: fallback.certPem, key: fallback.keyPem,
    SNICallback: (name, cb) => { contextFor(name).then((c) => cb(null, c), (e: Error) => cb(e)); },
  }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const body = raw.toString('utf8');
      received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      const path = (req.url ?? '').split('?')[0] ?? '';
      const h = handlers.get(path) ?? [...handlers].find(([prefix]) => prefix.endsWith('/') && path.startsWith(prefix))?.[1];
      if (h) return h(req, res, body, raw);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ok: true }));
    });
  });
  upstream.on('upgrade', (req: IncomingMessage, socket, head: Buffer) => {
    received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: '' });
    socket.on('error', () => socket.destroy());
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
    if (head.length) socket.write(head);
    socket.pipe(socket);
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const upstreamPort = (upstream.address() as AddressInfo).port;
  const audit: SecretAuditEvent[] = [];
  const pinned = new Set<string>();
  const proxy = new SecretProxy({
    sandboxId, ca,
    secrets: () => store.activeSecrets(sandboxId),
    pinnedAddresses: (name) => (pinned.has(name) || pinned.has('*') ? ['127.0.0.1'] : []),
    upstreamPort,
    upstreamCa: upstreamCa.certPem,
    audit: (e) => audit.push(e),
    limits,
  });
  const proxyPort = (await proxy.listen(0, '127.0.0.1')).port;
  return {
    dir, db, store, sandboxId, ca, upstreamCa, upstream, upstreamPort, received, handlers, proxy, proxyPort, audit, pinned,
    async close() {
      await proxy.close();
      upstream.closeAllConnections();
      await new Promise<void>((r) => upstream.close(() => r()));
      closeDatabase(db);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface GuestResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A request as the guest makes it: to the proxy, server name `host`, trusting the sandbox CA. */
export function guestRequest(f: Fixture, opts: { host: string; path: string; method?: string; headers?: OutgoingHttpHeaders; body?: string | Buffer; hostHeader?: string; ca?: string }): Promise<GuestResponse> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({
      host: '127.0.0.1', port: f.proxyPort, servername: opts.host, ca: opts.ca ?? f.ca.certPem, agent: false,
      method: opts.method ?? 'GET', path: opts.path, headers: { host: opts.hostHeader ?? opts.host, ...opts.headers },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}
