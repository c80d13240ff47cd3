/**
 * Supervised services in the real guest agent, run on the host with
 * `--services-root` (definitions, logs and pid files in a temp dir), driven
 * through AgentClient.services: create/list/get/start/stop/signal/delete,
 * restarts with backoff, `needs` order, the one-HTTP-port rule, logs, and
 * persistence across an agent crash. Service processes run on this machine
 * as the test user; their commands are harmless (sh, sleep, echo).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { UnsupportedByAgentError } from '../../daemon/agent/index.js';
import { ensureHttpService, httpPortOf, type AgentServices } from '../../daemon/agent/services.js';
import { BadRequestError, ConflictError, NotFoundError } from '../../daemon/errors.js';
import type { ServiceLogEntry } from '../../daemon/protocol/index.js';
import { ServiceLog } from '../../guest-image/agent/services/service-log.js';
import { startHostAgent } from '../helpers/host-agent.js';
import { startServicesAgent, type ServicesAgent } from '../helpers/services-agent.js';

async function waitFor<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}${last ? ` (last: ${String(last)})` : ''}`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function entries(services: AgentServices, name: string, lines = 1000): Promise<ServiceLogEntry[]> {
  const out: ServiceLogEntry[] = [];
  for await (const entry of await services.logs(name, { lines })) out.push(entry);
  return out;
}

const text = (list: readonly ServiceLogEntry[]): string[] => list.filter((e) => e.stream !== 'hob').map((e) => `${e.stream}:${e.data}`);

/** Deletes every service, dependents first. */
async function deleteAll(services: AgentServices): Promise<void> {
  for (let round = 0; round < 10; round++) {
    const list = await services.list();
    if (list.length === 0) return;
    for (const s of list) await services.delete(s.name, { timeoutMs: 2000 }).catch(() => undefined);
  }
}

