/**
 * The HTTP API without sandboxes: real listeners (loopback TCP and a unix
 * socket in a temp dir), the real token store on a temp SQLite database, and
 * a SandboxService in the real "no sandboxes" state (list() is empty, every
 * other method fails with NotFoundError, as the manager does for an unknown
 * name).
 */
import { execa, type ResultPromise } from 'execa';
import { mkdtempSync, rmSync, statSync, existsSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { createApi, type Api } from '../../daemon/api/app.js';
import { groupId, serveApi, type ApiServers } from '../../daemon/api/server.js';
import { TokenStore } from '../../daemon/auth/tokens.js';
import { SessionRegistry } from '../../daemon/core/sessions.js';
import type { SandboxService } from '../../daemon/core/types.js';
import { noSandboxService } from '../helpers/no-sandboxes.js';
import { closeDatabase, openDatabase, type HobDb } from '../../daemon/db/open.js';
import { ConflictError, NotFoundError } from '../../daemon/errors.js';
import { freePort } from '../helpers/free-port.js';

const noSandboxes: SandboxService = noSandboxService();

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json: () => Record<string, unknown>;
}

/** One HTTP request over TCP (port) or the unix socket (socketPath), with full control of the headers (Host included). */
function send(
  target: { port: number } | { socketPath: string },
  method: string,
  path: string,
  options: { headers?: Record<string, string>; body?: string | Buffer; chunks?: Buffer[] } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ ...('port' in target ? { host: '127.0.0.1', port: target.port } : { socketPath: target.socketPath }), method, path, headers: options.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body) as Record<string, unknown> });
      });
    });
    req.on('error', reject);
    if (options.chunks) {
      for (const chunk of options.chunks) req.write(chunk);
      req.end();
    } else {
      req.end(options.body);
    }
  });
}

/** Opens a websocket and reports either 'open' or the HTTP status of the refusal. */
function tryWebsocket(url: string, options: { headers?: Record<string, string>; socketPath?: string } = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers: options.headers, ...(options.socketPath ? { socketPath: options.socketPath } : {}) });
    ws.on('open', () => {
      ws.close();
      resolve({ status: 101, body: '' });
    });
    ws.on('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    ws.on('error', (err) => {
      if (!/Unexpected server response/.test(err.message)) reject(err);
    });
  });
}


