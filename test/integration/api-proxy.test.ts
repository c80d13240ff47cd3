/**
 * Port access through the API down to the real guest agent (run on the host
 * in its `--listen` mode instead of inside a VM, so "guest" ports are this
 * machine's loopback ports): the `WSS .../proxy` relay, sandbox URLs
 * (`<name>.localhost`: access rules, streaming both ways, websockets, login
 * links), port events on exec websockets, and the `hob proxy` / `hob url`
 * commands run in-process. test/e2e/proxy.test.ts does the same against a VM.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer as createHttpServer, request as httpRequest, type IncomingHttpHeaders, type Server as HttpServer } from 'node:http';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { createApi, type Api } from '../../daemon/api/app.js';
import { createSandboxHost } from '../../daemon/api/sandbox-host.js';
import { serveApi, type ApiServers } from '../../daemon/api/server.js';
import { TokenStore } from '../../daemon/auth/tokens.js';
import type { CliIo } from '../../daemon/cli/context.js';
import { runCli } from '../../daemon/cli/program.js';
import { SessionRegistry } from '../../daemon/core/sessions.js';
import type { Sandbox, SandboxService, UrlAuth } from '../../daemon/core/types.js';
import { closeDatabase, openDatabase, type HobDb } from '../../daemon/db/open.js';
import { capturedIo } from '../helpers/cli-io.js';
import { oneSandboxService, startHostAgent, type HostAgent } from '../helpers/host-agent.js';

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

async function listen<T extends Server | HttpServer>(server: T): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

async function closeServer(server: Server | HttpServer | undefined): Promise<void> {
  if (!server?.listening) return;
  (server as HttpServer).closeAllConnections?.();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** Polls `check` until it returns a value (a bound against hanging, not a timing assertion). */
async function eventually<T>(check: () => T | undefined, what: string, limitMs = 30_000): Promise<T> {
  const start = Date.now();
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() - start > limitMs) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

