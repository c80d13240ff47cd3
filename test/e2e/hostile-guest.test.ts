/**
 * A hostile guest on a real VM (issue 12, "A hostile-guest harness", e2e half): inside
 * sandbox `evil`, test/e2e/fixtures/guest-attacker.mjs kills the agent, takes over its
 * virtio-serial port and floods hobd with garbage and rule-breaking frames while never
 * reading. Meanwhile the test keeps asking hobd to talk to `evil` (so hobd connects to the
 * attacker again and again) and measures the neighbour `good`:
 *   - hobd stays up, and its RSS grows by less than RSS_GROWTH_BOUND;
 *   - `good` keeps answering exec, its median latency within NEIGHBOUR_FACTOR of its quiet
 *     median (a loose bound: under TCG on 2 cores the attacker's vCPU competes with everyone
 *     for the CPU; `npm run bench` reports the measured ratio);
 *   - `evil` can still be stopped within the stop grace time (15 s) plus slack, and removed.
 * The protocol-level attacks one by one, with tighter bounds, are in
 * test/unit/protocol-hostile.test.ts (a socket pair, no VM).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.js';

/**
 * Peak RSS includes garbage V8 has not collected yet, and V8 lets the heap grow further
 * before collecting as hobd's own baseline grows (176 MiB with the dashboard, MCP and stats
 * loaded). Measured growth over four runs: 15, 30, 47 and 64 MiB. A flood that hobd buffered
 * instead of bounding would add the attacker's whole output (hundreds of MiB in 40 s).
 */
const RSS_GROWTH_BOUND = 96 * 1024 * 1024;
const NEIGHBOUR_FACTOR = 10;
const ATTACK_SECONDS = 40;
/** STOP_GRACE_MS (core/manager.ts) plus what `hob stop` itself takes under TCG. */
const STOP_BOUND_MS = 15_000 + 15_000;

async function rssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1] ?? NaN) * 1024;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

describe('a hostile guest on a real VM', () => {
  let d: TestDaemon;

  beforeAll(async () => {
    d = await startTestDaemon();
    const created = await Promise.all(['good', 'evil'].map((name) => d.request({ method: 'POST', path: '/v1/sandboxes', body: { name } })));
    for (const r of created) expect(r.status, r.text()).toBe(201);
  });
  afterAll(async () => {
    await d?.stop();
  });

  const exec = (name: string, command: string[]) => d.request({ method: 'POST', path: `/v1/sandboxes/${name}/exec`, body: { command } });
  const timedExec = async (): Promise<number> => {
    const started = performance.now();
    const r = await exec('good', ['true']);
    expect(r.status, r.text()).toBe(200);
    return performance.now() - started;
  };

  it('hobd stays up with bounded memory, the neighbour keeps answering, the attacker can be stopped and removed', async () => {
    const pid = d.pid();
    expect(pid).toBeDefined();
    const quiet: number[] = [];
    for (let i = 0; i < 7; i++) quiet.push(await timedExec());
    const rssBefore = await rssBytes(pid!);

    const copied = await d.cli(['cp', join(import.meta.dirname, 'fixtures/guest-attacker.mjs'), 'evil:/root/attack.mjs']);
    expect(copied.exitCode, copied.stderr).toBe(0);
    const launched = await exec('evil', ['sh', '-c', `setsid -f /opt/hob/node /root/attack.mjs ${ATTACK_SECONDS} </dev/null >/dev/null 2>&1`]);
    expect(launched.status, launched.text()).toBe(200);


    // The attacker starts (Node under TCG takes seconds) and takes the agent's place.
    const takeoverBy = Date.now() + 60_000;
    while ((await exec('evil', ['true'])).status === 200) {
      expect(Date.now(), 'the attacker never took over the agent port').toBeLessThan(takeoverBy);
      await new Promise((r) => setTimeout(r, 500));
    }

    // While the attack runs: make hobd talk to the attacker (each poke waits for an agent
    // that never answers properly), and time the neighbour.
    let evilAnswers = 0;
    let pokes = 0;
    const until = Date.now() + ATTACK_SECONDS * 1000;
    const poking = (async () => {
      while (Date.now() < until) {
        const r = await exec('evil', ['true']);
        pokes++;
        // hobd says it cannot reach the agent (never a 500, never a crash).
        if (r.status === 200) evilAnswers++;
        else expect([502, 503, 504], r.text()).toContain(r.status);
      }
    })();
    const loud: number[] = [];
    let peakRss = rssBefore;
    while (Date.now() < until) {
      loud.push(await timedExec());
      peakRss = Math.max(peakRss, await rssBytes(pid!));
    }
    await poking;
    expect(pokes).toBeGreaterThan(0);
    const quietMs = median(quiet);
    const loudMs = median(loud);
    console.log(`hostile guest: neighbour exec median quiet ${quietMs.toFixed(0)} ms, under attack ${loudMs.toFixed(0)} ms (${(loudMs / quietMs).toFixed(2)}x); hobd RSS ${(rssBefore / 2 ** 20).toFixed(0)} MiB before, peak ${(peakRss / 2 ** 20).toFixed(0)} MiB`);
    expect(evilAnswers).toBe(0);
    expect(await rssBytes(pid!)).toBeGreaterThan(0); // hobd is alive
    expect(peakRss - rssBefore).toBeLessThan(RSS_GROWTH_BOUND);
    expect(loudMs).toBeLessThan(quietMs * NEIGHBOUR_FACTOR);

    const started = Date.now();
    const stopped = await d.cli(['stop', 'evil']);
    const stopMs = Date.now() - started;
    console.log(`hostile guest: hob stop of the attacker took ${stopMs} ms`);
    expect(stopped.exitCode, stopped.stderr).toBe(0);
    expect(stopMs).toBeLessThan(STOP_BOUND_MS);
    const removed = await d.cli(['rm', 'evil']);
    expect(removed.exitCode, removed.stderr).toBe(0);
    expect((await d.request({ path: '/v1/sandboxes/evil' })).status).toBe(404);
    // The neighbour is unharmed.
    await timedExec();
  });
});