describe('hobd API without sandboxes', () => {
  let dir: string;
  let db: HobDb;
  let tokens: TokenStore;
  let sessions: SessionRegistry;
  let api: Api;
  let servers: ApiServers;
  let port: number;
  let socketPath: string;
  let token: string;
  let tcp: { port: number };
  let unix: { socketPath: string };
  let host: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hob-api-'));
    db = openDatabase(join(dir, 'hob.db'));
    tokens = new TokenStore(db);
    token = tokens.create('test').token;
    sessions = new SessionRegistry();
    port = await freePort();
    socketPath = join(dir, 'hob.sock');
    api = createApi({ sandboxes: noSandboxes, sessions, tokens, port, version: '0.1.0', log: { info: () => undefined, warn: () => undefined, error: () => undefined } });
    servers = await serveApi(api, { socketPath, tcpPort: port });
    tcp = { port };
    unix = { socketPath };
    host = `127.0.0.1:${port}`;
  });

  afterAll(async () => {
    await servers?.close();
    sessions?.shutdown('test over');
    if (db) closeDatabase(db);
    rmSync(dir, { recursive: true, force: true });
  });

  const auth = () => ({ host, authorization: `Bearer ${token}` });

  describe('TCP admission', () => {
    it('refuses requests without a token with 401 JSON and WWW-Authenticate', async () => {
      const r = await send(tcp, 'GET', '/v1/sprites', { headers: { host } });
      expect(r.status).toBe(401);
      expect(r.json()).toMatchObject({ error: 'unauthorized' });
      expect(r.headers['www-authenticate']).toBe('Bearer');
    });

    it('refuses unknown and malformed tokens', async () => {
      for (const authorization of [`Bearer hob_${'A'.repeat(43)}`, 'Bearer nonsense', `Basic ${Buffer.from('a:b').toString('base64')}`]) {
        const r = await send(tcp, 'GET', '/healthz', { headers: { host, authorization } });
        expect(r.status).toBe(401);
      }
    });

    it('serves requests with a valid token, with Sprite-Version', async () => {
      const r = await send(tcp, 'GET', '/healthz', { headers: auth() });
      expect(r.status).toBe(200);
      expect(r.json()).toEqual({ status: 'ok', version: '0.1.0' });
      expect(r.headers['sprite-version']).toBe('0.1.0');
      // sprites-go learns the server version from a HEAD of .../exec.
      const head = await send(tcp, 'HEAD', '/v1/sprites/dev/exec', { headers: auth() });
      expect(head.headers['sprite-version']).toBe('0.1.0');
      expect(head.body).toBe('');
    });

    it('refuses foreign Host headers even with a valid token (DNS rebinding)', async () => {
      for (const h of ['evil.example:' + port, 'localhost:1', '127.0.0.1']) {
        const r = await send(tcp, 'GET', '/healthz', { headers: { ...auth(), host: h } });
        expect(r.status).toBe(403);
        expect(r.json()).toMatchObject({ error: 'forbidden' });
      }
      const ok = await send(tcp, 'GET', '/healthz', { headers: { ...auth(), host: `localhost:${port}` } });
      expect(ok.status).toBe(200);
    });

    it('answers sandbox URL hosts with 404 until the proxy exists, without needing a token', async () => {
      const r = await send(tcp, 'GET', '/', { headers: { host: `dev.localhost:${port}` } });
      expect(r.status).toBe(404);
    });

    it('refuses cross-origin state changes (CSRF) and allows the API origin', async () => {
      const evil = await send(tcp, 'POST', '/v1/tokens', { headers: { ...auth(), origin: 'http://dev.localhost:' + port, 'content-type': 'application/json' }, body: '{"name":"csrf"}' });
      expect(evil.status).toBe(403);
      expect(tokens.list().map((t) => t.name)).not.toContain('csrf');
      const same = await send(tcp, 'POST', '/v1/tokens', { headers: { ...auth(), origin: `http://localhost:${port}`, 'content-type': 'application/json' }, body: '{"name":"same-origin"}' });
      expect(same.status).toBe(201);
      const read = await send(tcp, 'GET', '/healthz', { headers: { ...auth(), origin: 'https://evil.example' } });
      expect(read.status).toBe(200);
    });
  });

  describe('unix socket', () => {
    it('needs no token', async () => {
      const r = await send(unix, 'GET', '/healthz', { headers: { host: 'localhost' } });
      expect(r.status).toBe(200);
      const list = await send(unix, 'GET', '/v1/sprites', { headers: { host: 'localhost' } });
      expect(list.status).toBe(200);
      expect(list.json()).toMatchObject({ sprites: [], has_more: false, next_continuation_token: null, org: { name: 'local', running: 0, warm: 0, cold: 0 } });
    });

    it('has mode 0660 with group hob, or 0600 when that group does not exist', () => {
      const st = statSync(socketPath);
      expect(st.isSocket()).toBe(true);
      const gid = groupId('hob');
      if (gid === undefined) expect(st.mode & 0o777).toBe(0o600);
      else {
        expect(st.mode & 0o777).toBe(0o660);
        expect(st.gid).toBe(gid);
      }
    });

    it('refuses to take over a socket another live server answers on', async () => {
      const other = createApi({ sandboxes: noSandboxes, sessions, tokens, port, version: '0.1.0' });
      await expect(serveApi(other, { socketPath })).rejects.toBeInstanceOf(ConflictError);
      other.close();
      const r = await send(unix, 'GET', '/healthz', { headers: { host: 'localhost' } });
      expect(r.status).toBe(200);
    });
  });

  describe('input handling', () => {
    it('answers unknown routes with 404 JSON', async () => {
      const r = await send(unix, 'GET', '/v2/nothing', { headers: { host: 'localhost' } });
      expect(r.status).toBe(404);
      expect(r.json()).toMatchObject({ error: 'not_found' });
    });

    it('answers unknown sandboxes with 404 on both mounts, invalid names with 400', async () => {
      for (const path of ['/v1/sprites/nope', '/v1/sandboxes/nope', '/v1/sprites/nope/exec', '/v1/sprites/nope/fs/list?path=/']) {
        const r = await send(unix, 'GET', path, { headers: { host: 'localhost' } });
        expect(r.status, path).toBe(404);
        expect(r.json(), path).toMatchObject({ error: 'not_found' });
      }
      const bad = await send(unix, 'GET', '/v1/sprites/Not_A_Label', { headers: { host: 'localhost' } });
      expect(bad.status).toBe(400);
      expect(bad.json()).toMatchObject({ error: 'bad_request' });
      const del = await send(unix, 'DELETE', '/v1/sandboxes/nope', { headers: { host: 'localhost' } });
      expect(del.status).toBe(404);
    });

    it('answers malformed JSON with 400 and invalid bodies with 400 naming the field', async () => {
      const r = await send(unix, 'POST', '/v1/sprites', { headers: { host: 'localhost', 'content-type': 'application/json' }, body: '{"name":' });
      expect(r.status).toBe(400);
      expect(r.json()).toMatchObject({ error: 'bad_request' });
      const invalid = await send(unix, 'POST', '/v1/sprites', { headers: { host: 'localhost', 'content-type': 'application/json' }, body: '{"name":"UPPER"}' });
      expect(invalid.status).toBe(400);
      expect(String(invalid.json().message)).toContain('name');
    });

    it('refuses JSON bodies over 1 MiB, announced or streamed, with 413', async () => {
      const big = Buffer.alloc(1024 * 1024 + 10, 0x20);
      const announced = await send(unix, 'POST', '/v1/tokens', { headers: { host: 'localhost', 'content-type': 'application/json', 'content-length': String(big.length) }, body: big });
      expect(announced.status).toBe(413);
      expect(announced.json()).toMatchObject({ error: 'payload_too_large' });
      const chunks = Array.from({ length: 20 }, () => Buffer.alloc(64 * 1024, 0x20));
      const streamed = await send(unix, 'POST', '/v1/tokens', { headers: { host: 'localhost', 'content-type': 'application/json', 'transfer-encoding': 'chunked' }, chunks });
      expect(streamed.status).toBe(413);
      expect(tokens.list().length).toBeGreaterThan(0);
    });

    it('reports a create that fails before any progress with its own status, even when NDJSON was asked for', async () => {
      const r = await send(unix, 'POST', '/v1/sprites', { headers: { host: 'localhost', 'content-type': 'application/json', accept: 'application/x-ndjson' }, body: '{"name":"new-one"}' });
      expect(r.status).toBe(404);
      expect(r.headers['content-type']).toContain('application/json');
    });
  });

  describe('tokens API', () => {
    it('creates (shown once), lists (no secrets), revokes', async () => {
      const created = await send(tcp, 'POST', '/v1/tokens', { headers: { ...auth(), 'content-type': 'application/json' }, body: '{"name":"cli"}' });
      expect(created.status).toBe(201);
      const { id, token: secret } = created.json() as { id: string; token: string };
      expect(secret).toMatch(/^hob_/);

      const withNew = await send(tcp, 'GET', '/healthz', { headers: { host, authorization: `Bearer ${secret}` } });
      expect(withNew.status).toBe(200);

      const listed = await send(tcp, 'GET', '/v1/tokens', { headers: auth() });
      expect(listed.status).toBe(200);
      expect(listed.body).not.toContain(secret);
      expect((listed.json().tokens as Array<{ name: string; last_used_at: string | null }>).find((t) => t.name === 'cli')?.last_used_at).not.toBeNull();

      const dup = await send(tcp, 'POST', '/v1/tokens', { headers: { ...auth(), 'content-type': 'application/json' }, body: '{"name":"cli"}' });
      expect(dup.status).toBe(409);

      const revoked = await send(tcp, 'DELETE', `/v1/tokens/${id}`, { headers: auth() });
      expect(revoked.status).toBe(204);
      const after = await send(tcp, 'GET', '/healthz', { headers: { host, authorization: `Bearer ${secret}` } });
      expect(after.status).toBe(401);
      const again = await send(tcp, 'DELETE', `/v1/tokens/${id}`, { headers: auth() });
      expect(again.status).toBe(404);
      const bad = await send(tcp, 'DELETE', '/v1/tokens/NOT!VALID', { headers: auth() });
      expect(bad.status).toBe(400);
    });
  });

  describe('websocket upgrades', () => {
    it('refuses upgrades without a token, from foreign origins or hosts', async () => {
      const url = `ws://127.0.0.1:${port}/v1/sprites/dev/exec?cmd=ls`;
      expect((await tryWebsocket(url)).status).toBe(401);
      expect((await tryWebsocket(url, { headers: { authorization: `Bearer ${token}`, origin: 'http://dev.localhost:' + port } })).status).toBe(403);
      expect((await tryWebsocket(url, { headers: { authorization: `Bearer ${token}`, host: 'evil.example:' + port } })).status).toBe(403);
    });

    it('answers unknown sandboxes, sessions and paths with 404 and bad queries with 400', async () => {
      const headers = { authorization: `Bearer ${token}` };
      const r = await tryWebsocket(`ws://127.0.0.1:${port}/v1/sprites/dev/exec?cmd=ls`, { headers });
      expect(r.status).toBe(404);
      expect(JSON.parse(r.body)).toMatchObject({ error: 'not_found' });
      expect((await tryWebsocket(`ws://127.0.0.1:${port}/v1/sandboxes/dev/exec/123`, { headers })).status).toBe(404);
      expect((await tryWebsocket(`ws://127.0.0.1:${port}/v1/sprites/dev/nothing`, { headers })).status).toBe(404);
      expect((await tryWebsocket(`ws://127.0.0.1:${port}/v1/sprites/dev/exec?tty=perhaps`, { headers })).status).toBe(400);
      expect((await tryWebsocket(`ws://127.0.0.1:${port}/v1/sprites/BAD/exec?cmd=ls`, { headers })).status).toBe(400);
    });

    it('needs no token on the unix socket', async () => {
      const r = await tryWebsocket('ws+unix://' + socketPath + ':/v1/sprites/dev/exec?cmd=ls');
      expect(r.status).toBe(404);
    });
  });
});

