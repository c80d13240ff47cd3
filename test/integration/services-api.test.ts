/**
 * Services through the HTTP API, the hob CLI and the official Sprites SDK,
 * against the real guest agent run on the host with `--services-root` (see
 * test/helpers/services-agent.ts) standing in for a sandbox named `dev`.
 * Service processes run on this machine as the test user: sh, sleep, echo.
 */
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { SpritesClient, type ServiceLogEvent } from '@fly/sprites';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createApi, type Api } from '../../daemon/api/app.js';
import { serveApi, type ApiServers } from '../../daemon/api/server.js';
import { TokenStore } from '../../daemon/auth/tokens.js';
import { runCli } from '../../daemon/cli/program.js';
import { serviceHttpPort } from '../../daemon/core/guest.js';
import { SessionRegistry } from '../../daemon/core/sessions.js';
import { closeDatabase, openDatabase, type HobDb } from '../../daemon/db/open.js';
import { capturedIo } from '../helpers/cli-io.js';
import { oneSandboxService } from '../helpers/host-agent.js';
import { unixRequest, type HttpResult } from '../helpers/http.js';
import { startServicesAgent, type ServicesAgent } from '../helpers/services-agent.js';
import { freePort } from '../helpers/free-port.js';


interface Event {
  type: string;
  data?: string;
  exit_code?: number;
  timestamp: number;
  log_files?: Record<string, string>;
  service?: { name: string; state: { status: string; pid?: number } };
}

const lines = (r: HttpResult): Event[] =>
  r
    .text()
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Event);

