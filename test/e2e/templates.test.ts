/**
 * Warm templates and fresh randomness after a memory restore (issue 18, docs/architecture.md
 * §17, §18), on real VMs: one hobd with templates on builds the template of `minimal` at
 * start (its first build is killed at a crash point: the next hobd cleans it up and builds
 * again); sandboxes made from it pass a short lifecycle (a memory checkpoint, its restore and
 * a live fork: memory the clone mapped from the template file travels in later snapshots),
 * differ from each other in random state and identity, and never write the template's memory
 * file (docs/architecture.md §26); a template of another shape is never used, `cold` boots,
 * and a truncated RAM file or a corrupt device-state stream makes the create boot with an
 * event, never a broken sandbox. The cases run in order and share the daemon.
 */
import { execa } from 'execa';
import Database from 'better-sqlite3';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestDaemon, waitForTemplate, type TestDaemon } from '../helpers/daemon.js';
import { spareRows as readSpareRows } from '../helpers/spares.js';
import { sandboxShell } from '../helpers/sandbox-exec.js';

interface ProgressLine {
  type: string;
  data?: string;
}
interface TemplateJson {
  image: string;
  state: string;
  cpus: number | null;
  memory_mib: number | null;
  detail: string | null;
}

const GiB = 1024 ** 3;

async function sha256(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Processes whose command line names `needle` (a VMM left running). */
async function processesNaming(needle: string): Promise<number[]> {
  const out: number[] = [];
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(needle) && !cmdline.includes('daemon/hobd.ts')) out.push(Number(pid));
  }
  return out;
}

