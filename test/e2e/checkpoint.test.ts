/**
 * Checkpoint, restore, fork and diff on real VMs (issue 4, docs/architecture.md §3
 * and §7), through the API. One parent sandbox carries most cases, in order:
 * each `it` leaves it running for the next.
 */
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { sandboxShell } from '../helpers/sandbox-exec.js';

interface ProgressLine {
  type: string;
  data?: string;
  error?: string;
  code?: string;
  id?: string;
}
interface CheckpointJson {
  id: string;
  comment: string;
  is_auto: boolean;
  kind: string;
  size_bytes: number | null;
}
interface DiffJson {
  entries: { path: string; change: string; type: string }[];
}

const NAME = 'cp1';
const HASH_FILES = 'find /root /etc/motd -type f -print0 | sort -z | xargs -0 sha256sum';

describe('checkpoints on real VMs', () => {
  let d: TestDaemon;
  let sandboxId = '';

  beforeAll(async () => {
    d = await startTestDaemon();
    const r = await d.request({ method: 'POST', path: '/v1/sandboxes', body: { name: NAME } });
    expect(r.status, r.text()).toBe(201);
    sandboxId = r.json<{ id: string }>().id;
  });
  afterAll(async () => {
    await d?.stop();
  });

  const { exec, ok } = sandboxShell(() => d);
  /** Runs an NDJSON operation; returns its lines, the last one checked to be `complete`. */
  const operation = async (path: string, body: object = {}): Promise<ProgressLine[]> => {
    const r = await d.request({ method: 'POST', path, body });
    expect(r.status, r.text()).toBe(200);
    expect(String(r.headers['content-type'])).toContain('application/x-ndjson');
    const lines = r.text().trim().split('\n').map((l) => JSON.parse(l) as ProgressLine);
    expect(lines.at(-1), r.text()).toMatchObject({ type: 'complete' });
    return lines;
  };
  const checkpoint = async (name: string, body: object = {}): Promise<string> => {
    const last = (await operation(`/v1/sandboxes/${name}/checkpoint`, body)).at(-1)!;
    const id = /Checkpoint (v\d+) created/.exec(last.data ?? '')?.[1];
    expect(id, JSON.stringify(last)).toBeDefined();
    return id!;
  };
  const restore = (name: string, id: string) => operation(`/v1/sandboxes/${name}/checkpoints/${id}/restore`);
  const checkpoints = async (name: string, includeAuto = false): Promise<CheckpointJson[]> => {
    const r = await d.request({ path: `/v1/sandboxes/${name}/checkpoints${includeAuto ? '?includeAuto=true' : ''}` });
    expect(r.status, r.text()).toBe(200);
    return r.json<CheckpointJson[]>();
  };
  /** The data of the sandbox's last `restore` event. */
  const lastRestore = async (name: string): Promise<{ checkpoint: string; disk: string; changed_bytes?: number }> => {
    const r = await d.request({ path: `/v1/sandboxes/${name}/events?type=restore` });
    expect(r.status, r.text()).toBe(200);
    return r.json<{ events: Array<{ data: { checkpoint: string; disk: string; changed_bytes?: number } }> }>().events.at(-1)!.data;
  };
  const checkpointDirs = async (): Promise<string[]> => (await readdir(join(d.stateDir, 'pool', 'checkpoints', sandboxId)).catch(() => [])).sort();

  it('restores every file byte for byte after rm -rf and dd', async () => {
    await ok(NAME, 'mkdir -p /root/data/sub && head -c 300000 /dev/urandom > /root/data/a.bin && echo hello > /root/data/sub/b.txt && echo motd > /etc/motd && ln -s a.bin /root/data/link && sync');
    const before = await ok(NAME, HASH_FILES);
    expect(before).toContain('/root/data/a.bin');
    const v1 = await checkpoint(NAME, { comment: 'before the damage' });
    expect(v1).toBe('v1');
    await ok(NAME, 'dd if=/dev/urandom of=/etc/motd bs=1k count=4 conv=fsync 2>/dev/null && rm -rf /root/data && sync');
    expect(await ok(NAME, HASH_FILES)).not.toBe(before);

    const lines = await restore(NAME, 'v1');
    expect(lines.map((l) => l.data ?? '').join('\n')).toMatch(/automatic checkpoint/i);
    expect(await ok(NAME, HASH_FILES)).toBe(before);
    expect((await ok(NAME, 'readlink /root/data/link')).trim()).toBe('a.bin');
    // The disk was changed in place (docs/architecture.md §30): only what differed, far less than the disk.
    const event = await lastRestore(NAME);
    expect(event).toMatchObject({ checkpoint: 'v1', disk: 'in-place' });
    expect(event.changed_bytes).toBeGreaterThan(0);
    expect(event.changed_bytes).toBeLessThan(256 * 1024 * 1024);

    const listed = await checkpoints(NAME);
    expect(listed.map((c) => c.id)).toEqual(['v1']);
    expect(listed[0]).toMatchObject({ comment: 'before the damage', is_auto: false, kind: 'disk' });
    const all = await checkpoints(NAME, true);
    expect(all.map((c) => [c.id, c.is_auto])).toEqual([['v1', false], ['v2', true]]);
    expect(all[1]?.comment).toContain('before restore to v1');
    for (const c of all) expect(typeof c.size_bytes).toBe('number');
  });

  it('restores a guest whose root block device was overwritten', async () => {
    const before = await ok(NAME, HASH_FILES);
    // Kills the filesystem under the guest: the superblock and the first block groups are gone.
    const wreck = d.request({ method: 'POST', path: `/v1/sandboxes/${NAME}/exec`, body: { command: ['sh', '-c', 'dd if=/dev/zero of=/dev/vda bs=1M count=16 conv=fsync 2>/dev/null; echo 3 > /proc/sys/vm/drop_caches; ls /usr/bin > /dev/null'] } }).catch(() => undefined);
    // The wrecked guest may never answer this exec: the restore must not care.
    await Promise.race([wreck, new Promise((r) => setTimeout(r, 20_000))]);
    await restore(NAME, 'v1');
    expect(await ok(NAME, HASH_FILES)).toBe(before);
    // What the guest overwrote came back from the checkpoint, in place.
    expect(await lastRestore(NAME)).toMatchObject({ disk: 'in-place', changed_bytes: expect.any(Number) });
    expect((await lastRestore(NAME)).changed_bytes).toBeGreaterThan(0);
  });

  it('a checkpoint taken while a process writes is clean for e2fsck', async () => {
    await ok(NAME, "mkdir -p /root/churn && setsid sh -c 'i=0; while true; do head -c 65536 /dev/urandom > /root/churn/f$((i % 40)); i=$((i+1)); done' > /dev/null 2>&1 < /dev/null & echo $! > /dev/shm/churn.pid");
    await new Promise((r) => setTimeout(r, 2000));
    const dirsBefore = await checkpointDirs();
    const lines = await operation(`/v1/sandboxes/${NAME}/checkpoint`, { comment: 'under load' });
    expect(lines.map((l) => l.data).join('\n')).toContain('Guest filesystem frozen');
    const added = (await checkpointDirs()).filter((x) => !dirsBefore.includes(x));
    expect(added).toHaveLength(1);
    const disk = join(d.stateDir, 'pool', 'checkpoints', sandboxId, added[0]!, 'disk.img');
    const fsck = await execa('e2fsck', ['-n', '-f', disk], { reject: false });
    expect(fsck.exitCode, `${fsck.stdout}\n${fsck.stderr}`).toBe(0);
    // The writer is a session leader (setsid): its process group goes with it.
    await ok(NAME, 'kill -- -$(cat /dev/shm/churn.pid)');
  });

  it('a live checkpoint resumes a counter where it was', async () => {
    await ok(NAME, "setsid sh -c 'i=0; while true; do i=$((i+1)); echo $i > /dev/shm/counter; sleep 0.2; done' > /dev/null 2>&1 < /dev/null & echo $! > /dev/shm/counter.pid");
    await new Promise((r) => setTimeout(r, 1500));
    const pid = (await ok(NAME, 'cat /dev/shm/counter.pid')).trim();
    const atCheckpoint = Number(await ok(NAME, 'cat /dev/shm/counter'));
    const live = await checkpoint(NAME, { comment: 'live', memory: true });
    expect((await checkpoints(NAME)).find((c) => c.id === live)?.kind).toBe('live');
    // Memory written after the checkpoint (tmpfs) must be gone after the restore; the counter must not restart from 0.
    await ok(NAME, 'echo after > /dev/shm/after-checkpoint');
    await new Promise((r) => setTimeout(r, 3000));
    expect(Number(await ok(NAME, 'cat /dev/shm/counter'))).toBeGreaterThan(atCheckpoint);

    await restore(NAME, live);
    const resumed = Number(await ok(NAME, 'cat /dev/shm/counter'));
    expect(resumed).toBeGreaterThanOrEqual(atCheckpoint);
    expect((await exec(NAME, 'cat /dev/shm/after-checkpoint')).exit_code).not.toBe(0);
    // The same process goes on counting: it was never restarted.
    expect((await ok(NAME, `cat /dev/shm/counter.pid && kill -0 ${pid} && echo alive`)).trim()).toBe(`${pid}\nalive`);
    await new Promise((r) => setTimeout(r, 2000));
    expect(Number(await ok(NAME, 'cat /dev/shm/counter'))).toBeGreaterThan(resumed);
  });

  it('a fork runs beside its parent with its own identity and diverges', async () => {
    const r = await d.request({ method: 'POST', path: `/v1/sandboxes/${NAME}/fork`, body: { name: 'cp1-fork' } });
    expect(r.status, r.text()).toBe(201);
    expect((await ok('cp1-fork', 'hostname')).trim()).toBe('cp1-fork');
    const [parentId, forkId] = [await ok(NAME, 'cat /etc/machine-id'), await ok('cp1-fork', 'cat /etc/machine-id')];
    expect(forkId).not.toBe(parentId);
    expect(await ok('cp1-fork', 'cat /root/data/sub/b.txt')).toBe('hello\n');
    await ok('cp1-fork', 'echo fork-only > /root/fork.txt && rm /root/data/sub/b.txt');
    await ok(NAME, 'echo parent-only > /root/parent.txt');
    expect((await exec(NAME, 'cat /root/fork.txt')).exit_code).not.toBe(0);
    expect(await ok(NAME, 'cat /root/data/sub/b.txt')).toBe('hello\n');
    expect((await exec('cp1-fork', 'cat /root/parent.txt')).exit_code).not.toBe(0);
    const sandboxes = (await d.request({ path: '/v1/sandboxes' })).json<{ sprites: { name: string; status: string }[] }>().sprites;
    expect(sandboxes.filter((s) => s.name.startsWith('cp1')).map((s) => s.status)).toEqual(['running', 'running']);
  });

  it('a fork from a live checkpoint resumes its processes under a new hostname', async () => {
    const live = (await checkpoints(NAME)).find((c) => c.kind === 'live')!.id;
    const r = await d.request({ method: 'POST', path: `/v1/sandboxes/${NAME}/fork`, body: { name: 'cp1-live', from: live } });
    expect(r.status, r.text()).toBe(201);
    expect((await ok('cp1-live', 'hostname; cat /etc/hostname')).trim()).toBe('cp1-live\ncp1-live');
    const pid = (await ok('cp1-live', 'cat /dev/shm/counter.pid')).trim();
    expect((await ok('cp1-live', `kill -0 ${pid} && echo alive`)).trim()).toBe('alive');
    expect(await ok('cp1-live', 'cat /etc/machine-id')).not.toBe(await ok(NAME, 'cat /etc/machine-id'));
    expect((await d.request({ method: 'DELETE', path: '/v1/sandboxes/cp1-live' })).status).toBe(204);
  });

  it('diff reports exactly the scripted adds, modifications and deletes', async () => {
    await ok(NAME, 'mkdir -p /root/difft/gone && echo same > /root/difft/same.txt && echo old > /root/difft/mod.txt && echo bye > /root/difft/del.txt && echo x > /root/difft/gone/inner && sync');
    const base = await checkpoint(NAME, { comment: 'diff base' });
    await ok(NAME, 'cd /root/difft && echo new > added.txt && echo changed > mod.txt && rm del.txt && rm -r gone && mkdir newdir && echo n > newdir/f && sync');
    const current = await d.request({ path: `/v1/sandboxes/${NAME}/diff?from=${base}&path=/root/difft` });
    expect(current.status, current.text()).toBe(200);
    const summary = (j: DiffJson) => j.entries.map((e) => `${e.change} ${e.path}`).sort();
    const expected = [
      'added /root/difft/added.txt',
      'added /root/difft/newdir',
      'added /root/difft/newdir/f',
      'deleted /root/difft/del.txt',
      'deleted /root/difft/gone',
      'deleted /root/difft/gone/inner',
      'modified /root/difft/mod.txt',
    ];
    expect(summary(current.json<DiffJson>())).toEqual(expected);
    const next = await checkpoint(NAME, { comment: 'diff next' });
    const between = await d.request({ path: `/v1/sandboxes/${NAME}/diff?from=${base}&to=${next}&path=/root/difft` });
    expect(summary(between.json<DiffJson>())).toEqual(expected);
    const file = await d.request({ path: `/v1/sandboxes/${NAME}/diff?from=${base}&to=${next}&file=/root/difft/mod.txt` });
    expect(file.status, file.text()).toBe(200);
    expect(file.text()).toContain('-old');
    expect(file.text()).toContain('+changed');
    // The temporary snapshot of the current state is gone again.
    expect((await checkpointDirs()).filter((n) => n.startsWith('tmp-'))).toEqual([]);
  });

  it('the CLI creates, lists, diffs, restores and removes checkpoints', async () => {
    const created = await d.cli(['checkpoint', 'create', NAME, '-m', 'from the cli']);
    expect(created.exitCode, created.stderr).toBe(0);
    const id = /Checkpoint (v\d+) created/.exec(created.stdout + created.stderr)?.[1];
    expect(id).toBeDefined();
    const listed = await d.cli(['checkpoint', 'ls', NAME, '--json']);
    expect(listed.exitCode, listed.stderr).toBe(0);
    const rows = JSON.parse(listed.stdout) as { id: string; comment: string }[];
    expect(rows.find((r) => r.id === id)?.comment).toBe('from the cli');
    await ok(NAME, 'echo cli > /root/cli.txt && sync');
    const diff = await d.cli(['diff', NAME, id!, '--path', '/root', '--json']);
    expect(diff.exitCode, diff.stderr).toBe(0);
    expect(JSON.stringify(JSON.parse(diff.stdout))).toContain('/root/cli.txt');
    const restored = await d.cli(['restore', NAME, id!]);
    expect(restored.exitCode, restored.stderr).toBe(0);
    expect((await exec(NAME, 'cat /root/cli.txt')).exit_code).not.toBe(0);
    const removed = await d.cli(['checkpoint', 'rm', NAME, id!]);
    expect(removed.exitCode, removed.stderr).toBe(0);
    expect((await checkpoints(NAME)).map((c) => c.id)).not.toContain(id);
  }, 900_000);

  it('answers bad requests without changing anything', async () => {
    const ids = async () => (await checkpoints(NAME, true)).map((c) => c.id);
    const before = await ids();
    expect((await d.request({ path: `/v1/sandboxes/${NAME}/checkpoints/v999` })).status).toBe(404);
    expect((await d.request({ method: 'POST', path: `/v1/sandboxes/${NAME}/checkpoints/v999/restore` })).status).toBe(404);
    expect((await d.request({ method: 'DELETE', path: `/v1/sandboxes/${NAME}/checkpoints/v999` })).status).toBe(404);
    expect((await d.request({ method: 'POST', path: '/v1/sandboxes/nope/checkpoint', body: {} })).status).toBe(404);
    expect((await d.request({ method: 'POST', path: `/v1/sandboxes/${NAME}/checkpoint`, body: { comment: 'x'.repeat(5000) } })).status).toBe(400);
    expect((await d.request({ method: 'POST', path: `/v1/sandboxes/${NAME}/fork`, body: { name: 'Bad Name' } })).status).toBe(400);
    expect((await d.request({ path: `/v1/sandboxes/${NAME}/diff?from=v1&path=relative` })).status).toBe(400);
    expect(await ids()).toEqual(before);

    // A restore holds the sandbox: a checkpoint meanwhile gets 409.
    const restoring = d.request({ method: 'POST', path: `/v1/sandboxes/${NAME}/checkpoints/v1/restore` });
    await new Promise((r) => setTimeout(r, 300));
    const clash = await d.request({ method: 'POST', path: `/v1/sandboxes/${NAME}/checkpoint`, body: {} });
    expect(clash.status, clash.text()).toBe(409);
    expect((await restoring).text()).toContain('"complete"');
  });

  it('a full pool fails the checkpoint with 507 and leaves the sandbox as it was', async () => {
    const ids = async () => (await checkpoints(NAME, true)).map((c) => c.id);
    const before = await ids();
    const pool = join(d.stateDir, 'pool');
    const usage = await execa('btrfs', ['filesystem', 'usage', '-b', pool]);
    let size = Number(/Free \(estimated\):\s+(\d+)/.exec(String(usage.stdout))?.[1]);
    const fillers: string[] = [];
    try {
      while (size > 8 * 1024 ** 2) {
        const file = join(pool, `filler-${fillers.length}`);
        const r = await execa('fallocate', ['-l', String(size), file], { reject: false });
        if (r.exitCode === 0) fillers.push(file);
        else size = Math.floor(size / 2);
      }
      const r = await d.request({ method: 'POST', path: `/v1/sandboxes/${NAME}/checkpoint`, body: { memory: true } });
      expect(r.status, r.text()).toBe(507);
      expect(r.json<{ error: string }>().error).toBe('pool_full');
    } finally {
      for (const file of fillers) await rm(file, { force: true });
    }
    expect(await ids()).toEqual(before);
    expect((await ok(NAME, 'echo alive')).trim()).toBe('alive');
  });

  it('deletes a checkpoint and its subvolume', async () => {
    const dirs = await checkpointDirs();
    const r = await d.request({ method: 'DELETE', path: `/v1/sandboxes/${NAME}/checkpoints/v1` });
    expect(r.status, r.text()).toBe(204);
    expect((await checkpoints(NAME, true)).map((c) => c.id)).not.toContain('v1');
    await new Promise((r) => setTimeout(r, 500));
    expect((await checkpointDirs()).length).toBe(dirs.length - 1);
    expect((await d.request({ path: `/v1/sandboxes/${NAME}/checkpoints/v1` })).status).toBe(404);
  });
});
