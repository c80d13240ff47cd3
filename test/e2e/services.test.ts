/**
 * Services on a real VM through hobd (docs/architecture.md §5; issue 6): a service
 * created through the API runs inside the guest, comes back after it is
 * killed there, keeps running across hibernate and wake (the memory restore
 * keeps the agent and its children), runs again after a stop and start of the
 * sandbox (cold boot: the agent starts it from its definition on disk, in
 * `needs` order), and its output is shown by `hob logs`. Also: the official
 * SDK's createService/listServices, run inside hobd's network namespace.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { imageBuildUnavailable } from '../helpers/image.js';

const BOX = 'svcbox';

interface ServiceJson {
  name: string;
  needs: string[];
  state: { status: string; pid?: number; restart_count: number; started_at?: string; enabled: boolean };
}

const unavailable = imageBuildUnavailable();
if (unavailable) console.warn(`skipping the services e2e tests: ${unavailable}`);

describe.skipIf(unavailable !== null)('services on a real VM', () => {
  let d: TestDaemon;

  const service = async (name: string): Promise<ServiceJson> => {
    const r = await d.request({ path: `/v1/sandboxes/${BOX}/services/${name}` });
    expect(r.status, r.text()).toBe(200);
    return r.json<ServiceJson>();
  };

  const waitForService = async (name: string, check: (s: ServiceJson) => boolean, what: string): Promise<ServiceJson> => {
    const deadline = Date.now() + 120_000;
    let last: ServiceJson | undefined;
    while (Date.now() < deadline) {
      last = await service(name);
      if (check(last)) return last;
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`timed out waiting for ${name} to be ${what}; last: ${JSON.stringify(last)}`);
  };

  const exec = async (argv: string[]): Promise<{ stdout: string; exit_code: number }> => {
    const r = await d.request({ method: 'POST', path: `/v1/sandboxes/${BOX}/exec`, body: { command: argv } });
    expect(r.status, r.text()).toBe(200);
    return r.json();
  };

  beforeAll(async () => {
    d = await startTestDaemon();
    const created = await d.request({ method: 'POST', path: '/v1/sandboxes', body: { name: BOX } });
    if (created.status !== 201) throw new Error(`create: ${created.status} ${created.text()}\n${d.logs().slice(-4000)}`);
  });

  afterAll(async () => {
    await d?.stop();
  });

  it('creates services through the API, and brings one back after it is killed inside the guest', async () => {
    const db = await d.request({ method: 'PUT', path: `/v1/sandboxes/${BOX}/services/db?duration=0`, body: { cmd: 'sh', args: ['-c', 'echo db-up; exec sleep 100000'] } });
    expect(db.status, db.text()).toBe(200);
    const put = await d.request({
      method: 'PUT',
      path: `/v1/sandboxes/${BOX}/services/web?duration=2s`,
      body: { cmd: 'sh', args: ['-c', 'echo serving; exec sleep 100000'], needs: ['db'], http_port: 8080 },
    });
    expect(put.status, put.text()).toBe(200);
    const events = put
      .text()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; data?: string });
    expect(events[0]?.type).toBe('started');
    expect(events).toContainEqual(expect.objectContaining({ type: 'stdout', data: 'serving\n' }));
    expect(events.at(-1)?.type).toBe('complete');

    const before = await service('web');
    expect(before.state.status).toBe('running');
    const pid = before.state.pid as number;
    // The definition is a file in the guest.
    expect((await exec(['cat', '/etc/hob/services/web.json'])).stdout).toContain('"httpPort": 8080');

    expect((await exec(['kill', '-9', String(pid)])).exit_code).toBe(0);
    const back = await waitForService('web', (s) => s.state.status === 'running' && s.state.pid !== pid, 'running again');
    expect(back.state.restart_count).toBe(1);
    expect((await exec(['cat', `/proc/${back.state.pid}/cmdline`])).stdout).toContain('sleep');
  });

  it('keeps its services running, same processes, across hibernate and wake', async () => {
    const before = await service('web');
    const slept = await d.request({ method: 'POST', path: `/v1/sandboxes/${BOX}/sleep`, body: { hibernate: true } });
    expect(slept.status, slept.text()).toBe(200);
    expect(slept.json<{ state: string }>().state).toBe('hibernated');
    // Asking for the service wakes the sandbox.
    const after = await service('web');
    expect(after.state.status).toBe('running');
    expect(after.state.pid).toBe(before.state.pid);
    expect(after.state.restart_count).toBe(before.state.restart_count);
  });

  it('starts them again, in needs order, after a stop and start of the sandbox; a stopped one stays stopped', async () => {
    const idle = await d.request({ method: 'PUT', path: `/v1/sandboxes/${BOX}/services/idle?duration=0`, body: { cmd: 'sleep', args: ['100000'] } });
    expect(idle.status).toBe(200);
    expect((await d.request({ method: 'POST', path: `/v1/sandboxes/${BOX}/services/idle/stop` })).status).toBe(200);
    const before = await service('web');

    const stopped = await d.request({ method: 'POST', path: `/v1/sandboxes/${BOX}/stop` });
    expect(stopped.status, stopped.text()).toBe(200);
    expect(stopped.json<{ state: string }>().state).toBe('stopped');
    const started = await d.request({ method: 'POST', path: `/v1/sandboxes/${BOX}/start` });
    expect(started.status, started.text()).toBe(200);

    const web = await waitForService('web', (s) => s.state.status === 'running', 'running after the cold boot');
    const db = await waitForService('db', (s) => s.state.status === 'running', 'running after the cold boot');
    expect(web.state.pid).not.toBe(before.state.pid);
    expect(web.state.restart_count).toBe(0);
    expect(Date.parse(db.state.started_at as string)).toBeLessThanOrEqual(Date.parse(web.state.started_at as string));
    const idleAfter = await service('idle');
    expect(idleAfter.state.status).toBe('stopped');
    expect(idleAfter.state.enabled).toBe(false);
  });

  it('shows the output of every run with hob logs, and the services with hob services ls', async () => {
    const logs = await d.cli(['logs', BOX, 'web']);
    expect(logs.exitCode, logs.stderr).toBe(0);
    // One line per run: the first, the restart after the kill, the cold boot.
    expect(logs.stdout.split('\n').filter((l) => l === 'serving')).toHaveLength(3);
    expect(logs.stderr).toMatch(/\[hob\] exit: signal SIGKILL; restarting in 1s/);
    const ls = await d.cli(['services', 'ls', BOX]);
    expect(ls.exitCode, ls.stderr).toBe(0);
    expect(ls.stdout).toMatch(/^web\s+running\s+\d+\s+0\s+8080\s+db\s/m);
    expect(ls.stdout).toMatch(/^idle\s+stopped\s/m);
  });

  it('works with the Sprites SDK', async () => {
    const script = [
      "import { SpritesClient } from '@fly/sprites';",
      "const sprite = new SpritesClient(process.env.HOB_TOKEN, { baseURL: process.env.HOB_URL, timeout: 300000 }).sprite(process.env.SANDBOX);",
      "const stream = await sprite.createService('sdk', { cmd: 'sh', args: ['-c', 'echo sdk-up; exec sleep 100000'] }, '2s');",
      'const types = [];',
      'for await (const e of stream) types.push(e.type);',
      'const list = await sprite.listServices();',
      "console.log(JSON.stringify({ types, services: list.map((s) => [s.name, s.state?.status]) }));",
    ].join('\n');
    const r = await d.inNetns([process.execPath, '--input-type=module', '-e', script], { env: { HOB_URL: d.baseUrl, HOB_TOKEN: d.token, SANDBOX: BOX } });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const out = JSON.parse(String(r.stdout)) as { types: string[]; services: Array<[string, string]> };
    expect(out.types).toEqual(expect.arrayContaining(['started', 'stdout', 'complete']));
    expect(out.services).toContainEqual(['sdk', 'running']);
    expect(out.services.map(([n]) => n).sort()).toEqual(['db', 'idle', 'sdk', 'web']);
  });
});