describe('warm templates', () => {
  let d: TestDaemon;

  const { ok } = sandboxShell(() => d);
  const templates = async (): Promise<TemplateJson[]> => {
    const r = await d.request({ path: '/v1/templates' });
    expect(r.status, r.text()).toBe(200);
    return r.json<{ templates: TemplateJson[] }>().templates;
  };
  const waitReady = (): Promise<void> => waitForTemplate(d, 'minimal');
  /** Creates through the NDJSON API; returns the progress texts. */
  const create = async (body: Record<string, unknown>): Promise<string[]> => {
    const r = await d.request({ method: 'POST', path: '/v1/sandboxes', body, headers: { accept: 'application/x-ndjson' } });
    expect(r.status, r.text()).toBe(200);
    const lines = r.text().trim().split('\n').map((l) => JSON.parse(l) as ProgressLine & { name?: string; status?: string });
    // Progress lines, `complete`, then the sandbox object.
    expect(lines.at(-2), r.text()).toMatchObject({ type: 'complete' });
    expect(lines.at(-1), r.text()).toMatchObject({ name: body['name'], status: 'running' });
    return lines.map((l) => l.data ?? '');
  };
  const events = (type: string): { sandbox_id: string | null; data: Record<string, unknown> }[] => {
    const db = new Database(join(d.stateDir, 'hob.db'), { readonly: true, fileMustExist: true });
    try {
      return (db.prepare('SELECT sandbox_id, data FROM events WHERE type = ? ORDER BY id').all(type) as { sandbox_id: string | null; data: string }[])
        .map((e) => ({ sandbox_id: e.sandbox_id, data: JSON.parse(e.data) as Record<string, unknown> }));
    } finally {
      db.close();
    }
  };
  const spareRows = () => readSpareRows(d);
  const sandboxId = async (name: string): Promise<string> => (await d.request({ path: `/v1/sandboxes/${name}` })).json<{ id: string }>().id;
  const remove = async (name: string): Promise<void> => {
    const r = await d.request({ method: 'DELETE', path: `/v1/sandboxes/${name}?force=true` });
    expect([200, 204], r.text()).toContain(r.status);
  };

  const armFile = join('/tmp', `hob-tpl-crash-${randomBytes(4).toString('hex')}`);
  const templateDir = (): string => join(d.stateDir, 'pool', 'templates', 'minimal');
  /** Makes the template writable for a moment, runs `damage`, makes it read-only again. */
  const damageTemplate = async (damage: (memoryDir: string) => Promise<void>): Promise<void> => {
    await execa('btrfs', ['property', 'set', '-ts', templateDir(), 'ro', 'false']);
    await damage(join(templateDir(), 'memory'));
    await execa('btrfs', ['property', 'set', '-ts', templateDir(), 'ro', 'true']);
  };

  beforeAll(async () => {
    // The first build dies with hobd once its VM has booted (daemon/core/crash-point.ts).
    await writeFile(armFile, 'template.booted');
    d = await startTestDaemon({ templates: true, env: { HOB_TEST_CRASH_AT: armFile } });
    await d.exited();
    await writeFile(armFile, '');
    const strays = (await readdir(join(d.stateDir, 'pool', 'templates'))).filter((n) => n.startsWith('_build_'));
    expect(strays, 'the interrupted build left its staging volume').toHaveLength(1);
    expect(await processesNaming(`${d.runDir}/vms/tpl`), 'the template VM outlives the crashed hobd').toHaveLength(1);
    await d.restart();
    await waitReady();
  });
  afterAll(async () => {
    await d?.stop();
    await rm(armFile, { force: true });
  });

  it('cleans up a build that a crash interrupted, then builds again', async () => {
    expect((await readdir(join(d.stateDir, 'pool', 'templates'))).filter((n) => n.startsWith('_build_'))).toEqual([]);
    expect(await processesNaming(`${d.runDir}/vms/tpl`)).toEqual([]);
    const netns = await readdir('/run/netns').catch(() => [] as string[]);
    expect(netns.filter((n) => n.startsWith(`${d.netnsPrefix}tpl`))).toEqual([]);
    expect(d.logs()).toContain('templates: removed interrupted builds _build_minimal_');
  });

  it('keeps the RAM in a file and only device state in the stream', async () => {
    const meta = JSON.parse(await readFile(join(templateDir(), 'template.json'), 'utf8')) as { memory: string };
    expect(meta.memory).toBe('mapped');
    expect((await stat(join(templateDir(), 'memory', 'guest-ram'))).size).toBe(512 * 2 ** 20);
    expect((await stat(join(templateDir(), 'memory', 'memory.qemu'))).size).toBeLessThan(8 * 2 ** 20);
  });

  it('lists the template and shows it in hob images ls', async () => {
    const ls = await d.cli(['templates', 'ls', '--json']);
    expect(ls.exitCode, ls.stderr).toBe(0);
    expect(JSON.parse(ls.stdout)).toMatchObject([{ image: 'minimal', state: 'ready', cpus: 1, memory_mib: 512, disk_bytes: 4 * GiB, memory_mode: 'mapped', spare: 'ready' }]);
    const images = await d.cli(['images', 'ls', '--json']);
    expect(JSON.parse(images.stdout)).toMatchObject([{ name: 'minimal', template: 'ready' }]);
    // The crashed build, then the one after the restart.
    expect(events('template').map((e) => e.data['phase'])).toEqual(['building', 'building', 'ready']);
  });

  it('keeps a spare sandbox hidden: in no list, lookup or event', async () => {
    const spares = spareRows();
    expect(spares).toHaveLength(1);
    const spare = spares[0]!;
    expect(spare.state).toBe('paused');
    expect(await processesNaming(`${d.runDir}/vms/${spare.id}`)).toHaveLength(1);
    const ls = await d.cli(['ls', '--json']);
    expect(ls.exitCode, ls.stderr).toBe(0);
    expect(JSON.parse(ls.stdout)).toEqual([]);
    expect((await d.request({ path: `/v1/sandboxes/${spare.name}` })).status).toBe(404);
    const feed = await d.request({ path: '/v1/events?limit=1000' });
    expect(feed.status, feed.text()).toBe(200);
    expect(feed.text()).not.toContain(spare.id);
    expect(feed.text()).not.toContain(spare.name);
  });

  it('creates from the spare: own identity, grown disk, fresh randomness; then a short lifecycle', async () => {
    const [spare] = spareRows();
    const progress = await create({ name: 'a', config: { storage_gb: 6 } });
    expect(progress.join('\n')).toContain('Continuing a spare sandbox resumed from the warm template of image minimal');
    expect(progress.join('\n')).toContain('Growing the disk');
    expect(progress.join('\n')).not.toContain('Booting VM');
    const aId = await sandboxId('a');
    // The sandbox is the spare, taken over; its history starts at the create.
    expect(aId).toBe(spare!.id);
    const history = await d.request({ path: '/v1/sandboxes/a/events' });
    expect(history.json<{ events: Array<{ type: string; data: Record<string, unknown> }> }>().events.map((e) => e.type === 'state' ? `${String(e.data['from'])}>${String(e.data['to'])}` : e.type))
      .toEqual(expect.arrayContaining(['null>creating', 'creating>running', 'create']));
    const created = events('create').find((e) => e.sandbox_id === aId);
    expect(created?.data).toMatchObject({ image: 'minimal', from: 'template', spare: true, reseed: 'ioctl' });
    expect((await ok('a', 'hostname')).trim()).toBe('a');
    // The template's agent ran every step of a create before its snapshot (template-warmup.ts):
    // the clone has its own identity in the files, and the policy file the template holds is
    // the clone's (unrestricted) policy, so it was kept rather than written again.
    expect(d.logs()).not.toContain('warm-up step failed');
    const machineId = createHash('sha256').update(`hob-machine-id:${aId}`).digest('hex').slice(0, 32);
    expect((await ok('a', 'cat /etc/hostname /etc/machine-id')).trim()).toBe(`a\n${machineId}`);
    const apiPolicy = await d.request({ path: '/v1/sandboxes/a/policy/network' });
    expect(JSON.parse(await ok('a', 'cat /.sprite/policy/network.json'))).toEqual(apiPolicy.json());
    // A policy set later still reaches the guest's file.
    const restricted = { rules: [{ action: 'allow', domain: 'example.com' }] };
    const set = await d.request({ method: 'POST', path: '/v1/sandboxes/a/policy/network', body: restricted });
    expect(set.status, set.text()).toBe(204);
    expect(JSON.parse(await ok('a', 'cat /.sprite/policy/network.json'))).toMatchObject(restricted);
    const reset = await d.request({ method: 'POST', path: '/v1/sandboxes/a/policy/network', body: { rules: [] } });
    expect(reset.status, reset.text()).toBe(204);
    // The guest's filesystem follows the 6 GiB disk (the template's has 4).
    const kib = Number((await ok('a', "df -k / | awk 'NR==2 {print $2}'")).trim());
    expect(kib).toBeGreaterThan(5 * 1024 * 1024);

    await ok('a', 'echo kept > /root/kept.txt && sync && echo in-ram > /dev/shm/marker');
    const cp = await d.request({ method: 'POST', path: '/v1/sandboxes/a/checkpoint', body: { memory: true } });
    expect(cp.status, cp.text()).toBe(200);
    await ok('a', 'rm /root/kept.txt && sync');
    const restored = await d.request({ method: 'POST', path: '/v1/sandboxes/a/checkpoints/v1/restore' });
    expect(restored.status, restored.text()).toBe(200);
    expect(restored.text()).toContain('Restored to v1');
    expect((await ok('a', 'cat /root/kept.txt /dev/shm/marker')).trim()).toBe('kept\nin-ram');

    const stop = await d.cli(['stop', 'a', '--json']);
    expect(stop.exitCode, stop.stderr).toBe(0);
    const start = await d.cli(['start', 'a', '--json']);
    expect(start.exitCode, start.stderr).toBe(0);
    expect((await ok('a', 'cat /root/kept.txt; hostname')).trim()).toBe('kept\na');
  });

  it('live-forks a sandbox born from the template: the memory it mapped travels in its snapshot', async () => {
    const fork = await d.request({ method: 'POST', path: '/v1/sandboxes/a/fork', body: { name: 'af', from: 'v1' } });
    expect(fork.status, fork.text()).toBe(201);
    expect((await ok('af', 'cat /dev/shm/marker /root/kept.txt; hostname')).trim()).toBe('in-ram\nkept\naf');
    await remove('af');
  });

  it('gives two sandboxes from one template different random state and identities, and never writes its memory file', async () => {
    const ramFile = join(templateDir(), 'memory', 'guest-ram');
    const before = await sha256(ramFile);
    await waitReady(); // the spare made after 'a' took the first one
    // b continues the spare; c, right after, resumes the template (the next spare is not made yet).
    expect((await create({ name: 'b' })).join('\n')).toContain('Continuing a spare sandbox');
    // A grant asked for at create reaches a guest resumed from the template as it reaches a booted one.
    const set = await d.cli(['secrets', 'set', 'tok', '--host', 'web.example', '--value-from-env', 'E2E_VALUE', '--json'], { env: { E2E_VALUE: 'v-not-in-guest' } });
    expect(set.exitCode, set.stderr).toBe(0);
    const cProgress = await create({ name: 'c', secrets: [{ secret: 'tok', env: 'TEST_TOKEN' }] });
    expect(cProgress.join('\n')).toContain('Resuming the template VM');
    const env = await ok('c', 'env');
    expect(env).toMatch(/^TEST_TOKEN=hob-secret-/m);
    expect(env).toContain('NODE_EXTRA_CA_CERTS=/etc/hob/secret-proxy-ca.pem');
    // Both write to their memory: a tmpfs file, and the kernel's own pages as it allocates them.
    await Promise.all([ok('b', 'yes b | head -c 32M > /dev/shm/fill'), ok('c', 'yes c | head -c 32M > /dev/shm/fill')]);
    expect((await ok('b', 'head -c 2 /dev/shm/fill')).trim()).toBe('b');
    expect((await ok('c', 'head -c 2 /dev/shm/fill')).trim()).toBe('c');
    const probe = 'head -c 32 /dev/urandom | od -An -tx1 | tr -d " \\n"; echo; cat /proc/sys/kernel/random/boot_id /etc/machine-id; hostname';
    // a and b: two spares; c: the template resumed by its create.
    const [a, b, c] = await Promise.all([ok('a', probe), ok('b', probe), ok('c', probe)]);
    const [aRandom, aBoot, aMachine] = a.trim().split('\n');
    const [bRandom, bBoot, bMachine, bHost] = b.trim().split('\n');
    const [cRandom, cBoot, cMachine, cHost] = c.trim().split('\n');
    expect(bRandom).toMatch(/^[0-9a-f]{64}$/);
    expect(new Set([aRandom, bRandom, cRandom]).size).toBe(3);
    expect(bBoot).toMatch(/^[0-9a-f-]{36}$/);
    expect(new Set([aBoot, bBoot, cBoot]).size).toBe(3);
    expect(new Set([aMachine, bMachine, cMachine]).size).toBe(3);
    expect([bHost, cHost]).toEqual(['b', 'c']);
    // The same probe in the kernel's view: a reseed from the host's entropy was forced in both.
    for (const name of ['b', 'c']) {
      const id = await sandboxId(name);
      expect(events('create').find((e) => e.sandbox_id === id)?.data).toMatchObject({ from: 'template', reseed: 'ioctl' });
    }
    await Promise.all([remove('b'), remove('c')]);
    expect(await sha256(ramFile)).toBe(before);
  });

  it('boots with --cold, and for a shape the template does not have', async () => {
    const cold = await d.cli(['create', 'cold', '--cold', '--json']);
    expect(cold.exitCode, cold.stderr).toBe(0);
    const coldId = JSON.parse(cold.stdout).id as string;
    expect(events('create').find((e) => e.sandbox_id === coldId)?.data).toMatchObject({ from: 'image' });
    await remove('cold');

    const progress = (await create({ name: 'big', config: { ram_mb: 640 } })).join('\n');
    expect(progress).toContain('No warm start: the template of minimal has 1 vCPU and 512 MiB, not 1 and 640');
    expect(progress).toContain('Booting VM (1 vCPU, 640 MiB');
    expect((await ok('big', "awk '/MemTotal/ {print $2}' /proc/meminfo")).trim()).not.toBe('');
    await remove('big');
  });

  it('replaces at start-up the spare an earlier hobd left, and adopts the sandboxes as before', async () => {
    await waitReady();
    const [old] = spareRows();
    expect(old).toBeDefined();
    await d.kill('SIGTERM');
    // hobd leaves its VMs running when it stops, the spare's too.
    expect(await processesNaming(`${d.runDir}/vms/${old!.id}`)).toHaveLength(1);
    await d.restart();
    await waitReady();
    expect(d.logs()).toContain(`"sparesRemoved":["${old!.name}"]`);
    const now = spareRows();
    expect(now).toHaveLength(1);
    expect(now[0]!.id).not.toBe(old!.id);
    expect(await processesNaming(`${d.runDir}/vms/${old!.id}`)).toEqual([]);
    expect((await ok('a', 'hostname')).trim()).toBe('a');
  });

  it('a crash right after a create claimed the spare: the next hobd undoes that create, and the name is free again', async () => {
    await waitReady();
    const [spare] = spareRows();
    await writeFile(armFile, 'create.spare-claimed');
    const pending = d.request({ method: 'POST', path: '/v1/sandboxes', body: { name: 'crashy' } }).catch((err: Error) => err);
    await d.exited();
    await writeFile(armFile, '');
    expect(await pending).toBeInstanceOf(Error);
    await d.restart();
    await waitReady();
    expect((await d.request({ path: '/v1/sandboxes/crashy' })).status).toBe(404);
    expect(d.logs()).toMatch(/"undoneCreates":\["crashy"\]/);
    expect(await processesNaming(`${d.runDir}/vms/${spare!.id}`)).toEqual([]);
    expect(await readdir(join(d.stateDir, 'pool', 'sandboxes'))).not.toContain(spare!.id);
    expect((await create({ name: 'crashy' })).join('\n')).toContain('Continuing a spare sandbox');
    expect((await ok('crashy', 'hostname')).trim()).toBe('crashy');
    await remove('crashy');
  });

  it('boots instead when the template RAM file is truncated, with an event, and the sandbox works', async () => {
    await damageTemplate((dir) => truncate(join(dir, 'guest-ram'), 256 * 2 ** 20));

    // The spare was resumed from the files before the damage: it no longer counts.
    const progress = (await create({ name: 'e' })).join('\n');
    expect(progress).not.toContain('Continuing a spare sandbox');
    expect(progress).toContain('The warm template could not be used');
    expect(progress).toContain('Booting VM');
    const id = await sandboxId('e');
    expect(events('template-fallback').find((e) => e.sandbox_id === id)?.data['error']).toMatch(/guest-ram has 268435456 bytes/);
    expect(events('template').map((e) => e.data['phase'])).toContain('discarded');
    expect((await ok('e', 'hostname')).trim()).toBe('e');
  });

  it('boots instead when the device-state stream is corrupt (same size), with an event', async () => {
    await waitReady(); // the rebuild after the discard above
    await damageTemplate(async (dir) => {
      const fh = await open(join(dir, 'memory.qemu'), 'r+');
      try {
        // Garbage from the start: QEMU checks the stream's structure (magic, version, sections),
        // not the content of RAM pages; neither path did (docs/architecture.md §26).
        await fh.write(randomBytes(4096), 0, 4096, 0);
      } finally {
        await fh.close();
      }
    });
    const progress = (await create({ name: 'g' })).join('\n');
    expect(progress).toContain('The warm template could not be used');
    const id = await sandboxId('g');
    expect(events('template-fallback').find((e) => e.sandbox_id === id)?.data['error']).toMatch(/restore failed/);
    expect((await ok('g', 'hostname')).trim()).toBe('g');
    await remove('g');
  });

  it('removes the template with its image', async () => {
    await Promise.all([remove('a'), remove('e')]);
    const rm = await d.cli(['images', 'rm', 'minimal', '--json']);
    expect(rm.exitCode, rm.stderr).toBe(0);
    expect((await templates()).filter((t) => t.state === 'ready')).toEqual([]);
    // A rebuild (after the discards above) that was committing as it was removed undoes itself.
    const left = async () => (await execa('ls', [join(d.stateDir, 'pool', 'templates')])).stdout.split('\n').filter((n) => n === 'minimal');
    for (let i = 0; i < 240 && (await left()).length > 0; i++) await new Promise((r) => setTimeout(r, 250));
    expect(await left()).toEqual([]);
    // Its spare goes with it (in the background), VMM and all.
    const spares = spareRows();
    for (let i = 0; i < 120 && spareRows().length > 0; i++) await new Promise((r) => setTimeout(r, 250));
    expect(spareRows()).toEqual([]);
    for (const spare of spares) expect(await processesNaming(`${d.runDir}/vms/${spare.id}`)).toEqual([]);
  });
});
