/**
 * The event log API (daemon/api/routes/events.ts, core/events.ts, core/event-feed.ts)
 * and `hob events`: a real SQLite database written by hob's own data access
 * (insertSandbox, setSandboxState, insertCheckpoint, deleteSandbox), the real
 * hobd API served on a unix socket, read over HTTP, server-sent events and the CLI.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi, type Api } from '../../daemon/api/app.js';
import { serveApi, type ApiServers } from '../../daemon/api/server.js';
import { TokenStore } from '../../daemon/auth/tokens.js';
import { runCli } from '../../daemon/cli/program.js';
import { EventLog } from '../../daemon/core/events.js';
import { SessionRegistry } from '../../daemon/core/sessions.js';
import { appendEvent, closeDatabase, deleteSandbox, insertCheckpoint, insertSandbox, openDatabase, setSandboxState, type HobDb, type NewSandbox } from '../../daemon/db/index.js';
import type { EventList, EventObject } from '../../daemon/wire/events.js';
import { capturedIo } from '../helpers/cli-io.js';
import { unixRequest } from '../helpers/http.js';
import { follow } from '../helpers/sse.js';
import { noSandboxService } from '../helpers/no-sandboxes.js';

const base: NewSandbox = { name: 'dev', state: 'creating', image: 'minimal', cpus: 1, memoryMiB: 512, diskBytes: 4 * 1024 ** 3, vmm: 'qemu' };
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setTimeout(r, 20));
}

describe('events API and hob events', () => {
  let tmp: string;
  let db: HobDb;
  let events: EventLog;
  let api: Api;
  let servers: ApiServers;
  let socketPath: string;
  const get = async (path: string) => unixRequest(socketPath, { path });

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'hob-events-api-'));
    db = openDatabase(join(tmp, 'hob.db'));
    // A small queue, so that the slow-reader test overflows it quickly.
    events = new EventLog(db, { maxQueued: 20 });
    api = createApi({ sandboxes: noSandboxService(), events, sessions: new SessionRegistry(), tokens: new TokenStore(db), port: 7707, version: '0.1.0', log: quiet });
    socketPath = join(tmp, 'hob.sock');
    servers = await serveApi(api, { socketPath });
  });

  afterAll(async () => {
    events?.close();
    await servers?.close();
    if (db) closeDatabase(db);
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  async function hob(args: string[]) {
    const io = capturedIo({ cwd: tmp, env: { HOB_SOCKET: socketPath } });
    io.stdin.end();
    const code = await runCli(args, io);
    return { code, stdout: io.stdoutText(), stderr: io.stderrText() };
  }

  it('lists events with names, filters, cursors and pages, also under /v1/sprites and through the CLI', async () => {
    const dev = insertSandbox(db, base);
    setSandboxState(db, dev.id, 'running');
    const web = insertSandbox(db, { ...base, name: 'web' });
    insertCheckpoint(db, { sandboxId: dev.id, kind: 'disk' });
    setSandboxState(db, dev.id, 'stopped');
    appendEvent(db, { type: 'state', data: { note: 'daemon-wide' } });

    const all = (await get('/v1/events')).json<EventList>();
    expect(all.has_more).toBe(false);
    expect(all.events.map((e) => [e.sandbox, e.type, e.data])).toEqual([
      ['dev', 'state', { from: null, to: 'creating' }],
      ['dev', 'state', { from: 'creating', to: 'running' }],
      ['web', 'state', { from: null, to: 'creating' }],
      ['dev', 'checkpoint', expect.objectContaining({ seq: 1, kind: 'disk' })],
      ['dev', 'state', { from: 'running', to: 'stopped' }],
      [null, 'state', { note: 'daemon-wide' }],
    ]);
    const first = all.events[0] as EventObject;
    expect(first.sandbox_id).toBe(dev.id);
    expect(new Date(first.at).toISOString()).toBe(first.at);
    const ids = all.events.map((e) => e.id);

    expect((await get('/v1/events?sandbox=dev&type=state')).json<EventList>().events.map((e) => e.id)).toEqual([ids[0], ids[1], ids[4]]);
    expect((await get('/v1/events?type=checkpoint,deleted')).json<EventList>().events.map((e) => e.id)).toEqual([ids[3]]);
    expect((await get('/v1/events?type=checkpoint&type=state&sandbox=web')).json<EventList>().events.map((e) => e.id)).toEqual([ids[2]]);
    const page = (await get(`/v1/events?after=${ids[1]}&limit=2`)).json<EventList>();
    expect(page).toMatchObject({ has_more: true, events: [{ id: ids[2] }, { id: ids[3] }] });
    const newest = (await get('/v1/events?order=desc&limit=2')).json<EventList>();
    expect(newest.events.map((e) => e.id)).toEqual([ids[5], ids[4]]);
    expect((await get(`/v1/events?order=desc&before=${ids[4]}&limit=1`)).json<EventList>().events.map((e) => e.id)).toEqual([ids[3]]);
    expect((await get('/v1/events?since=2999-01-01')).json<EventList>().events).toEqual([]);
    expect((await get('/v1/events?since=1h')).json<EventList>().events).toHaveLength(6);

    for (const prefix of ['/v1/sandboxes', '/v1/sprites']) {
      const own = await get(`${prefix}/web/events`);
      expect(own.status).toBe(200);
      expect(own.json<EventList>().events.map((e) => e.id)).toEqual([ids[2]]);
    }
    expect((await get('/v1/sandboxes/dev/events?type=checkpoint')).json<EventList>().events.map((e) => e.type)).toEqual(['checkpoint']);

    const cli = await hob(['events', 'dev', '--type', 'state', '--json']);
    expect(cli.code).toBe(0);
    expect((JSON.parse(cli.stdout) as EventObject[]).map((e) => e.id)).toEqual([ids[0], ids[1], ids[4]]);
    const table = await hob(['events', 'dev']);
    expect(table.code).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(/^TIME\s+SANDBOX\s+TYPE\s+DETAILS$/);
    expect(table.stdout).toMatch(/^\S+Z\s+dev\s+state\s+from=running to=stopped$/m);
    expect((await hob(['events', '--type', 'bogus'])).stderr).toMatch(/unknown event type/);
  });

  it('keeps the history of a destroyed sandbox under its name; its own route is gone', async () => {
    const gone = insertSandbox(db, { ...base, name: 'gone' });
    deleteSandbox(db, gone.id);
    const history = (await get('/v1/events?sandbox=gone')).json<EventList>();
    expect(history.events.map((e) => [e.sandbox, e.type])).toEqual([['gone', 'state'], ['gone', 'deleted']]);
    expect((await get('/v1/sandboxes/gone/events')).status).toBe(404);
  });

  it('refuses bad queries with 400 and unknown sandboxes with 404, following or not', async () => {
    for (const query of ['type=bogus', 'type=state,nope', 'limit=0', 'limit=1001', 'limit=x', 'after=-1', 'after=abc', 'before=1.5', 'since=yesterday', 'since=2026-13-45', 'order=up', 'follow=maybe', 'follow=1&order=desc', 'follow=1&before=3', 'sandbox=Not_A_Name']) {
      const res = await get(`/v1/events?${query}`);
      expect(res.status, query).toBe(400);
      expect(res.json<{ error: string; message: string }>().message, query).toMatch(/^invalid query: /);
    }
    expect((await get('/v1/sandboxes/dev/events?limit=0')).status).toBe(400);
    expect((await get('/v1/events?sandbox=nobody')).status).toBe(404);
    expect((await get('/v1/sandboxes/nobody/events')).status).toBe(404);
    expect((await get('/v1/sandboxes/nobody/events?follow=1')).status).toBe(404);
    expect(events.followers).toBe(0);
  });

  it('follows: the backlog after a cursor, then a state change as it happens; Last-Event-ID resumes', async () => {
    const dev = insertSandbox(db, { ...base, name: 'live' });
    const created = (await get('/v1/events?sandbox=live')).json<EventList>().events[0] as EventObject;

    const stream = await follow<EventObject>(socketPath, `/v1/sandboxes/live/events?follow=1&after=${created.id - 1}`);
    expect(stream.status).toBe(200);
    expect(stream.headers['content-type']).toBe('text/event-stream');
    expect(await stream.next()).toMatchObject({ id: created.id, sandbox: 'live', type: 'state', data: { to: 'creating' } });
    setSandboxState(db, dev.id, 'running');
    appendEvent(db, { sandboxId: 'someone-else', type: 'state' }); // another sandbox: filtered out
    setSandboxState(db, dev.id, 'stopped');
    expect(await stream.next()).toMatchObject({ sandbox: 'live', type: 'state', data: { from: 'creating', to: 'running' } });
    const stopped = await stream.next();
    expect(stopped).toMatchObject({ sandbox: 'live', data: { from: 'running', to: 'stopped' } });
    expect(stream.comments[0]).toBe(': ready');
    stream.destroy();

    // A reconnecting EventSource sends the last id it saw.
    const resumed = await follow<EventObject>(socketPath, '/v1/events?follow=1&type=state', { 'last-event-id': String(created.id) });
    expect((await resumed.next()).id).toBeGreaterThan(created.id);
    resumed.destroy();

    // Without a cursor, only what happens from now on.
    const fresh = await follow<EventObject>(socketPath, '/v1/events?follow=1');
    setSandboxState(db, dev.id, 'running');
    expect(await fresh.next()).toMatchObject({ sandbox: 'live', data: { from: 'stopped', to: 'running' } });
    fresh.destroy();
    await until(() => events.followers === 0);
  });

  it('ends a follow when its client goes away', async () => {
    const streams = await Promise.all([follow(socketPath, '/v1/events?follow=1'), follow(socketPath, '/v1/events?follow=1&type=checkpoint')]);
    await until(() => events.followers === 2);
    streams[0]?.destroy();
    await until(() => events.followers === 1);
    streams[1]?.destroy();
    await until(() => events.followers === 0);
  });

  it('drops a reader that stops reading instead of buffering for it', async () => {
    const slow = await follow(socketPath, '/v1/events?follow=1');
    slow.response.pause(); // reads nothing more: the socket fills, then the feed's queue (20 here)
    await until(() => events.followers === 1);
    const padding = 'x'.repeat(16 * 1024);
    // Far more than the socket buffers and the stream's high-water mark hold.
    db.transaction((tx) => {
      for (let i = 0; i < 1000; i++) appendEvent(tx, { type: 'state', data: { padding, i } });
    });
    await until(() => events.followers === 0);
    await slow.closed;
    // The others are unaffected: a new follower gets new events.
    const next = await follow<EventObject>(socketPath, '/v1/events?follow=1');
    appendEvent(db, { type: 'checkpoint', data: { after: 'drop' } });
    expect(await next.next()).toMatchObject({ type: 'checkpoint', data: { after: 'drop' } });
    next.destroy();
    await until(() => events.followers === 0);
  });
  // Last: it ends every follow (as hobd does when it stops).
  it('hob events -f prints each new event as a JSON line, and ends when hobd ends the stream', async () => {
    const io = capturedIo({ cwd: tmp, env: { HOB_SOCKET: socketPath } });
    io.stdin.end();
    await until(() => events.followers === 0);
    const run = runCli(['events', '-f', '--json', '--type', 'checkpoint'], io);
    await until(() => events.followers === 1);
    appendEvent(db, { type: 'state', data: { skipped: true } });
    appendEvent(db, { type: 'checkpoint', data: { seq: 42 } });
    await until(() => io.stdoutText().includes('\n'));
    events.close();
    expect(await run).toBe(0);
    const lines = io.stdoutText().trim().split('\n').map((l) => JSON.parse(l) as EventObject);
    expect(lines).toEqual([expect.objectContaining({ type: 'checkpoint', data: { seq: 42 }, sandbox: null })]);
  });
});
