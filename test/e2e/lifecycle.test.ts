/**
 * Sandbox lifecycle through the API on real VMs: parallel creates, stop and
 * transparent start, and hobd killed with SIGKILL in the middle of a create
 * and of a remove (docs/architecture.md §7: reconcile leaves no orphans).
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { withoutSpares } from '../helpers/spares.js';

interface SpriteJson {
  name: string;
  state: string;
  id: string;
}

/** The VMM processes of `d`'s sandboxes (spares left out: test/helpers/spares.ts). */
async function vmmProcessesOf(d: TestDaemon): Promise<number[]> {
  const found: Array<{ pid: number; id: string | undefined }> = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await execa('cat', [`/proc/${entry}/cmdline`], { reject: false }).then((r) => String(r.stdout));
    if (cmdline.includes(`${d.runDir}/vms/`) && cmdline.includes('qemu-system')) {
      found.push({ pid: Number(entry), id: cmdline.split(`${d.runDir}/vms/`)[1]?.split('/')[0] });
    }
  }
  return withoutSpares(d, found, (p) => p.id).map((p) => p.pid);
}

/** The sandbox subvolumes (spares left out). */
async function subvolumes(d: TestDaemon): Promise<string[]> {
  return withoutSpares(d, (await readdir(join(d.stateDir, 'pool', 'sandboxes')).catch(() => [])).sort(), (name) => name);
}