describe('services in the guest agent', () => {
  let agent: ServicesAgent;
  let svc: AgentServices;

  beforeAll(async () => {
    agent = await startServicesAgent();
    svc = agent.client.services;
  });
  afterEach(async () => {
    if (agent) await deleteAll(agent.client.services);
  });
  afterAll(async () => {
    await agent?.stop();
  });

  it('is advertised only by an agent that has a services root, and refused clearly by one without', async () => {
    expect(agent.client.supports('services')).toBe(true);
    expect(svc.supported).toBe(true);
    const plain = await startHostAgent();
    try {
      expect(plain.client.supports('services')).toBe(false);
      expect(plain.client.supports('service.put')).toBe(false);
      await expect(plain.client.services.list()).rejects.toThrow(UnsupportedByAgentError);
      await expect(plain.client.services.put('x', { cmd: 'true' })).rejects.toThrow(/does not support "services"/);
      expect(await httpPortOf(plain.client.services)).toBeUndefined();
    } finally {
      await plain.stop();
    }
  });

  it('creates, lists, gets, stops, starts and deletes a service, keeping its definition on disk', async () => {
    const created = await svc.put('sleeper', { cmd: 'sh', args: ['-c', 'echo ready; exec sleep 1000'] });
    expect(created.state.status).toBe('running');
    const pid = created.state.pid as number;
    expect(pid).toBeGreaterThan(1);
    expect(alive(pid)).toBe(true);
    const file = join(agent.root, 'etc/hob/services/sleeper.json');
    const stored = JSON.parse(readFileSync(file, 'utf8')) as { name: string; enabled: boolean; definition: { cmd: string; args: string[] } };
    expect(stored).toMatchObject({ name: 'sleeper', enabled: true, definition: { cmd: 'sh', args: ['-c', 'echo ready; exec sleep 1000'] } });

    expect((await svc.list()).map((s) => s.name)).toContain('sleeper');
    expect((await svc.get('sleeper')).state.pid).toBe(pid);

    const stopped = await svc.stop('sleeper', { timeoutMs: 5000 });
    expect(stopped.state.status).toBe('stopped');
    expect(stopped.state.pid).toBeUndefined();
    expect(stopped.state.enabled).toBe(false);
    await waitFor('the stopped process to be gone', async () => !alive(pid));
    expect((JSON.parse(readFileSync(file, 'utf8')) as { enabled: boolean }).enabled).toBe(false);
    const log = await entries(svc, 'sleeper');
    expect(log.filter((e) => e.stream === 'hob').map((e) => e.event)).toEqual(['started', 'stopping', 'stopped']);
    expect(log.find((e) => e.event === 'stopped')?.data).toBe('signal SIGTERM');

    const started = await svc.start('sleeper');
    expect(started.state.status).toBe('running');
    expect(started.state.pid).not.toBe(pid);
    expect(started.state.enabled).toBe(true);

    await svc.delete('sleeper');
    await expect(svc.get('sleeper')).rejects.toThrow(NotFoundError);
    expect(existsSync(file)).toBe(false);
    expect(alive(started.state.pid as number)).toBe(false);
    expect(readFileSync(join(agent.root, 'var/log/hob/services/sleeper.log'), 'utf8')).toContain('[stdout] ready');
    await expect(svc.stop('nope')).rejects.toThrow(NotFoundError);
    await expect(svc.signal('nope', 'SIGHUP')).rejects.toThrow(NotFoundError);
  });

  it('sends a signal to the process group, and refuses one for a stopped service', async () => {
    const s = await svc.put('trapper', { cmd: 'sh', args: ['-c', 'trap "echo got-usr1" USR1; echo armed; while :; do sleep 0.2; done'] });
    await waitFor('the trap to be set', async () => text(await entries(svc, 'trapper')).includes('stdout:armed'));
    await svc.signal('trapper', 'SIGUSR1');
    await waitFor('the trap to fire', async () => text(await entries(svc, 'trapper')).includes('stdout:got-usr1'));
    expect((await svc.get('trapper')).state.pid).toBe(s.state.pid);
    await svc.stop('trapper');
    await expect(svc.signal('trapper', 'SIGUSR1')).rejects.toThrow(ConflictError);
  });

  it('restarts a service that keeps crashing, with a doubling backoff', async () => {
    await svc.put('crasher', { cmd: 'sh', args: ['-c', 'echo boom; exit 3'] });
    const failed = await waitFor('two restarts', async () => {
      const s = await svc.get('crasher');
      return s.state.restartCount >= 2 && s.state.status === 'failed' ? s : undefined;
    });
    expect(failed.state.error).toBe('exited with code 3');
    expect(failed.state.nextRestartAtMs).toBeGreaterThan(failed.state.startedAtMs as number);
    const exits = (await entries(svc, 'crasher')).filter((e) => e.event === 'exit');
    expect(exits.slice(0, 2).map((e) => [e.exitCode, e.data])).toEqual([
      [3, 'code 3; restarting in 1s'],
      [3, 'code 3; restarting in 2s'],
    ]);
    expect(text(await entries(svc, 'crasher')).filter((l) => l === 'stdout:boom').length).toBeGreaterThanOrEqual(3);
    const stopped = await svc.stop('crasher');
    expect(stopped.state.status).toBe('stopped');
    expect(stopped.state.nextRestartAtMs).toBeUndefined();
  });

  it('brings back a service whose process is killed', async () => {
    const first = await svc.put('victim', { cmd: 'sleep', args: ['1000'] });
    const pid = first.state.pid as number;
    process.kill(pid, 'SIGKILL');
    const back = await waitFor('the service to run again', async () => {
      const s = await svc.get('victim');
      return s.state.status === 'running' && s.state.pid !== pid ? s : undefined;
    });
    expect(back.state.restartCount).toBe(1);
    expect(alive(back.state.pid as number)).toBe(true);
    const exit = (await entries(svc, 'victim')).find((e) => e.event === 'exit');
    expect(exit).toMatchObject({ exitCode: null, data: 'signal SIGKILL; restarting in 1s' });
  });

  it('starts what a service needs first, and refuses cycles, unknown needs and deleting a needed service', async () => {
    const order = join(agent.scratch, 'order');
    rmSync(order, { force: true });
    const db = await svc.put('db', { cmd: 'sh', args: ['-c', 'echo db >> order; exec sleep 1000'], dir: agent.scratch }, { start: false });
    expect(db.state.status).toBe('stopped');
    const web = await svc.put('web', { cmd: 'sh', args: ['-c', 'echo web >> order; exec sleep 1000'], dir: agent.scratch, needs: ['db'] });
    expect(web.state.status).toBe('running');
    expect((await svc.get('db')).state.status).toBe('running');
    await waitFor('both to write', async () => existsSync(order) && readFileSync(order, 'utf8').split('\n').length >= 3);
    expect(readFileSync(order, 'utf8')).toBe('db\nweb\n');

    await expect(svc.put('db', { cmd: 'true', needs: ['web'] })).rejects.toThrow(/cycle: db -> web -> db/);
    await expect(svc.put('db', { cmd: 'true', needs: ['web'] })).rejects.toThrow(BadRequestError);
    await expect(svc.put('lonely', { cmd: 'true', needs: ['missing'] })).rejects.toThrow(/needs missing, which does not exist/);
    await expect(svc.put('selfish', { cmd: 'true', needs: ['selfish'] })).rejects.toThrow(BadRequestError);
    await expect(svc.delete('db')).rejects.toThrow(ConflictError);
    await expect(svc.delete('db')).rejects.toThrow(/needed by web/);
    expect((await svc.get('db')).state.status).toBe('running');
  });

  it('lets one service have an HTTP port, and starts it on demand for URL routing', async () => {
    await svc.put('site', { cmd: 'sleep', args: ['1000'], httpPort: 8080 });
    await expect(svc.put('other', { cmd: 'sleep', args: ['1000'], httpPort: 8081 })).rejects.toThrow(ConflictError);
    await expect(svc.put('other', { cmd: 'sleep', args: ['1000'], httpPort: 8081 })).rejects.toThrow(/site already has HTTP port 8080/);
    await expect(svc.get('other')).rejects.toThrow(NotFoundError);
    const moved = await svc.put('site', { cmd: 'sleep', args: ['1000'], httpPort: 9090 });
    expect(moved.definition.httpPort).toBe(9090);
    expect(await httpPortOf(svc)).toBe(9090);
    await svc.stop('site');
    expect(await ensureHttpService(svc)).toBe(9090);
    expect((await svc.get('site')).state.status).toBe('running');
    await svc.delete('site');
    expect(await httpPortOf(svc)).toBeUndefined();
  });

  it('logs stdout and stderr to a file and streams the tail and new lines', async () => {
    await svc.put('talker', { cmd: 'sh', args: ['-c', 'for i in 1 2 3 4 5; do echo out-$i; echo err-$i >&2; done; exec sleep 1000'] });
    await waitFor('all lines', async () => {
      const t = text(await entries(svc, 'talker'));
      return t.includes('stdout:out-5') && t.includes('stderr:err-5');
    });
    const all = text(await entries(svc, 'talker'));
    expect(all.filter((l) => l.startsWith('stdout:'))).toEqual(['stdout:out-1', 'stdout:out-2', 'stdout:out-3', 'stdout:out-4', 'stdout:out-5']);
    expect(all.filter((l) => l.startsWith('stderr:'))).toEqual(['stderr:err-1', 'stderr:err-2', 'stderr:err-3', 'stderr:err-4', 'stderr:err-5']);
    expect(await entries(svc, 'talker', 2)).toHaveLength(2);
    // The file is written asynchronously, after the in-memory tail has the lines.
    const logFile = join(agent.root, 'var/log/hob/services/talker.log');
    await waitFor('the log file', async () => existsSync(logFile) && readFileSync(logFile, 'utf8').includes('[stderr] err-5'));
    const file = readFileSync(logFile, 'utf8');
    expect(file).toMatch(/^\S+Z \[hob\] started: pid \d+$/m);
    expect(file).toMatch(/^\S+Z \[stdout\] out-3$/m);
    expect(file).toMatch(/^\S+Z \[stderr\] err-3$/m);

    // Following a service before it exists (how PUT streams its first output).
    const follower = await svc.logs('later', { lines: 0, follow: true, allowMissing: true });
    expect(follower.logFile).toBe(join(agent.root, 'var/log/hob/services/later.log'));
    await svc.put('later', { cmd: 'sh', args: ['-c', 'echo hi-from-later; exec sleep 1000'] });
    const seen: ServiceLogEntry[] = [];
    for (let e = await follower.next(); e; e = await follower.next()) {
      seen.push(e);
      if (e.data === 'hi-from-later') break;
    }
    follower.close();
    expect(seen[0]).toMatchObject({ stream: 'hob', event: 'started' });
    expect(seen.at(-1)).toMatchObject({ stream: 'stdout', data: 'hi-from-later' });
    await expect(svc.logs('never-existed')).rejects.toThrow(NotFoundError);
  });

  it('brings its services back after the agent crashed, in needs order, and leaves stopped ones stopped', async () => {
    const order = join(agent.scratch, 'boot-order');
    rmSync(order, { force: true });
    await svc.put('base', { cmd: 'sh', args: ['-c', 'echo base >> boot-order; exec sleep 1000'], dir: agent.scratch });
    await svc.put('top', { cmd: 'sh', args: ['-c', 'echo top >> boot-order; exec sleep 1000'], dir: agent.scratch, needs: ['base'] });
    await svc.put('off', { cmd: 'sleep', args: ['1000'] });
    await svc.stop('off');
    const before = new Map((await svc.list()).map((s) => [s.name, s.state.pid]));
    await waitFor('both to write', async () => existsSync(order) && readFileSync(order, 'utf8') === 'base\ntop\n');

    await agent.crash();
    // The crashed agent's services are orphans now; the new agent must end them and start fresh ones.
    expect(alive(before.get('base') as number)).toBe(true);
    await agent.restart();
    svc = agent.client.services;
    const back = await waitFor('base and top to run again', async () => {
      const list = await svc.list();
      return list.filter((s) => s.state.status === 'running').length === 2 ? list : undefined;
    });
    expect(back.map((s) => [s.name, s.state.status])).toEqual([
      ['base', 'running'],
      ['off', 'stopped'],
      ['top', 'running'],
    ]);
    for (const name of ['base', 'top']) {
      expect(back.find((s) => s.name === name)?.state.pid).not.toBe(before.get(name));
      await waitFor(`the old ${name} to be gone`, async () => !alive(before.get(name) as number));
    }
    await waitFor('both to write again', async () => readFileSync(order, 'utf8').split('\n').length >= 5);
    expect(readFileSync(order, 'utf8')).toBe('base\ntop\nbase\ntop\n');
    // The log from before the crash is still there.
    expect((await entries(svc, 'top')).filter((e) => e.event === 'started')).toHaveLength(2);
  });
});

