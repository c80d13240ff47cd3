/**
 * The idle policy and sleep states on real VMs (docs/architecture.md §7): one hobd
 * with short idle times (4 s to paused, 20 s to hibernated) and two sandboxes,
 * driven through the API and the CLI.
 *
 * - running → paused (VMM still there) → hibernated (VMM process gone) when
 *   nothing uses the sandbox;
 * - an exec wakes a paused and a hibernated sandbox transparently; after
 *   hibernation the same guest process still runs (memory was kept) and the
 *   guest clock was set to the host's;
 * - an attached exec websocket and a keep-awake hold keep it running;
 * - `hob sleep [--hibernate]`, `hob wake`, `hob keep-awake`, `hob idle`,
 *   `hob checkpoint auto`, with --json;
 * - a checkpoint of a paused sandbox leaves it paused (and still able to hibernate);
 * - hobd stopped and started again: a paused and a hibernated sandbox stay so
 *   and wake on exec; a paused sandbox stops.
 *
 * The `it`s share the sandboxes and run in order. No timing is asserted: waits
 * for a state have generous deadlines (TCG is slow), and "stays running" is
 * observed over a window three times the pause time.
 */
import { existsSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { vmDaemonUnavailable } from '../helpers/image.js';

const missing = vmDaemonUnavailable();
if (missing) console.warn(`idle e2e tests skipped: missing ${missing}`);

const PAUSE_AFTER_S = 4;
const HIBERNATE_AFTER_S = 20;
/** How long "it stays running" is watched: well past the pause time and a few idle ticks. */
const AWAKE_WINDOW_MS = 3 * PAUSE_AFTER_S * 1000;
/** Deadline for reaching a state: a pause, a hibernate (a memory snapshot under TCG) and a wake all fit. */
const STATE_DEADLINE_MS = 240_000;

const A = 'nap';
const B = 'nap2';

interface SpriteJson {
  id: string;
  name: string;
  status: string;
  state: string;
  state_since: string;
  idle: { pause_after_seconds?: number; hibernate_after_seconds?: number };
  keep_awake_until: string | null;
  auto_checkpoint: { interval_minutes: number; keep: number } | null;
  forked_from: unknown;
}
interface ExecJson {
  stdout: string;
  stderr: string;
  exit_code: number;
}

const sleepMs = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(missing !== undefined)('idle policy and sleep states on real VMs', () => {
  let d: TestDaemon;
  const ids: Record<string, string> = {};
  /** Pid of the guest loop started in A before its first sleep. */
  let tickPid = '';

  beforeAll(async () => {
    d = await startTestDaemon({ idle: { pauseAfterSeconds: PAUSE_AFTER_S, hibernateAfterSeconds: HIBERNATE_AFTER_S } });
    const r = await d.request({ method: 'POST', path: '/v1/sandboxes', body: { name: A } });
    expect(r.status, r.text()).toBe(201);
    ids[A] = r.json<SpriteJson>().id;
  });
  afterAll(async () => {
    await d?.stop();
  });

  const sprite = async (name: string): Promise<SpriteJson> => {
    const r = await d.request({ path: `/v1/sandboxes/${name}` });
    expect(r.status, r.text()).toBe(200);
    return r.json<SpriteJson>();
  };

  /** Polls the state (a GET is not activity) until it is `state`. */
  const waitForState = async (name: string, state: string, timeoutMs = STATE_DEADLINE_MS): Promise<SpriteJson> => {
    const deadline = Date.now() + timeoutMs;
    let last: SpriteJson | undefined;
    while (Date.now() < deadline) {
      last = await sprite(name);
      if (last.state === state) return last;
      await sleepMs(250);
    }
    throw new Error(`${name} did not become ${state} within ${timeoutMs / 1000} s (it is ${last?.state}); hobd log tail:\n${d.logs().slice(-3000)}`);
  };

  /** The states seen while watching for `ms`. */
  const statesDuring = async (name: string, ms: number): Promise<Set<string>> => {
    const seen = new Set<string>();
    const until = Date.now() + ms;
    while (Date.now() < until) {
      seen.add((await sprite(name)).state);
      await sleepMs(250);
    }
    return seen;
  };

  const exec = async (name: string, script: string): Promise<ExecJson> => {
    const r = await d.request({ method: 'POST', path: `/v1/sandboxes/${name}/exec`, body: { command: ['sh', '-c', script] } });
    expect(r.status, r.text()).toBe(200);
    const result = r.json<ExecJson>();
    expect(result.exit_code, `${script}: ${result.stderr}`).toBe(0);
    return result;
  };

  /** qemu processes whose command line names the sandbox's run dir. */
  const vmmPids = async (name: string): Promise<number[]> => {
    const dir = `${d.runDir}/vms/${ids[name]}`;
    const pids: number[] = [];
    for (const entry of await readdir('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
      if (cmdline.includes(dir) && cmdline.includes('qemu-system')) pids.push(Number(entry));
    }
    return pids;
  };

  const cliJson = async (args: string[]): Promise<SpriteJson> => {
    const r = await d.cli([...args, '--json']);
    expect(r.exitCode, `hob ${args.join(' ')}: ${r.stderr}`).toBe(0);
    return JSON.parse(r.stdout) as SpriteJson;
  };

  /** The guest loop's pid and whether it is alive, the guest's clock, and two readings of its counter 3 s apart. */
  const TICK_REPORT = 'p=$(cat /dev/shm/pid); echo $p; kill -0 $p && echo alive; date +%s; a=$(cat /dev/shm/count); sleep 3; echo $a $(cat /dev/shm/count)';

  it('a running sandbox is paused when idle, then hibernated, and its VMM process ends', async () => {
    // A guest process that must survive the sleeps: it counts seconds into tmpfs.
    const started = await exec(
      A,
      "setsid sh -c 'echo $$ > /dev/shm/pid; i=0; while :; do i=$((i+1)); echo $i > /dev/shm/count; sleep 1; done' </dev/null >/dev/null 2>&1 & " +
        'while [ ! -s /dev/shm/count ]; do sleep 0.2; done; cat /dev/shm/pid',
    );
    tickPid = started.stdout.trim();
    expect(tickPid).toMatch(/^\d+$/);
    expect(await vmmPids(A)).toHaveLength(1);

    const paused = await waitForState(A, 'paused');
    expect(paused.status).toBe('warm');
    expect(await vmmPids(A)).toHaveLength(1);

    const hibernated = await waitForState(A, 'hibernated');
    expect(hibernated.status).toBe('cold');
    expect(await vmmPids(A)).toEqual([]);
    expect(existsSync(join(d.stateDir, 'pool', 'sandboxes', ids[A]!, 'memory'))).toBe(true);
  }, 600_000);

  it('an exec on a hibernated sandbox wakes it with its memory: the same process runs on and the clock is set', async () => {
    await waitForState(A, 'hibernated');
    // The guest clock stands still from the pause on; let it fall well behind.
    await sleepMs(10_000);
    const before = Math.floor(Date.now() / 1000);
    const r = await exec(A, TICK_REPORT);
    const after = Math.ceil(Date.now() / 1000);
    const [pid, alive, guestTime, counts] = r.stdout.trim().split('\n');
    expect(pid).toBe(tickPid);
    expect(alive).toBe('alive');
    // Without the correction the guest would be more than 25 s behind.
    expect(Number(guestTime)).toBeGreaterThanOrEqual(before - 2);
    expect(Number(guestTime)).toBeLessThanOrEqual(after + 2);
    const [first, second] = (counts ?? '').split(' ').map(Number);
    expect(second).toBeGreaterThan(first!);
    expect((await sprite(A)).state).toBe('running');
    expect(await vmmPids(A)).toHaveLength(1);
  }, 600_000);

  it('an exec on a paused sandbox wakes it transparently', async () => {
    await waitForState(A, 'paused');
    const r = await exec(A, 'echo woke; cat /dev/shm/pid');
    expect(r.stdout).toBe(`woke\n${tickPid}\n`);
    expect((await sprite(A)).state).toBe('running');
  }, 600_000);

  it('never sleeps while an exec websocket is attached, and sleeps once it is gone', async () => {
    let output = '';
    let closed = false;
    const ws = new WebSocket(`ws+unix://${d.socketPath}:/v1/sandboxes/${A}/exec?tty=true&cmd=sh`);
    ws.on('message', (data: Buffer, isBinary) => {
      if (isBinary) output += data.toString();
    });
    const closing = new Promise<void>((resolve) => ws.on('close', () => {
      closed = true;
      resolve();
    }));
    try {
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
        ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
      });
      ws.send(Buffer.from('echo attached-$((6*7))\r'));
      const deadline = Date.now() + 120_000;
      while (!output.includes('attached-42') && Date.now() < deadline) await sleepMs(100);
      expect(output).toContain('attached-42');

      const seen = await statesDuring(A, AWAKE_WINDOW_MS);
      expect([...seen]).toEqual(['running']);

      ws.send(Buffer.from('echo still-$((6*7)); exit\r'));
      await Promise.race([closing, sleepMs(60_000)]);
      expect(output).toContain('still-42');
      expect(closed).toBe(true);
    } finally {
      if (!closed) ws.terminate();
    }
    await waitForState(A, 'paused');
  }, 600_000);

  it('a keep-awake hold keeps it running; ending the hold lets it sleep (CLI)', async () => {
    const held = await cliJson(['keep-awake', A, '--for', '10m']);
    expect(held.state).toBe('running');
    expect(Date.parse(held.keep_awake_until ?? '')).toBeGreaterThan(Date.now());
    const seen = await statesDuring(A, AWAKE_WINDOW_MS);
    expect([...seen]).toEqual(['running']);
    const info = await d.cli(['info', A]);
    expect(info.stdout).toMatch(/keep awake: +until \S+ \(in \d/);

    const released = await cliJson(['keep-awake', A, '--off']);
    expect(released.keep_awake_until).toBeNull();
    await waitForState(A, 'paused');
  }, 600_000);

  it('hob sleep, hob wake and hob sleep --hibernate', async () => {
    // No idle pauses for A meanwhile: each command below sees the state the one before left.
    expect((await cliJson(['idle', A, '--pause-after', 'off'])).idle).toEqual({ pause_after_seconds: 0 });
    expect((await cliJson(['wake', A])).state).toBe('running');
    const slept = await cliJson(['sleep', A]);
    expect(slept).toMatchObject({ state: 'paused', status: 'warm' });

    const woke = await d.cli(['wake', A]);
    expect(woke.exitCode, woke.stderr).toBe(0);
    expect(woke.stdout).toBe(`${A} is running`);

    const hibernated = await cliJson(['sleep', A, '--hibernate']);
    expect(hibernated).toMatchObject({ state: 'hibernated', status: 'cold' });
    expect(await vmmPids(A)).toEqual([]);
    const ls = await d.cli(['ls']);
    expect(ls.stdout.split('\n')[0]).toMatch(/^NAME\s+STATE\s+SINCE\s/);
    expect(ls.stdout).toMatch(new RegExp(`^${A}\\s+hibernated\\s+\\d+[smhd] ago\\s`, 'm'));

    expect((await cliJson(['wake', A])).state).toBe('running');
    const r = await exec(A, 'cat /dev/shm/pid; kill -0 $(cat /dev/shm/pid) && echo alive');
    expect(r.stdout).toBe(`${tickPid}\nalive\n`);
    expect((await cliJson(['idle', A, '--default'])).idle).toEqual({});
  }, 600_000);

  it('a checkpoint of a paused sandbox works and leaves it paused (and able to hibernate)', async () => {
    await exec(A, 'echo before-checkpoint > /root/paused.txt && sync');
    await waitForState(A, 'paused');
    const r = await d.request({ method: 'POST', path: `/v1/sandboxes/${A}/checkpoint`, body: { comment: 'while paused' } });
    expect(r.status, r.text()).toBe(200);
    const lines = r.text().trim().split('\n').map((l) => JSON.parse(l) as { type: string; checkpoint?: { comment: string } });
    expect(lines.at(-1), r.text()).toMatchObject({ type: 'complete', checkpoint: { comment: 'while paused' } });
    expect((await sprite(A)).state).toBe('paused');
    const list = (await d.request({ path: `/v1/sandboxes/${A}/checkpoints` })).json<Array<{ id: string; comment: string }>>();
    expect(list.map((c) => c.comment)).toContain('while paused');
    // A guest that the checkpoint left running would refuse the memory snapshot, and never hibernate.
    await waitForState(A, 'hibernated');
    expect(await vmmPids(A)).toEqual([]);
  }, 600_000);

  it('a paused and a hibernated sandbox stay asleep across a restart of hobd, and wake on exec', async () => {
    const created = await d.request({ method: 'POST', path: '/v1/sandboxes', body: { name: B } });
    expect(created.status, created.text()).toBe(201);
    ids[B] = created.json<SpriteJson>().id;
    // B's own idle times: it is paused but never hibernated, so it is still paused after the restart.
    const put = await d.request({ method: 'PUT', path: `/v1/sandboxes/${B}`, body: { idle: { hibernate_after_seconds: 0 } } });
    expect(put.status, put.text()).toBe(200);
    expect(put.json<SpriteJson>().idle).toEqual({ hibernate_after_seconds: 0 });
    // Each sleep right after an exec, well within the pause time: the idle policy does not race it.
    await exec(B, 'echo kept-in-ram > /dev/shm/mark');
    const b = await d.request({ method: 'POST', path: `/v1/sandboxes/${B}/sleep` });
    expect(b.status, b.text()).toBe(200);
    expect(b.json<SpriteJson>()).toMatchObject({ state: 'paused', status: 'warm' });
    // Running again (whatever the previous case left), so that the sleep below starts from a known state.
    expect((await exec(A, 'cat /root/paused.txt')).stdout).toBe('before-checkpoint\n');
    const a = await d.request({ method: 'POST', path: `/v1/sandboxes/${A}/sleep`, body: { hibernate: true } });
    expect(a.status, a.text()).toBe(200);
    expect(a.json<SpriteJson>().state).toBe('hibernated');

    await d.kill('SIGTERM');
    expect(await vmmPids(A)).toEqual([]);
    expect(await vmmPids(B)).toHaveLength(1);
    await d.restart();
    expect((await sprite(A)).state).toBe('hibernated');
    expect((await sprite(B)).state).toBe('paused');
    expect(await vmmPids(B)).toHaveLength(1);

    // The outputs show both woke with their memory. Their states are not asserted afterwards:
    // under load the next request may come after the pause time, and they would be paused again.
    expect((await exec(B, 'cat /dev/shm/mark')).stdout).toBe('kept-in-ram\n');
    expect((await exec(A, 'cat /dev/shm/pid; kill -0 $(cat /dev/shm/pid) && echo alive; cat /root/paused.txt')).stdout).toBe(
      `${tickPid}\nalive\nbefore-checkpoint\n`,
    );
    // Woken from its memory image by the new hobd: a VMM process again (it hibernates only 20 s idle from now).
    expect(await vmmPids(A)).toHaveLength(1);
  }, 900_000);

  it('a paused sandbox and a hibernated one stop; sleep refuses a stopped sandbox', async () => {
    await waitForState(B, 'paused');
    const stopB = await d.request({ method: 'POST', path: `/v1/sandboxes/${B}/stop` });
    expect(stopB.status, stopB.text()).toBe(200);
    expect(stopB.json<SpriteJson>()).toMatchObject({ state: 'stopped', status: 'cold' });
    expect(await vmmPids(B)).toEqual([]);

    await waitForState(A, 'hibernated');
    const stopA = await d.request({ method: 'POST', path: `/v1/sandboxes/${A}/stop` });
    expect(stopA.status, stopA.text()).toBe(200);
    expect(stopA.json<SpriteJson>().state).toBe('stopped');
    expect(existsSync(join(d.stateDir, 'pool', 'sandboxes', ids[A]!, 'memory'))).toBe(false);

    const refused = await d.request({ method: 'POST', path: `/v1/sandboxes/${B}/sleep`, body: { hibernate: true } });
    expect(refused.status).toBe(409);
    expect(refused.json()).toMatchObject({ error: 'conflict' });
    const cli = await d.cli(['sleep', B]);
    expect(cli.exitCode).toBe(1);
    expect(cli.stderr).toMatch(/^hob: /);
    expect((await sprite(B)).state).toBe('stopped');
    expect((await d.request({ method: 'POST', path: '/v1/sandboxes/nosuch/wake' })).status).toBe(404);
  }, 600_000);

  it('sets and resets idle times and automatic checkpoints (CLI), and refuses bad values without a change', async () => {
    expect((await cliJson(['idle', B, '--pause-after', 'off', '--hibernate-after', '2h'])).idle).toEqual({ pause_after_seconds: 0, hibernate_after_seconds: 7200 });
    expect((await cliJson(['idle', B, '--pause-after', '45s'])).idle).toEqual({ pause_after_seconds: 45, hibernate_after_seconds: 7200 });
    const shown = await d.cli(['idle', B]);
    expect(shown.stdout).toBe(`${B}: pause after 45s, hibernate after 2h`);
    expect((await cliJson(['idle', B, '--default'])).idle).toEqual({});

    expect((await cliJson(['checkpoint', 'auto', B, '--every', '30m', '--keep', '3'])).auto_checkpoint).toEqual({ interval_minutes: 30, keep: 3 });
    const info = await d.cli(['info', B]);
    expect(info.stdout).toMatch(/checkpoints: +automatic every 30m, the last 3 kept/);
    expect(info.stdout).toMatch(/idle: +pause after hobd's default, hibernate after hobd's default/);
    expect((await cliJson(['checkpoint', 'auto', B, '--off'])).auto_checkpoint).toBeNull();

    const bad = [
      { idle: { pause_after_seconds: -1 } },
      { auto_checkpoint: { interval_minutes: 0, keep: 1 } },
      { idle: { hibernate_after_seconds: 60 }, labels: ['a,b'] },
    ];
    for (const body of bad) {
      const r = await d.request({ method: 'PUT', path: `/v1/sandboxes/${B}`, body });
      expect(r.status, JSON.stringify(body)).toBe(400);
    }
    expect((await d.request({ method: 'POST', path: `/v1/sandboxes/${B}/keep-awake`, body: { seconds: 0 } })).status).toBe(400);
    const after = await sprite(B);
    expect(after).toMatchObject({ state: 'stopped', idle: {}, auto_checkpoint: null, keep_awake_until: null });
    const usage = await d.cli(['keep-awake', B]);
    expect(usage.exitCode).toBe(2);
  }, 600_000);
});
