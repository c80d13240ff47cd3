/**
 * Warm creates (issue 18, docs/architecture.md §17, §26, §31), as ratios measured side by side
 * on their own daemons (templates on), each warm create against cold creates (`cold`) of the
 * same daemon, alternating so that load drifts hit both alike. Each create is timed until its
 * API call returned, i.e. the sandbox is running and its agent answers (exec-ready).
 * - `spare`: spares on (the default): a create continues the paused spare (target under TCG
 *   <= 0.15); every create waits until the next spare is made, so that none competes with a
 *   spare being made for the two cores;
 * - `mapped`: spares off, a create resumes the template, its RAM a mapped file (§26);
 * - `stream`: spares off, the template's memory a stream read whole.
 * The `mapped` daemon also times a live fork (from a checkpoint with memory) against a cold create.
 */
import { loadavg } from 'node:os';
import { readFile, readdir } from 'node:fs/promises';
import { startTestDaemon, waitForTemplate, type TestDaemon } from '../test/helpers/daemon.js';
import { spareIds } from '../test/helpers/spares.js';
import { median, time, type Record } from './measure.js';

const ROUNDS = 3;

type WarmPath = 'spare' | 'mapped' | 'stream';

export async function benchTemplates(record: Record): Promise<void> {
  const ratios = new Map<WarmPath, number>();
  for (const path of ['spare', 'mapped', 'stream'] as const) {
    const d = await startTestDaemon({ templates: true, spares: path === 'spare', templateMemory: path === 'stream' ? 'stream' : 'mapped' });
    try {
      ratios.set(path, await run(d, path, (name, value, unit, note) => record(`[${path}] ${name}`, value, unit, note)));
    } finally {
      await d.stop();
    }
  }
  record('warm create from the spare / warm create resuming the template (mapped)', ratios.get('spare')! / ratios.get('mapped')!, 'ratio', 'of the two warm/cold ratios, each against its own cold creates');
  record('warm create mapped / warm create stream', ratios.get('mapped')! / ratios.get('stream')!, 'ratio', 'of the two warm/cold ratios, each against its own cold creates');
}

/** Returns warm / cold. */
async function run(d: TestDaemon, path: WarmPath, record: Record): Promise<number> {
  const api = async (method: string, url: string, body?: object) => {
    const r = await d.request({ method, path: url, ...(body ? { body } : {}) });
    if (r.status >= 300 || r.text().includes('"type":"error"')) throw new Error(`${method} ${url}: ${r.status} ${r.text()}`);
    return r;
  };
  const t0 = performance.now();
  // Also waits for the spare, where there is one.
  const settled = () => waitForTemplate(d, 'minimal', 900_000);
  await settled();
  record('host load average (1 min) at the start', loadavg()[0]!, '', 'other VMs share the cores: figures are noisy');
  record('template build (hobd start -> template ready, includes the template boot)', performance.now() - t0, 'ms');

  if (path === 'spare') await recordSpareMemory(d, record);

  const warm: number[] = [];
  const cold: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    await settled();
    warm.push((await time(() => api('POST', '/v1/sandboxes', { name: `warm-${i}` })))[0]);
    const made = (await api('GET', `/v1/sandboxes/warm-${i}/events?type=create`)).json<{ events: Array<{ data: { from?: string; spare?: boolean } }> }>().events[0]?.data;
    if (made?.from !== 'template' || (path === 'spare') !== (made.spare === true)) throw new Error(`warm-${i} was not made as a ${path} create: ${JSON.stringify(made)}`);
    await settled();
    cold.push((await time(() => api('POST', '/v1/sandboxes', { name: `cold-${i}`, cold: true })))[0]);
    await api('DELETE', `/v1/sandboxes/cold-${i}`);
    if (i > 0) await api('DELETE', `/v1/sandboxes/warm-${i}`);
  }
  const fmt = (ms: number[]): string => `samples ${ms.map((v) => Math.round(v)).join(', ')} ms`;
  const warmMs = median(warm);
  const coldMs = median(cold);
  record(`warm create to exec-ready, median of ${ROUNDS}`, warmMs, 'ms', `target <= 50 ms on KVM; ${fmt(warm)}`);
  record(`cold create to exec-ready, median of ${ROUNDS}`, coldMs, 'ms', fmt(cold));
  record('warm create / cold create', warmMs / coldMs, 'ratio', path === 'spare' ? 'target under TCG <= 0.15' : 'without spares');
  if (path !== 'mapped') {
    await api('DELETE', '/v1/sandboxes/warm-0');
    return warmMs / coldMs;
  }

  await api('POST', '/v1/sandboxes/warm-0/checkpoint', { memory: true });
  const forks: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    forks.push((await time(() => api('POST', '/v1/sandboxes', { name: `fork-${i}`, from: 'warm-0:v1' })))[0]);
    await api('DELETE', `/v1/sandboxes/fork-${i}`);
  }
  const forkMs = median(forks);
  record(`live fork to exec-ready, median of ${ROUNDS}`, forkMs, 'ms', fmt(forks));
  record('live fork / cold create', forkMs / coldMs, 'ratio');
  await api('DELETE', '/v1/sandboxes/warm-0');
  return warmMs / coldMs;
}

/** What a waiting spare holds: its VMM's anonymous memory (its own, and the guest pages it dirtied) and file-backed memory (the template's mapped RAM, shared). */
async function recordSpareMemory(d: TestDaemon, record: Record): Promise<void> {
  const [id] = spareIds(d);
  if (id === undefined) throw new Error('no spare sandbox to measure');
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (!cmdline.includes(`/vms/${id}/`) || !cmdline.includes('qemu-system')) continue;
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kib = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    record('waiting spare: VMM anonymous memory (RssAnon)', kib('RssAnon') / 1024, 'MiB', 'its own, and the guest pages dirtied since the template snapshot');
    record('waiting spare: VMM file-backed memory (RssFile)', kib('RssFile') / 1024, 'MiB', 'mostly the template RAM file, in the page cache');
    return;
  }
  throw new Error(`no VMM process of spare ${id}`);
}
