/**
 * Token scopes on the real API (real listeners, real token store on SQLite),
 * over a stand-in SandboxService that keeps records only (test/helpers/record-sandboxes.ts):
 * a token limited to a prefix and a count cannot list, see or touch sandboxes
 * outside its prefix on any route (HTTP, websocket, MCP over streamable HTTP),
 * nor create or fork beyond its count, even concurrently.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { createApi } from '../../daemon/api/app.js';
import { serveApi, type ApiServers } from '../../daemon/api/server.js';
import { TokenStore } from '../../daemon/auth/tokens.js';
import { SessionRegistry } from '../../daemon/core/sessions.js';
import { closeDatabase, openDatabase, type HobDb } from '../../daemon/db/open.js';
import { recordSandboxes, type RecordSandboxes } from '../helpers/record-sandboxes.js';
import { freePort } from '../helpers/free-port.js';

interface Reply {
  status: number;
  body: string;
  json: () => Record<string, unknown>;
}


describe('token scopes', () => {
  let dir: string;
  let db: HobDb;
  let sessions: SessionRegistry;
  let servers: ApiServers;
  let service: RecordSandboxes;
  let port: number;
  let scoped: string;
  let full: string;

  const send = (token: string, method: string, path: string, body?: unknown): Promise<Reply> =>
    new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const req = httpRequest(
        {
          host: '127.0.0.1',
          port,
          method,
          path,
          headers: { host: `127.0.0.1:${port}`, authorization: `Bearer ${token}`, ...(payload ? { 'content-type': 'application/json' } : {}) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            resolve({ status: res.statusCode ?? 0, body: text, json: () => JSON.parse(text) as Record<string, unknown> });
          });
        },
      );
      req.on('error', reject);
      req.end(payload);
    });

  const upgrade = (token: string, path: string): Promise<number> =>
    new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, { headers: { authorization: `Bearer ${token}` } });
      ws.on('open', () => {
        ws.close();
        resolve(101);
      });
      ws.on('unexpected-response', (_req, res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      ws.on('error', (err) => {
        if (!/Unexpected server response/.test(err.message)) reject(err);
      });
    });

  const mcpClient = async (token: string): Promise<Client> => {
    const client = new Client({ name: 'scope-test', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp`), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
    return client;
  };

  const text = (result: Awaited<ReturnType<Client['callTool']>>): string => (result.content as Array<{ type: string; text: string }>).map((c) => c.text).join('\n');

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hob-scope-'));
    db = openDatabase(join(dir, 'hob.db'));
    const tokens = new TokenStore(db);
    scoped = tokens.create('agent', { prefix: 'agent-', maxSandboxes: 3 }).token;
    full = tokens.create('all').token;
    sessions = new SessionRegistry();
    service = recordSandboxes(['agent-a', 'other', 'prod-db']);
    port = await freePort();
    const api = createApi({ sandboxes: service, sessions, tokens, port, version: '0.1.0', log: { info: () => undefined, warn: () => undefined, error: () => undefined } });
    servers = await serveApi(api, { tcpPort: port });
  });

  afterAll(async () => {
    await servers?.close();
    sessions?.shutdown('test over');
    if (db) closeDatabase(db);
    rmSync(dir, { recursive: true, force: true });
  });

  it('lists only the sandboxes of its prefix, and counts only those', async () => {
    const list = (await send(scoped, 'GET', '/v1/sandboxes')).json();
    expect((list.sprites as Array<{ name: string }>).map((s) => s.name)).toEqual(['agent-a']);
    expect(list.cold).toBe(1);
    const all = (await send(full, 'GET', '/v1/sprites')).json();
    expect((all.sprites as Array<{ name: string }>).map((s) => s.name)).toEqual(['agent-a', 'other', 'prod-db']);
  });

  it('answers a sandbox outside its prefix exactly as an unknown one, on every route', async () => {
    const unknown = await send(scoped, 'GET', '/v1/sandboxes/nonexistent');
    const outside = await send(scoped, 'GET', '/v1/sandboxes/other');
    expect(outside.status).toBe(404);
    expect(outside.json().message).toBe('no sandbox named "other"');
    expect(unknown.json().message).toBe('no sandbox named "nonexistent"');
    for (const [method, path, body] of [
      ['DELETE', '/v1/sandboxes/other', undefined],
      ['PUT', '/v1/sprites/other', { labels: ['x'] }],
      ['POST', '/v1/sandboxes/other/exec', { command: 'true' }],
      ['GET', '/v1/sandboxes/other/fs/read?path=/etc/hostname', undefined],
      ['POST', '/v1/sandboxes/other/checkpoint', {}],
      ['POST', '/v1/sandboxes/other/stop', undefined],
      ['GET', '/v1/sandboxes/other/policy/network', undefined],
      ['POST', '/v1/sandboxes/other/fork', { name: 'agent-copy' }],
      ['GET', '/v1/sandboxes/other/services', undefined],
      ['POST', '/v1/sandboxes/other/url/login', undefined],
    ] as const) {
      const reply = await send(scoped, method, path, body);
      expect(reply.status, `${method} ${path}`).toBe(404);
    }
    expect(service.list().map((s) => s.name)).toEqual(['agent-a', 'other', 'prod-db']); // nothing was removed
    expect(await upgrade(scoped, '/v1/sandboxes/other/exec?cmd=true')).toBe(404);
    expect(await upgrade(scoped, '/v1/sprites/prod-db/proxy')).toBe(404);
    // The same requests inside the prefix reach the sandbox (here: its stand-in's answers).
    expect((await send(scoped, 'GET', '/v1/sandboxes/agent-a')).status).toBe(200);
    expect((await send(scoped, 'GET', '/v1/sandboxes/agent-a/policy/network')).status).toBe(200);
  });

  it('refuses routes outside the sandboxes (tokens, image builds) with 403', async () => {
    for (const [method, path] of [['GET', '/v1/tokens'], ['POST', '/v1/tokens'], ['DELETE', '/v1/tokens/abcdefgh'], ['POST', '/v1/images/x/build']] as const) {
      const reply = await send(scoped, method, path, method === 'POST' ? { name: 'mine' } : undefined);
      expect(reply.status, `${method} ${path}`).toBe(403);
      expect(reply.json().message).toMatch(/limited to sandboxes starting with "agent-", at most 3/);
    }
    expect((await send(full, 'GET', '/v1/tokens')).status).toBe(200);
  });

  it('creates only inside its prefix and up to its count, forks included, also when requests race', async () => {
    const outside = await send(scoped, 'POST', '/v1/sandboxes', { name: 'mine' });
    expect(outside.status).toBe(403);
    expect(outside.json().message).toMatch(/names start with "agent-"/);
    expect((await send(scoped, 'POST', '/v1/sandboxes', { name: 'agent-x', from: 'other:v1' })).status).toBe(404);
    expect((await send(scoped, 'POST', '/v1/sandboxes/agent-a/fork', { name: 'agent-b' })).status).toBe(201);
    // Two creates at once for the last slot: exactly one gets it.
    const held = service.holdCreates();
    const racing = [send(scoped, 'POST', '/v1/sandboxes', { name: 'agent-c' }), send(scoped, 'POST', '/v1/sandboxes', { name: 'agent-d' })];
    await new Promise((resolve) => setTimeout(resolve, 200));
    held.release();
    const statuses = (await Promise.all(racing)).map((r) => r.status).sort();
    expect(statuses).toEqual([201, 403]);
    const over = await send(scoped, 'POST', '/v1/sandboxes/agent-a/fork', { name: 'agent-e' });
    expect(over.status).toBe(403);
    expect(over.json().message).toMatch(/at most 3 sandboxes starting with "agent-", and 3 exist/);
    expect(service.list().filter((s) => s.name.startsWith('agent-'))).toHaveLength(3);
    // Removing one frees a slot.
    const mine = service.list().find((s) => s.name === 'agent-c' || s.name === 'agent-d')!.name;
    expect((await send(scoped, 'DELETE', `/v1/sandboxes/${mine}`)).status).toBe(204);
    expect((await send(scoped, 'POST', '/v1/sandboxes', { name: 'agent-f' })).status).toBe(201);
    // An unscoped token is not limited.
    expect((await send(full, 'POST', '/v1/sandboxes', { name: 'free' })).status).toBe(201);
  });

  it('holds MCP over streamable HTTP to the scope: tools see and touch only the prefix', async () => {
    const client = await mcpClient(scoped);
    try {
      const listed = await client.callTool({ name: 'list_sandboxes', arguments: {} });
      expect(listed.isError).toBeFalsy();
      expect(text(listed)).toContain('agent-a');
      expect(text(listed)).not.toContain('prod-db');
      for (const call of [
        { name: 'sandbox_info', arguments: { name: 'prod-db' } },
        { name: 'destroy_sandbox', arguments: { name: 'prod-db' } },
        { name: 'exec', arguments: { name: 'prod-db', command: 'true' } },
      ]) {
        const result = await client.callTool(call);
        expect(result.isError, call.name).toBe(true);
        expect(text(result)).toBe('no sandbox named "prod-db"');
      }
      const over = await client.callTool({ name: 'create_sandbox', arguments: { name: 'agent-z' } });
      expect(over.isError).toBe(true);
      expect(text(over)).toMatch(/at most 3/);
      expect(service.list().map((s) => s.name)).toContain('prod-db');
      expect(service.list().map((s) => s.name)).not.toContain('agent-z');
    } finally {
      await client.close();
    }
  });

  it('answers unknown tools, bad arguments and malformed MCP bodies with errors, and keeps serving', async () => {
    const client = await mcpClient(full);
    try {
      const unknown = await client.callTool({ name: 'format_disk', arguments: {} });
      expect(unknown.isError).toBe(true);
      expect(text(unknown)).toMatch(/format_disk not found/);
      const bad = await client.callTool({ name: 'exec', arguments: { name: 'Not A Name!', command: 42 } });
      expect(bad.isError).toBe(true);
      expect(text(bad)).toMatch(/Input validation error/);
    } finally {
      await client.close();
    }
    for (const body of ['{not json', '[]', '{"jsonrpc":"2.0","method":"tools/call","id":1,"params":{"name":"exec","arguments":"x"}}', JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'x'.repeat(100_000) })]) {
      const reply = await new Promise<number>((resolve, reject) => {
        const req = httpRequest(
          { host: '127.0.0.1', port, method: 'POST', path: '/mcp', headers: { authorization: `Bearer ${full}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' } },
          (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          },
        );
        req.on('error', reject);
        req.end(body);
      });
      expect(reply).toBeGreaterThanOrEqual(200);
      expect(reply).toBeLessThan(500);
    }
    expect((await send(full, 'GET', '/healthz')).status).toBe(200);
    const noToken = await new Promise<number>((resolve) => {
      const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: '/mcp', headers: { 'content-type': 'application/json' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.end('{}');
    });
    expect(noToken).toBe(401);
  });
});