describe('serveApi socket handling', () => {
  let child: ResultPromise | undefined;
  let dir: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'hob-sock-'));
  });
  afterAll(() => {
    child?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('replaces a stale socket file left by a dead process', async () => {
    const path = join(dir, 'stale.sock');
    // A process that listens and is killed leaves its socket file behind.
    child = execa('socat', [`UNIX-LISTEN:${path}`, '/dev/null'], { reject: false });
    for (let i = 0; i < 100 && !existsSync(path); i++) await new Promise((r) => setTimeout(r, 20));
    expect(existsSync(path)).toBe(true);
    child.kill('SIGKILL');
    await child;
    expect(statSync(path).isSocket()).toBe(true);

    const dbDir = mkdtempSync(join(dir, 'db-'));
    const db = openDatabase(join(dbDir, 'hob.db'));
    const api = createApi({ sandboxes: noSandboxes, sessions: new SessionRegistry(), tokens: new TokenStore(db), port: 1, version: '0.1.0' });
    const servers = await serveApi(api, { socketPath: path });
    try {
      const r = await send({ socketPath: path }, 'GET', '/healthz', { headers: { host: 'localhost' } });
      expect(r.status).toBe(200);
    } finally {
      await servers.close();
      closeDatabase(db);
    }
    expect(existsSync(path)).toBe(false);
  });
});