describe('services through the API, the CLI and the Sprites SDK', () => {
  let agent: ServicesAgent;
  let db: HobDb;
  let sessions: SessionRegistry;
  let api: Api;
  let servers: ApiServers;
  let socketPath: string;
  let port: number;
  let token: string;

  const req = (method: string, path: string, body?: object): Promise<HttpResult> => unixRequest(socketPath, { method, path: `/v1/sprites/dev${path}`, ...(body ? { body } : {}) });

  beforeAll(async () => {
    agent = await startServicesAgent();
    db = openDatabase(join(agent.scratch, 'hob.db'));
    const tokens = new TokenStore(db);
    token = tokens.create('services-test').token;
    sessions = new SessionRegistry();
    port = await freePort();
    socketPath = join(agent.scratch, 'hob.sock');
    api = createApi({ sandboxes: oneSandboxService('dev', agent.client), sessions, tokens, port, version: '0.1.0', log: { info: () => undefined, warn: () => undefined, error: () => undefined } });
    servers = await serveApi(api, { socketPath, tcpPort: port });
  });

  afterEach(async () => {
    for (let round = 0; round < 5; round++) {
      const list = await agent.client.services.list();
      if (list.length === 0) break;
      for (const s of list) await agent.client.services.delete(s.name, { timeoutMs: 2000 }).catch(() => undefined);
    }
    expect(sessions.activity('dev').holds).toBe(0);
  });

  afterAll(async () => {
    await servers?.close();
    sessions?.shutdown('test over');
    if (db) closeDatabase(db);
    await agent?.stop();
  });

  it('creates a service with PUT, streaming its first output, and lists, gets, stops, signals and deletes it', async () => {
    const put = await req('PUT', '/services/web?duration=1s', { cmd: 'sh', args: ['-c', 'trap "echo hup" HUP; echo listening; while :; do sleep 0.2; done'], env: { GREETING: 'hi' }, http_port: 8080 });
    expect(put.status, put.text()).toBe(200);
    expect(put.headers['content-type']).toMatch(/application\/x-ndjson/);
    const events = lines(put);
    expect(events[0]).toMatchObject({ type: 'started' });
    expect(events).toContainEqual(expect.objectContaining({ type: 'stdout', data: 'listening\n' }));
    const done = events.at(-1) as Event;
    expect(done.type).toBe('complete');
    expect(done.log_files?.stdout).toBe(join(agent.root, 'var/log/hob/services/web.log'));
    expect(done.service?.state.status).toBe('running');

    const list = await req('GET', '/services');
    expect(list.status).toBe(200);
    const [web] = list.json<Array<Record<string, unknown>>>();
    expect(web).toMatchObject({ name: 'web', cmd: 'sh', env: { GREETING: 'hi' }, needs: [], http_port: 8080, state: { name: 'web', status: 'running', restart_count: 0 } });
    expect((await req('GET', '/services/web')).json<{ state: { pid: number } }>().state.pid).toBe(done.service?.state.pid);
    expect((await req('GET', '/services/nope')).status).toBe(404);

    const conflict = await req('PUT', '/services/other?duration=0', { cmd: 'sleep', args: ['100'], http_port: 9000 });
    expect(conflict.status).toBe(409);
    expect(conflict.json<{ error: string; message: string }>()).toMatchObject({ error: 'conflict', message: expect.stringMatching(/only one service may have an HTTP port/) });
    expect(await serviceHttpPort(oneSandboxService('dev', agent.client), 1234)('dev')).toBe(8080);

    expect((await req('POST', '/services/signal', { name: 'web', signal: 'HUP' })).status).toBe(204);
    expect((await req('POST', '/services/signal', { name: 'web', signal: 'SEGV' })).status).toBe(400);
    expect((await req('POST', '/services/signal', { name: 'ghost', signal: 'HUP' })).status).toBe(404);
    let logText = '';
    for (let i = 0; i < 50 && !logText.includes('"hup\\n"'); i++) {
      logText = (await req('GET', '/services/web/logs?lines=20')).text();
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(logText).toContain('"hup\\n"');

    const stop = await req('POST', '/services/web/stop?timeout=5s');
    expect(stop.status).toBe(200);
    const stopEvents = lines(stop);
    expect(stopEvents.map((e) => e.type)).toEqual(['stopping', 'stopped', 'complete']);
    expect(stopEvents.at(-1)?.service?.state.status).toBe('stopped');
    expect((await req('POST', '/services/signal', { name: 'web', signal: 'HUP' })).status).toBe(409);

    const start = await req('POST', '/services/web/start?duration=0');
    expect(lines(start).map((e) => e.type)).toContain('started');
    expect((await req('DELETE', '/services/web')).status).toBe(204);
    expect((await req('GET', '/services/web')).status).toBe(404);
    expect((await req('DELETE', '/services/web')).status).toBe(404);
  });

  it('answers bad definitions with 400 and changes nothing', async () => {
    expect((await req('PUT', '/services/bad?duration=0', { args: ['x'] })).status).toBe(400);
    expect((await req('PUT', '/services/bad?duration=0', { cmd: 'true', dir: 'relative' })).status).toBe(400);
    expect((await req('PUT', '/services/bad%20name?duration=0', { cmd: 'true' })).status).toBe(400);
    expect((await req('PUT', '/services/bad?duration=forever', { cmd: 'true' })).status).toBe(400);
    const unknownNeed = await req('PUT', '/services/bad?duration=0', { cmd: 'true', needs: ['missing'] });
    expect(unknownNeed.status).toBe(400);
    expect(unknownNeed.json<{ message: string }>().message).toMatch(/needs missing/);
    expect((await req('GET', '/services')).json()).toEqual([]);
    // No service declares an HTTP port: sandbox URLs keep their default.
    expect(await serviceHttpPort(oneSandboxService('dev', agent.client), 1234)('dev')).toBe(1234);
  });

  it('follows a log until the client goes away', async () => {
    expect((await req('PUT', '/services/ticker?duration=0', { cmd: 'sh', args: ['-c', 'trap "echo tick" USR1; echo up; while :; do sleep 0.2; done'] })).status).toBe(200);
    const seen: Event[] = [];
    await new Promise<void>((resolve, reject) => {
      const r = httpRequest({ socketPath, path: '/v1/sprites/dev/services/ticker/logs?follow=true&lines=10', headers: { host: 'localhost' } }, (res) => {
        let buffer = '';
        let signalled = false;
        res.on('data', (chunk: Buffer) => {
          buffer += chunk.toString();
          const parts = buffer.split('\n');
          buffer = parts.pop() as string;
          for (const part of parts) if (part) seen.push(JSON.parse(part) as Event);
          if (!signalled && seen.some((e) => e.data === 'up\n')) {
            signalled = true;
            void req('POST', '/services/signal', { name: 'ticker', signal: 'USR1' });
          }
          if (seen.some((e) => e.data === 'tick\n')) {
            r.destroy();
            resolve();
          }
        });
        res.on('error', () => undefined);
      });
      r.on('error', (err) => (seen.some((e) => e.data === 'tick\n') ? resolve() : reject(err)));
      r.end();
    });
    expect(seen[0]).toMatchObject({ type: 'started' });
    expect(seen.map((e) => e.data)).toContain('tick\n');
    // The hold of the follow ends with the connection.
    for (let i = 0; i < 50 && sessions.activity('dev').holds > 0; i++) await new Promise((r) => setTimeout(r, 50));
  });

  it('ends a followed log with an error line when the guest agent goes away', async () => {
    expect((await req('PUT', '/services/steady?duration=0', { cmd: 'sh', args: ['-c', 'echo steady; exec sleep 1000'] })).status).toBe(200);
    const body = await new Promise<string>((resolve, reject) => {
      const r = httpRequest({ socketPath, path: '/v1/sprites/dev/services/steady/logs?follow=true&lines=10', headers: { host: 'localhost' } }, (res) => {
        let text = '';
        let crashed = false;
        res.on('data', (chunk: Buffer) => {
          text += chunk.toString();
          if (!crashed && text.includes('steady')) {
            crashed = true;
            void agent.crash();
          }
        });
        res.on('end', () => resolve(text));
        res.on('error', reject);
      });
      r.on('error', reject);
      r.end();
    });
    const last = JSON.parse(body.trim().split('\n').at(-1) as string) as Event;
    expect(last.type).toBe('error');
    expect(last.data).toMatch(/connection to the guest agent lost/);
    await agent.restart();
    api.close();
    await servers.close();
    // The stand-in sandbox service holds the old connection: serve the new one.
    api = createApi({ sandboxes: oneSandboxService('dev', agent.client), sessions, tokens: new TokenStore(db), port, version: '0.1.0', log: { info: () => undefined, warn: () => undefined, error: () => undefined } });
    servers = await serveApi(api, { socketPath, tcpPort: port });
    // The restarted agent brings its services back in the background.
    const status = async (): Promise<string> => (await req('GET', '/services/steady')).json<{ state: { status: string } }>().state.status;
    for (const deadline = Date.now() + 20_000; (await status()) !== 'running' && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 100));
    expect(await status()).toBe('running');
  });

  it('works from the hob CLI', async () => {
    const hob = async (args: string[]) => {
      const io = capturedIo({ cwd: agent.scratch, env: { HOB_SOCKET: socketPath } });
      io.stdin.end();
      const code = await runCli(args, io);
      return { code, stdout: io.stdoutText(), stderr: io.stderrText() };
    };
    const created = await hob(['services', 'create', 'dev', 'greeter', '--duration', '1s', '-e', 'WHO=world', '--', 'sh', '-c', 'echo hello $WHO; echo warn >&2; exec sleep 1000']);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toContain('hello world\n');
    expect(created.stderr).toMatch(/\[hob\] started: pid \d+/);
    expect(created.stderr).toContain('warn\n');
    expect(created.stderr).toMatch(/greeter: running \(pid \d+\)/);

    const ls = await hob(['services', 'ls', 'dev']);
    expect(ls.stdout).toMatch(/^SERVICE\s+STATUS\s+PID/m);
    expect(ls.stdout).toMatch(/^greeter\s+running\s+\d+\s+0\s+-/m);
    const json = JSON.parse((await hob(['services', 'ls', 'dev', '--json'])).stdout) as Array<{ name: string; env: Record<string, string> }>;
    expect(json).toEqual([expect.objectContaining({ name: 'greeter', env: { WHO: 'world' } })]);
    expect((await hob(['services', 'info', 'dev', 'greeter'])).stdout).toMatch(/^command:\s+sh -c 'echo hello \$WHO; echo warn >&2; exec sleep 1000'$/m);

    const logs = await hob(['logs', 'dev', 'greeter', '-n', '10']);
    expect(logs.code).toBe(0);
    expect(logs.stdout).toBe('hello world\n');
    expect(logs.stderr).toContain('warn\n');
    const logsJson = JSON.parse((await hob(['logs', 'dev', 'greeter', '--json'])).stdout) as Event[];
    expect(logsJson.map((e) => e.type)).toEqual(['started', 'stdout', 'stderr', 'complete']);

    expect((await hob(['services', 'signal', 'dev', 'greeter', 'BOGUS'])).code).toBe(1);
    const stopped = await hob(['services', 'stop', 'dev', 'greeter', '--timeout', '2s']);
    expect(stopped.code, stopped.stderr).toBe(0);
    expect(stopped.stderr).toMatch(/greeter: stopped/);
    const missing = await hob(['services', 'start', 'dev', 'nope']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/no service named nope/);
    expect((await hob(['services', 'rm', 'dev', 'greeter'])).code).toBe(0);
    expect((await hob(['services', 'ls', 'dev', '--json'])).stdout.trim()).toBe('[]');
    expect((await hob(['services', 'create', 'dev', 'nocmd'])).code).toBe(2);
  });

  it('works with the official Sprites SDK', async () => {
    const sprite = new SpritesClient(token, { baseURL: `http://127.0.0.1:${port}` }).sprite('dev');
    const stream = await sprite.createService('sdk', { cmd: 'sh', args: ['-c', 'echo from-sdk; exec sleep 1000'], needs: [] }, '1s');
    const events: ServiceLogEvent[] = [];
    for await (const e of stream) events.push(e);
    expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(['started', 'stdout', 'complete']));
    expect(events.find((e) => e.type === 'stdout')?.data).toBe('from-sdk\n');
    expect(typeof events[0]?.timestamp).toBe('number');

    const listed = await sprite.listServices();
    expect(listed.map((s) => [s.name, s.state?.status])).toEqual([['sdk', 'running']]);
    const got = await sprite.getService('sdk');
    expect(got.args).toEqual(['-c', 'echo from-sdk; exec sleep 1000']);
    expect(got.state?.pid).toBeGreaterThan(1);
    await sprite.signalService('sdk', 'KILL');
    let back = await sprite.getService('sdk');
    for (let i = 0; i < 100 && !(back.state?.status === 'running' && back.state.pid !== got.state?.pid); i++) {
      await new Promise((r) => setTimeout(r, 100));
      back = await sprite.getService('sdk');
    }
    expect(back.state?.restartCount).toBe(1);
    const logEvents: ServiceLogEvent[] = [];
    for await (const e of await sprite.getServiceLogs('sdk', { lines: 50 })) logEvents.push(e);
    expect(logEvents.filter((e) => e.type === 'exit')).toHaveLength(1);
    const stopEvents: ServiceLogEvent[] = [];
    for await (const e of await sprite.stopService('sdk', '2s')) stopEvents.push(e);
    expect(stopEvents.map((e) => e.type)).toContain('stopped');
    await sprite.deleteService('sdk');
    await expect(sprite.getService('sdk')).rejects.toThrow(/not found/i);
  });
});