describe('proxy, sandbox URLs and port events (guest agent on the host)', () => {
  let agent: HostAgent;
  let db: HobDb;
  let tokens: TokenStore;
  let sessions: SessionRegistry;
  let api: Api;
  let servers: ApiServers;
  let port: number;
  let token: string;
  let socketPath: string;
  let urlAuth: UrlAuth = 'private';
  /** The "guest" web server (on this machine's loopback), and what it last received. */
  let web: HttpServer;
  let webPort: number;
  let wss: WebSocketServer;
  let lastHeaders: IncomingHttpHeaders = {};
  let releaseStream: (() => void) | undefined;
  /** The "guest" TCP server: answers with the sha256 of everything it got, once the client half-closed. */
  let hasher: Server;
  let hasherPort: number;
  /** The port sandbox URLs route to (httpPortFor). */
  let routedPort: number;

  beforeAll(async () => {
    agent = await startHostAgent();
    db = openDatabase(join(agent.dir, 'hob.db'));
    tokens = new TokenStore(db);
    token = tokens.create('test').token;
    sessions = new SessionRegistry();

    web = createHttpServer((req, res) => {
      lastHeaders = req.headers;
      if (req.url === '/upload') {
        const hash = createHash('sha256');
        let size = 0;
        req.on('data', (c: Buffer) => {
          hash.update(c);
          size += c.length;
        });
        req.on('end', () => res.end(JSON.stringify({ size, sha256: hash.digest('hex') })));
        return;
      }
      if (req.url === '/stream') {
        // The second chunk waits for the test: seeing the first before it proves the response streams.
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('first\n');
        releaseStream = () => res.end('second\n');
        return;
      }
      if (req.url?.startsWith('/download/')) {
        const size = Number(req.url.slice('/download/'.length));
        res.writeHead(200, { 'content-length': String(size) });
        const block = Buffer.alloc(64 * 1024, 7);
        let left = size;
        const pump = (): void => {
          while (left > 0) {
            const n = Math.min(left, block.length);
            left -= n;
            if (!res.write(block.subarray(0, n))) {
              res.once('drain', pump);
              return;
            }
          }
          res.end();
        };
        pump();
        return;
      }
      res.setHeader('set-cookie', ['a=1; Path=/', 'b=2; Path=/']);
      res.end(`hello from ${req.url}`);
    });
    wss = new WebSocketServer({ server: web });
    wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(isBinary ? data : `echo: ${String(data)}`)));
    webPort = await listen(web);
    routedPort = webPort;

    hasher = createServer({ allowHalfOpen: true }, (socket) => {
      const hash = createHash('sha256');
      let size = 0;
      socket.on('data', (c: Buffer) => {
        hash.update(c);
        size += c.length;
      });
      socket.on('end', () => socket.end(`${size} ${hash.digest('hex')}\n`));
      socket.on('error', () => undefined);
    });
    hasherPort = await listen(hasher);

    const base = oneSandboxService('dev', agent.client);
    const sandboxes: SandboxService = { ...base, get: (n: string): Sandbox => ({ ...base.get(n), urlAuth }) };
    const probe = createServer();
    port = await listen(probe);
    await closeServer(probe);
    socketPath = join(agent.dir, 'hob.sock');
    const log = { info: () => undefined, warn: () => undefined, error: () => undefined };
    api = createApi({
      sandboxes,
      sessions,
      tokens,
      port,
      version: '0.1.0',
      log,
      sandboxHost: createSandboxHost({ sandboxes, sessions, tokens, port, httpPortFor: () => routedPort, log }),
    });
    servers = await serveApi(api, { socketPath, tcpPort: port });
  });

  afterAll(async () => {
    await servers?.close();
    sessions?.shutdown('test over');
    if (db) closeDatabase(db);
    wss?.close();
    await closeServer(web);
    await closeServer(hasher);
    await agent?.stop();
  });

  /** A request to the TCP listener with the given Host (a sandbox URL's by default). */
  function urlRequest(options: { method?: string; path?: string; host?: string; headers?: Record<string, string>; body?: Buffer }): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const req = httpRequest(
        { host: '127.0.0.1', port, method: options.method ?? 'GET', path: options.path ?? '/', headers: { host: options.host ?? `dev.localhost:${port}`, ...options.headers } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(options.body);
    });
  }
  const bearer = () => ({ authorization: `Bearer ${token}` });

  /** Opens a proxy websocket over the unix socket and completes the handshake. */
  async function proxySocket(init: Record<string, unknown>): Promise<{ ws: WebSocket; answer: Record<string, unknown>; closed: Promise<{ code: number; reason: string }> }> {
    const ws = new WebSocket(`ws+unix://${socketPath}:/v1/sprites/dev/proxy`);
    const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    await new Promise<void>((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    const answer = new Promise<Record<string, unknown>>((resolve) => ws.once('message', (data) => resolve(JSON.parse(String(data)) as Record<string, unknown>)));
    ws.send(JSON.stringify(init));
    return { ws, answer: await answer, closed };
  }

  describe('WSS .../proxy', () => {
    it('relays 8 MiB to a guest port and its answer back, with half-close', async () => {
      const { ws, answer, closed } = await proxySocket({ host: 'localhost', port: hasherPort, half_close: true });
      expect(answer).toEqual({ status: 'connected', target: `localhost:${hasherPort}`, half_close: true });
      const data = randomBytes(8 * 1024 * 1024);
      const received: Buffer[] = [];
      let eofSeen = false;
      ws.on('message', (d: Buffer) => {
        if (d.length === 0) eofSeen = true;
        else received.push(d);
      });
      for (let i = 0; i < data.length; i += 256 * 1024) ws.send(data.subarray(i, i + 256 * 1024));
      ws.send(Buffer.alloc(0)); // our EOF: the server answers only after it
      expect(await closed).toMatchObject({ code: 1000 });
      expect(eofSeen).toBe(true);
      expect(Buffer.concat(received).toString()).toBe(`${data.length} ${sha256(data)}\n`);
      await eventually(() => (sessions.activity('dev').holds === 0 ? true : undefined), 'the hold to end');
    });

    it('answers a refused connection with an error message and a close', async () => {
      const probe = createServer();
      const closedPort = await listen(probe);
      await closeServer(probe);
      const { answer, closed } = await proxySocket({ host: '127.0.0.1', port: closedPort });
      expect(answer).toMatchObject({ status: 'error', error: 'connection_refused', target: `127.0.0.1:${closedPort}` });
      expect(String(answer.message)).toContain('nothing is listening');
      expect((await closed).code).toBe(1011);
    });

    it('refuses a malformed request with 1008', async () => {
      const { answer, closed } = await proxySocket({ port: 'eighty' });
      expect(answer).toMatchObject({ status: 'error', error: 'bad_request' });
      expect((await closed).code).toBe(1008);
    });

    it('answers an unknown sandbox with 404 before the handshake', async () => {
      const ws = new WebSocket(`ws+unix://${socketPath}:/v1/sprites/nope/proxy`);
      const status = await new Promise<number>((resolve, reject) => {
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.on('open', () => reject(new Error('opened')));
        ws.on('error', () => undefined);
      });
      expect(status).toBe(404);
    });
  });

  describe('sandbox URLs', () => {
    it('keeps a private URL closed without credentials and opens it with a token, which the guest never sees', async () => {
      const anonymous = await urlRequest({ path: '/x' });
      expect(anonymous.status).toBe(401);
      expect(JSON.parse(anonymous.body.toString())).toMatchObject({ error: 'unauthorized' });
      expect(anonymous.headers['www-authenticate']).toBe('Bearer');
      const wrong = await urlRequest({ path: '/x', headers: { authorization: 'Bearer hob_not-a-real-token' } });
      expect(wrong.status).toBe(401);

      const ok = await urlRequest({ path: '/x?q=1', headers: { ...bearer(), cookie: 'app=1; hob_session=zzz' } });
      expect(ok.status).toBe(200);
      expect(ok.body.toString()).toBe('hello from /x?q=1');
      expect(ok.headers['set-cookie']).toEqual(['a=1; Path=/', 'b=2; Path=/']);
      expect(lastHeaders.authorization).toBeUndefined();
      expect(lastHeaders.cookie).toBe('app=1');
      expect(lastHeaders.host).toBe(`dev.localhost:${port}`);
      expect(lastHeaders['x-forwarded-host']).toBe(`dev.localhost:${port}`);
      expect(sessions.activity('dev').holds).toBe(0);
    });

    it('serves a public URL without credentials, passing an Authorization of the app through', async () => {
      urlAuth = 'public';
      try {
        const r = await urlRequest({ path: '/pub', headers: { authorization: 'Basic YXBwOnB3' } });
        expect(r.status).toBe(200);
        expect(lastHeaders.authorization).toBe('Basic YXBwOnB3');
      } finally {
        urlAuth = 'private';
      }
    });

    it('answers 404 for an unknown sandbox and 502 when nothing listens', async () => {
      expect((await urlRequest({ host: `nope.localhost:${port}` })).status).toBe(404);
      const probe = createServer();
      routedPort = await listen(probe);
      await closeServer(probe);
      try {
        const r = await urlRequest({ headers: bearer() });
        expect(r.status).toBe(502);
        expect(JSON.parse(r.body.toString())).toMatchObject({ error: 'no_listener' });
        expect(JSON.parse(r.body.toString()).message).toContain(`port ${routedPort}`);
      } finally {
        routedPort = webPort;
      }
    });

    it('streams uploads and downloads both ways', async () => {
      const upload = randomBytes(20 * 1024 * 1024);
      const up = await urlRequest({ method: 'POST', path: '/upload', headers: bearer(), body: upload });
      expect(JSON.parse(up.body.toString())).toEqual({ size: upload.length, sha256: sha256(upload) });
      const down = await urlRequest({ path: `/download/${20 * 1024 * 1024}`, headers: bearer() });
      expect(down.status).toBe(200);
      expect(down.body.length).toBe(20 * 1024 * 1024);
      expect(down.body.equals(Buffer.alloc(20 * 1024 * 1024, 7))).toBe(true);
    });

    it('delivers a response while the guest is still writing it', async () => {
      const received: string[] = [];
      const done = new Promise<void>((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port, path: '/stream', headers: { host: `dev.localhost:${port}`, ...bearer() } }, (res) => {
          res.on('data', (c: Buffer) => {
            received.push(c.toString());
            if (received.join('') === 'first\n') releaseStream?.();
          });
          res.on('end', resolve);
        });
        req.on('error', reject);
        req.end();
      });
      await done;
      expect(received.join('')).toBe('first\nsecond\n');
    });

    it('relays websockets to the guest after the access check', async () => {
      const refused = await new Promise<number>((resolve) => {
        const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, { headers: { host: `dev.localhost:${port}` } });
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.on('error', () => undefined);
      });
      expect(refused).toBe(401);

      const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, { headers: { host: `dev.localhost:${port}`, ...bearer() } });
      await new Promise<void>((resolve, reject) => {
        ws.once('open', resolve);
        ws.once('error', reject);
      });
      const reply = new Promise<string>((resolve) => ws.once('message', (d) => resolve(String(d))));
      ws.send('hi');
      expect(await reply).toBe('echo: hi');
      expect(lastHeaders.authorization).toBeUndefined();
      expect(sessions.activity('dev').holds).toBe(1); // the open connection keeps the sandbox awake
      ws.close();
      await eventually(() => (sessions.activity('dev').holds === 0 ? true : undefined), 'the hold to end');
    });

    it('logs a browser in with a one-time link that sets a session cookie', async () => {
      const grant = await urlRequest({ method: 'POST', path: '/v1/sprites/dev/url/login', host: `localhost:${port}`, headers: bearer() });
      expect(grant.status).toBe(200);
      const { url } = JSON.parse(grant.body.toString()) as { url: string; expires_at: string };
      const link = new URL(url);
      expect(link.host).toBe(`dev.localhost:${port}`);

      const visit = await urlRequest({ path: `/page${link.search}&x=1` });
      expect(visit.status).toBe(303);
      expect(visit.headers.location).toBe('/page?x=1');
      const cookie = String(visit.headers['set-cookie']?.[0]);
      expect(cookie).toMatch(/^hob_session=[A-Za-z0-9_-]+; Path=\/; HttpOnly; SameSite=Lax/);

      const page = await urlRequest({ path: '/page?x=1', headers: { cookie: cookie.split(';')[0]! } });
      expect(page.status).toBe(200);
      expect(lastHeaders.cookie).toBeUndefined();
      expect((await urlRequest({ path: `/page${link.search}` })).status).toBe(401); // used up
    });
  });

  describe('port events on exec websockets', () => {
    it('reports a port that opens and closes while the exec runs', async () => {
      const texts: Array<Record<string, unknown>> = [];
      const ws = new WebSocket(`ws+unix://${socketPath}:/v1/sprites/dev/exec?cmd=sleep&cmd=60`);
      ws.on('message', (d, isBinary) => {
        if (!isBinary) texts.push(JSON.parse(String(d)) as Record<string, unknown>);
      });
      await new Promise<void>((resolve, reject) => {
        ws.once('open', resolve);
        ws.once('error', reject);
      });
      await eventually(() => texts.find((t) => t.type === 'session_info'), 'session_info');
      // A listener that appears before the watch has taken its first listing is not an event:
      // open new ones until one is reported.
      let server = createServer();
      let opened = 0;
      let openEvent: Record<string, unknown> | undefined;
      for (let attempt = 0; attempt < 20 && !openEvent; attempt++) {
        if (attempt > 0) await closeServer(server);
        server = createServer();
        opened = await listen(server);
        const port = opened;
        openEvent = await eventually(() => texts.find((t) => t.type === 'port_opened' && t.port === port), 'port_opened', 3_000).catch(() => undefined);
      }
      expect(openEvent).toEqual({ type: 'port_opened', port: opened, address: '127.0.0.1' });
      await closeServer(server);
      await eventually(() => texts.find((t) => t.type === 'port_closed' && t.port === opened), `port_closed ${opened}`);
      ws.send(JSON.stringify({ type: 'signal', signal: 'KILL' }));
      await new Promise((resolve) => ws.once('close', resolve));
    });
  });

  describe('hob proxy and hob url', () => {
    function io(input?: PassThrough) {
      const captured = capturedIo({ env: { HOB_SOCKET: socketPath } });
      const stops: Array<() => void> = [];
      // Signals are delivered by stop() (a captured io has no process signals).
      const onSignal: CliIo['onSignal'] = (_signals, handler) => {
        stops.push(() => handler('SIGINT'));
        return () => undefined;
      };
      return {
        io: { ...captured, stdin: input ?? captured.stdin, onSignal } satisfies CliIo,
        captured,
        stop: () => stops.splice(0).forEach((h) => h()),
      };
    }

    it('forwards a local port (LOCAL 0 = free port) to the guest', async () => {
      const run = io();
      const exit = runCli(['proxy', 'dev', `0:${hasherPort}`], run.io);
      const line = await eventually(() => /forwarding 127\.0\.0\.1:(\d+) -> dev:(\d+)/.exec(run.captured.stdoutText()) ?? undefined, 'the forwarding line');
      expect(Number(line[2])).toBe(hasherPort);
      const data = randomBytes(4 * 1024 * 1024);
      const reply = await new Promise<string>((resolve, reject) => {
        const socket: Socket = connect({ host: '127.0.0.1', port: Number(line[1]), allowHalfOpen: true });
        let text = '';
        socket.on('data', (d: Buffer) => (text += d.toString()));
        socket.on('end', () => resolve(text));
        socket.on('error', reject);
        socket.end(data); // half-close: the hasher answers after our FIN
      });
      expect(reply).toBe(`${data.length} ${sha256(data)}\n`);
      run.stop();
      expect(await exit).toBe(0);
    });

    it('relays stdin/stdout with -W', async () => {
      const input = new PassThrough();
      const run = io(input);
      const exit = runCli(['proxy', 'dev', '-W', `127.0.0.1:${hasherPort}`], run.io);
      input.end('some bytes');
      expect(await exit).toBe(0);
      expect(run.captured.stdoutText()).toBe(`10 ${sha256('some bytes')}\n`);
    });

    it('prints the URL and changes its access mode', async () => {
      const run = io();
      expect(await runCli(['url', 'dev', '--json'], run.io)).toBe(0);
      expect(JSON.parse(run.captured.stdoutText())).toEqual({ name: 'dev', url: `http://dev.localhost:${port}/`, auth: 'private' });
      const login = io();
      expect(await runCli(['url', 'dev', '--login'], login.io)).toBe(0);
      expect(login.captured.stdoutText()).toMatch(new RegExp(`^http://dev\\.localhost:${port}/\\?hob_login=[A-Za-z0-9_-]+\\n$`));
    });
  });
});
