/**
 * Stats and events on a real VM (one hobd, one sandbox): the sampler's figures
 * move as the guest works (CPU time while it burns CPU, disk used after it
 * writes a file), RSS and guest memory are plausible, `hob stats` prints them,
 * and the event feed delivers the sandbox's stop as it happens.
 *
 * Nothing is timed: the test compares figures from the sampler's own history
 * (one sample every 5 s), taken while the guest idles and while it burns.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventObject } from '../../daemon/wire/events.js';
import type { SandboxStatsObject, StatsList, StatsSample } from '../../daemon/wire/stats.js';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { vmDaemonUnavailable } from '../helpers/image.js';
import { sandboxShell } from '../helpers/sandbox-exec.js';
import { follow } from '../helpers/sse.js';

const missing = vmDaemonUnavailable();
if (missing) console.warn(`stats e2e tests skipped: missing ${missing}`);

const NAME = 'meter';
const MiB = 1024 * 1024;
/** The sampler's interval (core/stats.ts). */
const INTERVAL_MS = 5_000;

describe.skipIf(missing !== undefined)('stats and events on a real VM', () => {
  let d: TestDaemon;
  const { ok } = sandboxShell(() => d);

  beforeAll(async () => {
    d = await startTestDaemon();
    const r = await d.request({ method: 'POST', path: '/v1/sandboxes', body: { name: NAME } });
    expect(r.status, r.text()).toBe(201);
  });
  afterAll(async () => {
    await d?.stop();
  });

  const stats = async (): Promise<SandboxStatsObject> => {
    const r = await d.request({ path: `/v1/sandboxes/${NAME}/stats` });
    expect(r.status, r.text()).toBe(200);
    return r.json<SandboxStatsObject>();
  };
  /** The first sample taken after `afterMs` that satisfies `check`. */
  const sampleAfter = async (afterMs: number, check: (s: StatsSample) => boolean = () => true): Promise<StatsSample> => {
    for (;;) {
      const found = (await stats()).history.find((s) => Date.parse(s.at) > afterMs && check(s));
      if (found) return found;
      await new Promise((r) => setTimeout(r, 1000));
    }
  };

  it('samples VMM CPU time, RSS, guest memory and disk use; CPU time grows faster while the guest burns CPU', async () => {
    const first = await sampleAfter(0, (s) => s.guest_memory !== null && s.cpu_seconds !== null);
    expect(first.rss_bytes).toBeGreaterThan(32 * MiB);
    const mem = first.guest_memory!;
    expect(mem.total_bytes).toBeGreaterThan(256 * MiB); // the VM has 512 MiB
    expect(mem.total_bytes).toBeLessThanOrEqual(512 * MiB);
    expect(mem.used_bytes).toBeGreaterThan(0);
    expect(mem.used_bytes + mem.available_bytes).toBe(mem.total_bytes);
    expect(first.disk_used_bytes).toBeGreaterThan(0);

    // Idle window: two samples three intervals apart.
    const idleStart = await sampleAfter(Date.now());
    const idleEnd = await sampleAfter(Date.parse(idleStart.at) + 3 * INTERVAL_MS - 500);
    // Burn window: a busy loop in the guest for 20 s (guest time).
    const burnBegan = Date.now();
    const burn = ok(NAME, 'end=$(( $(date +%s) + 20 )); while [ "$(date +%s)" -lt "$end" ]; do i=0; while [ $i -lt 2000 ]; do i=$((i+1)); done; done; echo burnt');
    const burnStart = await sampleAfter(burnBegan + INTERVAL_MS);
    const burnEnd = await sampleAfter(Date.parse(burnStart.at) + 3 * INTERVAL_MS - 500);
    expect(await burn).toBe('burnt\n');
    const rate = (a: StatsSample, b: StatsSample): number => (b.cpu_seconds! - a.cpu_seconds!) / ((Date.parse(b.at) - Date.parse(a.at)) / 1000);
    const idleRate = rate(idleStart, idleEnd);
    const burnRate = rate(burnStart, burnEnd);
    expect(burnEnd.cpu_seconds!).toBeGreaterThan(idleStart.cpu_seconds!);
    expect(burnRate, `CPU seconds per second: idle ${idleRate}, burning ${burnRate}`).toBeGreaterThan(idleRate);
    expect((await stats()).history.some((s) => (s.cpu_percent ?? 0) > 0)).toBe(true);
  });

  it('shows the disk used grow after the guest writes a file', async () => {
    const before = await sampleAfter(Date.now(), (s) => s.disk_used_bytes !== null);
    await ok(NAME, 'head -c 64000000 /dev/urandom > /root/fill.bin && sync');
    const after = await sampleAfter(Date.now());
    expect(after.disk_used_bytes! - before.disk_used_bytes!).toBeGreaterThan(32 * MiB);
  });

  it('hob stats --json and --no-stream; /v1/stats lists the running sandbox', async () => {
    const one = await d.cli(['stats', NAME, '--json']);
    expect(one.exitCode, one.stderr).toBe(0);
    const parsed = JSON.parse(one.stdout) as SandboxStatsObject;
    expect(parsed).toMatchObject({ name: NAME, state: 'running', cpus: 1, memory_mib: 512, interval_seconds: 5 });
    expect(parsed.current).toMatchObject({ cpu_seconds: expect.any(Number), rss_bytes: expect.any(Number), disk_used_bytes: expect.any(Number) });
    expect(parsed.history.length).toBeGreaterThan(3);

    const all = await d.cli(['stats', '--json']);
    expect((JSON.parse(all.stdout) as SandboxStatsObject[]).map((s) => [s.name, s.history.length])).toEqual([[NAME, 0]]);
    const table = await d.cli(['stats']); // not a terminal: printed once
    expect(table.exitCode, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/^NAME\s+CPU %\s+VMM RSS\s+GUEST MEM USED \/ TOTAL\s+MEM %\s+DISK USED \/ SIZE\n/);
    expect(table.stdout).toMatch(new RegExp(`^${NAME}\\s+(\\d+\\.\\d%|-)\\s+\\d`, 'm'));
    const list = (await d.request({ path: '/v1/stats?history=1' })).json<StatsList>();
    expect(list.sandboxes.map((s) => s.name)).toEqual([NAME]);
    expect((await d.request({ path: '/v1/sandboxes/nobody/stats' })).status).toBe(404);
  });

  it('delivers the stop as an event while following, and stats stop reporting a current sample', async () => {
    const feed = await follow<EventObject>(d.socketPath, `/v1/sandboxes/${NAME}/events?follow=1&type=state`);
    expect(feed.status).toBe(200);
    const stopped = await d.cli(['stop', NAME]);
    expect(stopped.exitCode, stopped.stderr).toBe(0);
    expect(await feed.next()).toMatchObject({ sandbox: NAME, type: 'state', data: { from: 'running', to: 'stopped' } });
    feed.destroy();
    const after = await stats();
    expect(after.current).toBeNull();
    expect(after.history.length).toBeGreaterThan(0); // kept until the sandbox is destroyed
    const history = await d.cli(['events', NAME, '--type', 'state', '--json']);
    expect((JSON.parse(history.stdout) as EventObject[]).map((e) => e.data.to)).toEqual(['creating', 'running', 'stopped']);
  });
});
