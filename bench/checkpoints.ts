/**
 * Checkpoint, restore and fork measurements (issue 4, design section 10), as
 * ratios measured side by side in one run:
 * - checkpoint of a sandbox holding 2 GiB vs an empty one (target <= 1.5x);
 * - checkpoint vs a full copy of the disk file (target >= 50x faster);
 * - restore to exec-ready vs a cold boot;
 * - pool space of 10 forks of the 2 GiB sandbox vs the sandbox alone (target <= 1.1x);
 * - live checkpoint time against guest memory size.
 */
import { rm } from 'node:fs/promises';
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

  const usedAtStart = await poolUsed();
  await api('POST', '/v1/sandboxes', { name: 'ck-empty' });
  await api('POST', '/v1/sandboxes', { name: 'ck-full' });
  const usedEmpty = await poolUsed();
  // 2 GiB of incompressible data: a 64 MiB random seed written 32 times (urandom itself is slow under TCG).
  await sh('ck-full', 'head -c 67108864 /dev/urandom > /root/seed && for i in $(seq 1 31); do cat /root/seed >> /root/big; done && mv /root/seed /root/seed.keep && sync');
  const usedFull = await poolUsed();

  const samples = async (name: string): Promise<number> => {
    const ms: number[] = [];
    for (let i = 0; i < 3; i++) ms.push((await time(() => checkpoint(name)))[0]);
    return median(ms);
  };
  const emptyMs = await samples('ck-empty');
  const fullMs = await samples('ck-full');
  record('checkpoint, empty sandbox (median of 3)', emptyMs, 'ms', 'target <= 50 ms on KVM');
  record('checkpoint, sandbox holding 2 GiB (median of 3)', fullMs, 'ms');
  record('checkpoint 2 GiB vs empty', fullMs / emptyMs, 'ratio', 'target <= 1.5');

  const fullId = (await api('GET', '/v1/sandboxes/ck-full')).json<{ id: string }>().id;
  const disk = join(d.stateDir, 'pool', 'sandboxes', fullId, 'disk.img');
  const copy = join(d.stateDir, 'pool', 'bench-copy.img');
  const [copyMs] = await time(() => execa('cp', ['--reflink=never', '--sparse=always', disk, copy]));
  await rm(copy, { force: true });
  record('full copy of the 2 GiB sandbox disk (cp, sparse)', copyMs, 'ms');
  record('full copy vs checkpoint', copyMs / fullMs, 'ratio', 'target >= 50');

  const [restoreMs] = await time(async () => {
    await api('POST', '/v1/sandboxes/ck-full/checkpoints/v1/restore');
    await sh('ck-full', 'true');
  });
  await api('POST', '/v1/sandboxes/ck-full/stop');
  const [coldMs] = await time(() => sh('ck-full', 'true'));
  record('restore (disk checkpoint) to exec-ready', restoreMs, 'ms', 'target <= 300 ms on KVM');
  record('cold boot to exec-ready', coldMs, 'ms');
  record('restore vs cold boot', restoreMs / coldMs, 'ratio', 'a disk restore = snapshot swap + boot: ~1');

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
}
