/**
 * Bad input to the Sprites routes added for SDK parity (check, restart,
 * upgrade, the privileges and resources policies, fs/copy, fs/chown, the
 * list watch), over a real unix socket, on a hobd with no sandboxes: each is
 * refused with a clear error before anything is looked up or changed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../../daemon/api/app.js';
import { serveApi, type ApiServers } from '../../daemon/api/server.js';
import { TokenStore } from '../../daemon/auth/tokens.js';
import { SessionRegistry } from '../../daemon/core/sessions.js';
import { closeDatabase, openDatabase, type HobDb } from '../../daemon/db/open.js';
import { noSandboxService } from '../helpers/no-sandboxes.js';

function send(socketPath: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ socketPath, method, path, headers: { host: 'localhost', 'content-type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown> }));
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

describe('Sprites parity routes refuse bad input', () => {
  let dir: string;
  let db: HobDb;
  let servers: ApiServers;
  let socket: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hob-sprite-ops-'));
    db = openDatabase(join(dir, 'hob.db'));
    socket = join(dir, 'hob.sock');
    const api = createApi({ sandboxes: noSandboxService(), sessions: new SessionRegistry(), tokens: new TokenStore(db), port: 1, version: '0.1.0', log: { info: () => undefined, warn: () => undefined, error: () => undefined } });
    servers = await serveApi(api, { socketPath: socket });
  });
  afterAll(async () => {
    await servers?.close();
    closeDatabase(db);
    rmSync(dir, { recursive: true, force: true });
  });

  it.each([
    ['POST', '/v1/sprites/box/fs/copy', { source: 'a' }, /dest/],
    ['POST', '/v1/sprites/box/fs/chown', { path: '/a' }, /uid or gid is required/],
    ['POST', '/v1/sprites/box/fs/chown', { path: '/a', uid: 'not a name!' }, /user or group name or a numeric id/],
    ['POST', '/v1/sprites/box/fs/chown', { path: '/a', gid: -1 }, /gid/],
    ['POST', '/v1/sprites/box/policy/resources', { memory: { limitMB: 384 } }, /memory/],
    ['POST', '/v1/sprites/box/policy/resources', { cpus: 'two' }, /cpus/],
    ['POST', '/v1/sprites/box/policy/privileges', { profile: 'root' }, /profile/],
  ])('%s %s %j is a 400', async (method, path, body, message) => {
    const r = await send(socket, method, path, body);
    expect(r.status).toBe(400);
    expect(String(r.json.message)).toMatch(message);
  });

  it.each([
    ['GET', '/v1/sprites/box/check'],
    ['POST', '/v1/sprites/box/restart'],
    ['POST', '/v1/sprites/box/upgrade'],
    ['GET', '/v1/sprites/box/policy/privileges'],
    ['DELETE', '/v1/sprites/box/policy/resources'],
  ])('%s %s for an unknown sandbox is a 404', async (method, path) => {
    const r = await send(socket, method, path);
    expect(r.status).toBe(404);
    expect(r.json.error).toBe('not_found');
  });

  it('refuses a bad list-watch query before streaming', async () => {
    const r = await new Promise<number>((resolve, reject) => {
      const req = httpRequest({ socketPath: socket, method: 'GET', path: `/v1/sprites?prefix=${'x'.repeat(100)}`, headers: { host: 'localhost', accept: 'application/x-ndjson' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    expect(r).toBe(400);
  });
});