describe('service log file', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'hob-service-log-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('rotates at its size cap, keeping one older file, and a new reader gets the tail back', async () => {
    const path = join(dir, 'big.log');
    const cap = 64 * 1024;
    const log = new ServiceLog(path, cap);
    await log.loaded;
    const line = 'x'.repeat(100);
    for (let i = 0; i < 2000; i++) log.append({ time: Date.now(), stream: 'stdout', data: `${i} ${line}` });
    await log.close();
    expect(statSync(path).size).toBeLessThanOrEqual(cap);
    expect(statSync(`${path}.1`).size).toBeLessThanOrEqual(cap);
    expect(statSync(`${path}.1`).size).toBeGreaterThan(cap / 2);
    expect(readFileSync(path, 'utf8').trimEnd().split('\n').at(-1)).toMatch(/ \[stdout\] 1999 x+$/);
    expect(log.tail(3).map((e) => e.data.split(' ')[0])).toEqual(['1997', '1998', '1999']);

    const reread = new ServiceLog(path, cap);
    await reread.loaded;
    const tail = reread.tail(1000);
    expect(tail.at(-1)?.data.startsWith('1999 ')).toBe(true);
    // The tail is contiguous: no line lost or doubled at the rotation boundary.
    const numbers = tail.map((e) => Number(e.data.split(' ')[0]));
    expect(numbers).toEqual(numbers.map((_, i) => (numbers[0] as number) + i));
  });
});
