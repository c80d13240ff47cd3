/**
 * Cold boot phase by phase, and a disk-checkpoint restore against a cold boot (issue 18 items
 * 4 and 7, docs/architecture.md §24), in one run on its own daemon:
 * - each step of a cold boot (stop, then an exec starts it), from the boot-timeline events,
 *   median over ROUNDS boots;
 * - a disk restore to exec-ready vs a cold boot to exec-ready, rounds alternating so that load
 *   drifts hit both alike; the restore's own steps (keeping the present, stopping the VM,
 *   restoring the disk in place, the boot) from the times on its progress lines. Each restore comes SETTLE_MS after
 *   the boot before it, as a user restores a sandbox that has been running: the agent's kernel
 *   helper, which freezes the filesystem to keep the present, starts 5 s after the agent, and
 *   a freeze before it costs its start (~0.6 s under TCG). One more restore right after a boot
 *   shows that case;
 * - the first boot of a 100 GiB disk: where growing its filesystem sits and what it costs.
 */
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { DISK_FILE, IMAGE_FILES } from '../daemon/storage/volume-layout.js';
import { startTestDaemon, type TestDaemon } from '../test/helpers/daemon.js';
import { median, time, type Record } from './measure.js';

const ROUNDS = Number(process.env.HOB_BENCH_BOOT_ROUNDS ?? 3);
/** How long a booted sandbox runs before it is restored. */
const SETTLE_MS = 8_000;

interface Timeline {
  total_ms: number;
  guest: string;
  phases: Array<{ name: string; ms: number }>;
}

export async function benchBoot(record: Record): Promise<void> {
  const d = await startTestDaemon();
  try {
    await run(d, record);
  } finally {
    await d.stop();
  }
}

