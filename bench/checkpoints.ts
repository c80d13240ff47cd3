/**
 * Checkpoint, restore and fork measurements (issue 4, docs/architecture.md §10), as
 * ratios measured side by side in one run:
 * - checkpoint of a sandbox holding 2 GiB vs an empty one (target <= 1.5x);
 * - checkpoint vs a full copy of the disk file (target >= 50x faster).
 *   'checkpoint' = the API call on the running sandbox (guest frozen, snapshot,
 *   row, guest thawed) until its stream's last line, after which the checkpoint
 *   is durable (btrfs commits the snapshot, SQLite syncs the row) and listed
 *   (checked right after, untimed). 'full copy' = what a user would do instead:
 *   `cp --reflink=never` of the running sandbox's disk file (holes skipped,
 *   every data block copied), timed once as cp alone and once until the copy
 *   is on disk (fsync), the durable equivalent of a checkpoint;
 * - restore to exec-ready vs a cold boot;
 * - pool space of 10 forks of the 2 GiB sandbox vs the sandbox alone (target <= 1.1x);
 * - live checkpoint time against guest memory size.
 */
import { rm } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import type { TestDaemon } from '../test/helpers/daemon.js';
import { median, time, type Record } from './measure.js';

const GiB = 1024 ** 3;

export async function benchCheckpoints(d: TestDaemon, record: Record): Promise<void> {
  const api = async (method: string, path: string, body?: object) => {
    const r = await d.request({ method, path, ...(body ? { body } : {}) });
    if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${r.text()}`);
    if (r.text().includes('"type":"error"')) throw new Error(`${method} ${path}: ${r.text()}`);
    return r;
  };
  const sh = (name: string, script: string) => api('POST', `/v1/sandboxes/${name}/exec`, { command: ['sh', '-c', script] });
  const checkpoint = (name: string, body: object = {}) => api('POST', `/v1/sandboxes/${name}/checkpoint`, body);
  const readUsed = async (): Promise<number> => {
    await execa('btrfs', ['filesystem', 'sync', join(d.stateDir, 'pool')]);
    const out = String((await execa('btrfs', ['filesystem', 'usage', '-b', join(d.stateDir, 'pool')])).stdout);
    return Number(/Used:\s+(\d+)/.exec(out)?.[1] ?? NaN);
  };
  // Deleted files and subvolumes (the trash, the copy below) are freed by btrfs in the
  // background: wait until the figure settles, or it drifts between two readings.
  const poolUsed = async (): Promise<number> => {
    await execa('btrfs', ['subvolume', 'sync', join(d.stateDir, 'pool')]).catch(() => undefined);
    let last = await readUsed();
    for (let i = 0; i < 60; i++) {
      await new Promise((r) => setTimeout(r, 1000));
      const now = await readUsed();
      if (Math.abs(now - last) < 4 * 1024 ** 2) return now;
      last = now;
    }
    return last;
  };

  record('host load average (1 min) at the start', loadavg()[0]!, '', 'other VMs share the cores: figures are noisy');
  const usedAtStart = await poolUsed();
  await api('POST', '/v1/sandboxes', { name: 'ck-empty' });
  await api('POST', '/v1/sandboxes', { name: 'ck-full' });
  const usedEmpty = await poolUsed();
  // 2 GiB of incompressible data: a 64 MiB random seed written 32 times (urandom itself is slow under TCG).
  await sh('ck-full', 'head -c 67108864 /dev/urandom > /root/seed && for i in $(seq 1 31); do cat /root/seed >> /root/big; done && mv /root/seed /root/seed.keep && sync');
  const usedFull = await poolUsed();

  /** Checkpoints `name` (running) `n` times; each is checked to be listed once the call returned. */
  const samples = async (name: string, n = 5): Promise<number[]> => {
    const ms: number[] = [];
    for (let i = 0; i < n; i++) {
      const [elapsed, r] = await time(() => checkpoint(name));
      const id = /"id":"(v\d+)"/.exec(r.text())?.[1];
      const listed = (await api('GET', `/v1/sandboxes/${name}/checkpoints`)).json<{ id: string }[]>().map((c) => c.id);
      if (!id || !listed.includes(id)) throw new Error(`checkpoint ${id ?? '?'} of ${name} is not listed after the call returned`);
      ms.push(elapsed);
    }
    return ms;
  };
  const fmt = (ms: number[]): string => `samples ${ms.map((v) => Math.round(v)).join(', ')} ms`;
  const emptySamples = await samples('ck-empty');
  const fullSamples = await samples('ck-full');
  const emptyMs = median(emptySamples);
  const fullMs = median(fullSamples);
  record('checkpoint, empty running sandbox (median of 5)', emptyMs, 'ms', `target <= 50 ms on KVM; ${fmt(emptySamples)}`);
  record('checkpoint, running sandbox holding 2 GiB (median of 5)', fullMs, 'ms', fmt(fullSamples));
  record('checkpoint 2 GiB vs empty', fullMs / emptyMs, 'ratio', 'target <= 1.5');

  // The user's alternative: copy the running sandbox's disk file (no reflink; holes stay holes).
  const fullId = (await api('GET', '/v1/sandboxes/ck-full')).json<{ id: string }>().id;
  const disk = join(d.stateDir, 'pool', 'sandboxes', fullId, 'disk.img');
  const copy = join(d.stateDir, 'pool', 'bench-copy.img');
  const [copyMs] = await time(() => execa('cp', ['--reflink=never', disk, copy]));
  await rm(copy, { force: true });
  await poolUsed();
  const [durableCopyMs] = await time(async () => {
    await execa('cp', ['--reflink=never', disk, copy]);
    await execa('sync', [copy]);
  });
  await rm(copy, { force: true });
  record('full copy of the 2 GiB sandbox disk (cp --reflink=never)', copyMs, 'ms', 'the copy may still sit in the page cache');
  record('full copy of the 2 GiB sandbox disk, until on disk (cp + fsync)', durableCopyMs, 'ms');
  record('full copy vs checkpoint', copyMs / fullMs, 'ratio', 'target >= 50');
  record('full copy until on disk vs checkpoint', durableCopyMs / fullMs, 'ratio', 'both durable');

  const [restoreMs] = await time(async () => {
    await api('POST', '/v1/sandboxes/ck-full/checkpoints/v1/restore');
    await sh('ck-full', 'true');
  });
  await api('POST', '/v1/sandboxes/ck-full/stop');
  const [coldMs] = await time(() => sh('ck-full', 'true'));
  record('restore (disk checkpoint) to exec-ready', restoreMs, 'ms', 'target <= 300 ms on KVM');
  record('cold boot to exec-ready', coldMs, 'ms');
  record('restore vs cold boot', restoreMs / coldMs, 'ratio', 'a disk restore = the disk restored in place + boot: ~1');

  await api('POST', '/v1/sandboxes/ck-empty/stop');
  const usedBeforeForks = await poolUsed();
  for (let i = 0; i < 10; i++) {
    await api('POST', '/v1/sandboxes/ck-full/fork', { name: `ck-fork-${i}`, from: 'v1' });
    await api('POST', `/v1/sandboxes/ck-fork-${i}/stop`);
  }
  const usedForks = await poolUsed();
  const oneSandbox = usedFull - usedEmpty + (usedEmpty - usedAtStart) / 2;
  record('pool space: one 2 GiB sandbox', oneSandbox / GiB, 'GiB');
  record('pool space: 10 forks of it (added)', (usedForks - usedBeforeForks) / GiB, 'GiB');
  record('pool space of sandbox + 10 forks vs the sandbox alone', (oneSandbox + usedForks - usedBeforeForks) / oneSandbox, 'ratio', 'target <= 1.1');
  for (let i = 0; i < 10; i++) await api('DELETE', `/v1/sandboxes/ck-fork-${i}`);
  await api('DELETE', '/v1/sandboxes/ck-full');
  await api('DELETE', '/v1/sandboxes/ck-empty');

  const live: [number, number][] = [];
  for (const mib of [256, 1024]) {
    const name = `ck-mem-${mib}`;
    await api('POST', '/v1/sandboxes', { name, config: { ram_mb: mib } });
    const [ms] = await time(() => checkpoint(name, { memory: true }));
    live.push([mib, ms]);
    record(`live checkpoint, ${mib} MiB guest`, ms, 'ms');
    await api('DELETE', `/v1/sandboxes/${name}`);
  }
  record('live checkpoint time 1024 vs 256 MiB', live[1]![1] / live[0]![1], 'ratio', 'memory is written whole: grows with RAM size');
  record('host load average (1 min) at the end', loadavg()[0]!, '');
}