/** The VM run dirs (spares left out). */
async function runDirs(d: TestDaemon): Promise<string[]> {
  return withoutSpares(d, (await readdir(join(d.runDir, 'vms'))).sort(), (name) => name);
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('sandbox lifecycle on real VMs', () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startTestDaemon();
  });
  afterAll(async () => {
    await d?.stop();
  });

  const exec = async (name: string, argv: string[]): Promise<{ status: number; body: { stdout?: string; exit_code?: number } }> => {
    const r = await d.request({ method: 'POST', path: `/v1/sandboxes/${name}/exec`, body: { command: argv } });
    return { status: r.status, body: r.json() };
  };

  it('creates four sandboxes at once and all become usable', async () => {
    const names = ['par-a', 'par-b', 'par-c', 'par-d'];
    const results = await Promise.all(names.map((name) => d.request({ method: 'POST', path: '/v1/sandboxes', body: { name } })));
    for (const r of results) expect(r.status, r.text()).toBe(201);
    const outputs = await Promise.all(names.map((name) => exec(name, ['hostname'])));
    expect(outputs.map((o) => o.body.stdout?.trim())).toEqual(names);
    const listed = (await d.request({ path: '/v1/sandboxes' })).json<{ sprites: SpriteJson[] }>().sprites;
    for (const name of names) expect(listed.find((s) => s.name === name)?.state).toBe('running');
    await Promise.all(names.map((name) => d.request({ method: 'DELETE', path: `/v1/sandboxes/${name}` })));
    expect(await subvolumes(d)).toEqual([]);
    expect(await vmmProcessesOf(d)).toEqual([]);
  }, 900_000);

  it('keeps files across stop, and an exec on a stopped sandbox starts it', async () => {
    // Booted (cold), also where warm templates are on (e2e/warm-suites.test.ts): the next test reads its boot timelines.
    expect((await d.request({ method: 'POST', path: '/v1/sandboxes', body: { name: 'keeper', cold: true } })).status).toBe(201);
    expect((await exec('keeper', ['sh', '-c', 'echo kept > /root/f && sync'])).body.exit_code).toBe(0);
    const stopped = await d.request({ method: 'POST', path: '/v1/sandboxes/keeper/stop' });
    expect(stopped.status, stopped.text()).toBe(200);
    expect((await d.request({ path: '/v1/sandboxes/keeper' })).json<SpriteJson>().state).toBe('stopped');
    expect(await vmmProcessesOf(d)).toEqual([]);
    const after = await exec('keeper', ['cat', '/root/f']);
    expect(after.body.stdout).toBe('kept\n');
    expect((await d.request({ path: '/v1/sandboxes/keeper' })).json<SpriteJson>().state).toBe('running');
  });

  it('records each cold boot step by step, in order, and shows the last in the info', async () => {
    // keeper booted twice above: its create (which grew the filesystem) and the start by exec.
    const events = async () =>
      (await d.request({ path: '/v1/sandboxes/keeper/events?type=boot-timeline' })).json<{
        events: Array<{ data: { guest: string; total_ms: number; phases: Array<{ name: string; ms: number }>; dropped?: string[] } }>;
      }>().events;
    await waitFor('two boot timelines of keeper', async () => (await events()).length >= 2);
    const [first, second] = await events();
    const steps = ['vmm-start', 'kernel', 'initramfs', 'modules-loaded', 'root-mounted', 'init', 'agent-start', 'agent-main', 'agent-listening', 'agent-ready'];
    for (const t of [first!.data, second!.data]) {
      expect(t.guest).toBe('reported');
      // Every step was reported; one the clock mapping could not place in order (the guest's
      // clock against hobd's, under load) is listed as dropped rather than shown out of order.
      const placed = t.phases.map((p) => p.name).filter((n) => n !== 'fs-grown');
      if (t.dropped) console.log(`boot timeline of keeper: dropped ${t.dropped.join(', ')}`);
      expect(steps.filter((n) => placed.includes(n) || t.dropped?.includes(n))).toEqual(steps);
      expect(placed).toEqual(steps.filter((n) => placed.includes(n)));
      expect(t.phases.every((p, i) => i === 0 || p.ms >= t.phases[i - 1]!.ms)).toBe(true);
      expect(t.phases[0]).toEqual({ name: 'vmm-start', ms: 0 });
      expect(t.phases.at(-1)).toEqual({ name: 'agent-ready', ms: t.total_ms });
      expect(t.phases[1]!.ms).toBeGreaterThan(0); // the kernel starts after firmware
    }
    // The first boot grows the filesystem to the disk's size; the second finds it grown.
    expect(first!.data.phases.map((p) => p.name)).toContain('fs-grown');
    expect(second!.data.phases.map((p) => p.name)).not.toContain('fs-grown');
    const info = await d.cli(['info', 'keeper', '--json']);
    expect(info.exitCode, info.stderr).toBe(0);
    expect(JSON.parse(info.stdout).boot_timeline).toEqual(second!.data);
    const text = await d.cli(['info', 'keeper']);
    expect(text.stdout).toMatch(/last boot:\s+[\d.]+ s to the agent \(qemu\); steps at s: kernel [\d.]+, initramfs/);
  });

  it('a VM left running by a stopped hobd is adopted by the next one', async () => {
    await d.kill('SIGTERM');
    expect((await vmmProcessesOf(d)).length).toBe(1);
    await d.restart();
    expect((await d.request({ path: '/v1/sandboxes/keeper' })).json<SpriteJson>().state).toBe('running');
    expect((await exec('keeper', ['cat', '/root/f'])).body.stdout).toBe('kept\n');
    expect((await vmmProcessesOf(d)).length).toBe(1);
  });

  it('SIGKILL of hobd in the middle of a create: the next start undoes it and the name is free again', async () => {
    // cold: a create resumed from a warm template may be over before the kill lands.
    const pending = d.request({ method: 'POST', path: '/v1/sandboxes', body: { name: 'crash-create', cold: true } }).catch((err: Error) => err);
    // Wait until the VM process exists: the create is past the snapshot and booting.
    const before = (await vmmProcessesOf(d)).length;
    await waitFor('the new VM to start', async () => (await vmmProcessesOf(d)).length > before);
    await d.kill('SIGKILL');
    expect(await pending).toBeInstanceOf(Error);
    await d.restart();
    const listed = (await d.request({ path: '/v1/sandboxes' })).json<{ sprites: SpriteJson[] }>().sprites.map((s) => s.name);
    expect(listed).toEqual(['keeper']);
    expect((await vmmProcessesOf(d)).length).toBe(1);
    const keeper = (await d.request({ path: '/v1/sandboxes/keeper' })).json<SpriteJson>();
    expect(await subvolumes(d)).toEqual([keeper.id]);
    expect(await runDirs(d)).toEqual([keeper.id]);
    const again = await d.request({ method: 'POST', path: '/v1/sandboxes', body: { name: 'crash-create' } });
    expect(again.status, again.text()).toBe(201);
    expect((await exec('crash-create', ['true'])).body.exit_code).toBe(0);
  });

  it('SIGKILL of hobd in the middle of a remove: the next start finishes it', async () => {
    const victim = (await d.request({ path: '/v1/sandboxes/crash-create' })).json<SpriteJson>();
    const pending = d.request({ method: 'DELETE', path: '/v1/sandboxes/crash-create' }).catch((err: Error) => err);
    await waitFor('the remove to begin', async () => {
      const r = await d.request({ path: '/v1/sandboxes/crash-create' }).catch(() => undefined);
      return r === undefined || r.status === 404 || r.json<SpriteJson>().state === 'destroying';
    });
    await d.kill('SIGKILL');
    await pending;
    await d.restart();
    expect((await d.request({ path: '/v1/sandboxes/crash-create' })).status).toBe(404);
    await d.request({ path: '/healthz' });
    await waitFor('the trash to empty', async () => !(await subvolumes(d)).includes(victim.id), 30_000);
    expect((await runDirs(d)).includes(victim.id)).toBe(false);
    expect((await vmmProcessesOf(d)).length).toBe(1);
  });
});