async function run(d: TestDaemon, record: Record): Promise<void> {
  const api = async (method: string, path: string, body?: object) => {
    const r = await d.request({ method, path, ...(body ? { body } : {}) });
    if (r.status >= 300 || r.text().includes('"type":"error"')) throw new Error(`${method} ${path}: ${r.status} ${r.text()}`);
    return r;
  };
  const execTrue = (name: string) => api('POST', `/v1/sandboxes/${name}/exec`, { command: ['true'] });
  const timelines = async (name: string): Promise<Timeline[]> =>
    (await api('GET', `/v1/sandboxes/${name}/events?type=boot-timeline`)).json<{ events: Array<{ data: Timeline }> }>().events.map((e) => e.data);
  /** The boot timeline recorded after `count` earlier ones (it is written just after the boot). */
  const nextTimeline = async (name: string, count: number): Promise<Timeline> => {
    for (let i = 0; i < 200; i++) {
      const all = await timelines(name);
      if (all.length > count) return all[count]!;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`no boot timeline #${count + 1} of ${name}`);
  };
  const fmt = (ms: number[]): string => `samples ${ms.map((v) => Math.round(v)).join(', ')} ms`;

  record('host load average (1 min) at the start', loadavg()[0]!, '', 'other VMs share the cores: figures are noisy');
  await api('POST', '/v1/sandboxes', { name: 'boot' });
  let seen = 1;
  await api('POST', '/v1/sandboxes/boot/exec', { command: ['sh', '-c', 'echo v1 > /root/state && sync'] });
  await api('POST', '/v1/sandboxes/boot/checkpoint', {});

  const cold: number[] = [];
  const restore: number[] = [];
  const coldTimelines: Timeline[] = [];
  const restoreTimelines: Timeline[] = [];
  const restoreSteps: Array<{ [step: string]: number }> = [];
  const uncached: number[] = [];
  const uncachedTimelines: Timeline[] = [];
  const volumeDir = join(d.stateDir, 'pool', 'sandboxes', (await api('GET', '/v1/sandboxes/boot')).json<{ id: string }>().id);
  for (let i = 0; i < ROUNDS; i++) {
    await api('POST', '/v1/sandboxes/boot/stop');
    cold.push((await time(() => execTrue('boot')))[0]);
    coldTimelines.push(await nextTimeline('boot', seen++));

    await api('POST', '/v1/sandboxes/boot/stop');
    await dropFromPageCache(volumeDir);
    uncached.push((await time(() => execTrue('boot')))[0]);
    uncachedTimelines.push(await nextTimeline('boot', seen++));
    await new Promise((r) => setTimeout(r, SETTLE_MS));

    const t0 = Date.now();
    const [ms, r] = await time(async () => {
      const res = await api('POST', '/v1/sandboxes/boot/checkpoints/v1/restore');
      await execTrue('boot');
      return res;
    });
    restore.push(ms);
    restoreTimelines.push(await nextTimeline('boot', seen++));
    restoreSteps.push(restoreStepTimes(r.text(), t0));
  }
  // The same restore right after a boot (the kernel helper not started yet).
  await api('POST', '/v1/sandboxes/boot/stop');
  await execTrue('boot');
  await nextTimeline('boot', seen++);
  const [soonMs] = await time(async () => {
    await api('POST', '/v1/sandboxes/boot/checkpoints/v1/restore');
    await execTrue('boot');
  });
  await nextTimeline('boot', seen++);
  const coldMs = median(cold);
  const restoreMs = median(restore);
  record(`cold boot (stopped -> exec done), median of ${ROUNDS}`, coldMs, 'ms', fmt(cold));
  record(`restore of a disk checkpoint -> exec done, median of ${ROUNDS}`, restoreMs, 'ms', fmt(restore));
  record('disk restore / cold boot', restoreMs / coldMs, 'ratio', `target <= 1.0; restored ${SETTLE_MS / 1000} s after its boot`);
  // Each round's restore against the same round's cold boot, a few seconds apart: a load burst that
  // lasts a round moves both, where it moves only one of the two medians above.
  const paired = restore.map((ms, i) => ms / cold[i]!);
  record('disk restore / cold boot, median of the rounds\' own ratios', median(paired), 'ratio', `per round: ${paired.map((r) => r.toFixed(2)).join(', ')}`);
  const uncachedMs = median(uncached);
  record(`cold boot, the sandbox's files not in the host's page cache, median of ${ROUNDS}`, uncachedMs, 'ms', fmt(uncached));
  record('disk restore / cold boot from files not in the page cache', restoreMs / uncachedMs, 'ratio', 'what a restore cost when it swapped in new inodes (docs/architecture.md §30)');
  record('restore right after a boot -> exec done (one sample)', soonMs, 'ms', 'the freeze that keeps the present starts the kernel helper');
  const phaseMedian = (list: Timeline[], name: string): number => median(list.map((t) => t.phases.find((p) => p.name === name)?.ms ?? NaN));
  record('cold boot: agent-ready at, files not in the page cache, median', phaseMedian(uncachedTimelines, 'agent-ready'), 'ms', 'after the VMM started');
  for (const p of coldTimelines[0]!.phases) {
    if (p.name === 'vmm-start') continue;
    record(`cold boot: ${p.name} at, median of ${ROUNDS}`, phaseMedian(coldTimelines, p.name), 'ms', 'after the VMM started');
  }
  record(`restore's boot: agent-ready at, median of ${ROUNDS}`, phaseMedian(restoreTimelines, 'agent-ready'), 'ms', 'after the VMM started');
  for (const step of Object.keys(restoreSteps[0]!)) {
    record(`restore step: ${step}, median of ${ROUNDS}`, median(restoreSteps.map((s) => s[step] ?? NaN)), 'ms', 'from the times of its progress lines');
  }
  const restores = (await api('GET', '/v1/sandboxes/boot/events?type=restore')).json<{ events: Array<{ data: { disk?: string; changed_bytes?: number } }> }>().events;
  const inPlace = restores.filter((e) => e.data.disk === 'in-place');
  record('restores that changed the disk in place', inPlace.length, `of ${restores.length}`, `changed MiB: ${inPlace.map((e) => ((e.data.changed_bytes ?? 0) / 2 ** 20).toFixed(1)).join(', ')}`);
  await api('DELETE', '/v1/sandboxes/boot');

  // A 100 GiB disk's first boot grows the filesystem from the image's size (resize2fs, online).
  await api('POST', '/v1/sandboxes', { name: 'boot-big', config: { storage_gb: 100 } });
  const big = await nextTimeline('boot-big', 0);
  const at = (name: string) => big.phases.find((p) => p.name === name)?.ms ?? NaN;
  record('100 GiB disk, first boot: init -> filesystem grown', at('fs-grown') - at('init'), 'ms', 'before the agent starts');
  record('100 GiB disk, first boot: agent-ready at', big.total_ms, 'ms');
  await api('DELETE', '/v1/sandboxes/boot-big');
  record('host load average (1 min) at the end', loadavg()[0]!, '');
}

/**
 * Drops a stopped sandbox's files (disk, kernel, initramfs) from the host's page cache, as a
 * restore's new volume starts: written back first, then POSIX_FADV_DONTNEED (dd's nocache).
 */
async function dropFromPageCache(volumeDir: string): Promise<void> {
  for (const file of [DISK_FILE, IMAGE_FILES.kernel, IMAGE_FILES.initramfs]) {
    const path = join(volumeDir, file);
    await execa('sync', [path]);
    await execa('dd', [`if=${path}`, 'iflag=nocache', 'count=0', 'status=none']);
  }
}

/** ms between the restore's progress lines (their `time`), named by the step that began at each. */
function restoreStepTimes(ndjson: string, requestMs: number): { [step: string]: number } {
  const lines = ndjson.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; data: string; time: string });
  const when = (re: RegExp): number => {
    const line = lines.find((l) => re.test(l.data));
    return line ? Date.parse(line.time) : NaN;
  };
  const stop = when(/^Stopping the VM/);
  const swap = when(/^Restoring the disk/);
  const boot = when(/^Booting VM/);
  const done = Date.parse(lines.at(-1)?.time ?? '');
  return {
    'request to first line': when(/^Keeping the current state/) - requestMs,
    'keep the present (a checkpoint)': stop - when(/^Keeping the current state/),
    'stop the VM': swap - stop,
    'restore the disk (in place)': boot - swap,
    'boot to complete': done - boot,
  };
}
