/**
 * Warm templates (issue 18, docs/architecture.md §17), as ratios measured side by side in one
 * run on its own daemon (templates on): create from the template vs a cold create (`cold`,
 * target under TCG <= 0.15), and a live fork (from a checkpoint with memory) vs a cold create.
 * Creates alternate warm/cold so that load drifts hit both alike. Each create is timed until
 * its API call returned, i.e. the sandbox is running and its agent answers (exec-ready).
 * Twice, one daemon each: templates whose RAM is a mapped file (`templates.memory: mapped`,
 * the default, docs/architecture.md §26) and templates whose memory is a stream read whole.
 */
import { loadavg } from 'node:os';
import { startTestDaemon, waitForTemplate, type TestDaemon } from '../test/helpers/daemon.js';
import { median, time, type Record } from './measure.js';

const ROUNDS = 3;

type MemoryMode = 'mapped' | 'stream';

export async function benchTemplates(record: Record): Promise<void> {
  const ratios = new Map<MemoryMode, number>();
  for (const mode of ['mapped', 'stream'] as const) {
    const d = await startTestDaemon({ templates: true, templateMemory: mode });
    try {
      ratios.set(mode, await run(d, mode, (name, value, unit, note) => record(`[${mode}] ${name}`, value, unit, note)));
    } finally {
      await d.stop();
    }
  }
  record('warm create mapped / warm create stream', ratios.get('mapped')! / ratios.get('stream')!, 'ratio', 'of the two warm/cold ratios, each against its own cold creates');
}

/** Returns warm / cold. */
async function run(d: TestDaemon, mode: MemoryMode, record: Record): Promise<number> {
  const api = async (method: string, path: string, body?: object) => {
    const r = await d.request({ method, path, ...(body ? { body } : {}) });
    if (r.status >= 300 || r.text().includes('"type":"error"')) throw new Error(`${method} ${path}: ${r.status} ${r.text()}`);
    return r;
  };
  const t0 = performance.now();
  await waitForTemplate(d, 'minimal', 900_000);
  record('host load average (1 min) at the start', loadavg()[0]!, '', 'other VMs share the cores: figures are noisy');
  record('template build (hobd start -> template ready, includes the template boot)', performance.now() - t0, 'ms');

  const warm: number[] = [];
  const cold: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    warm.push((await time(() => api('POST', '/v1/sandboxes', { name: `warm-${i}` })))[0]);
    cold.push((await time(() => api('POST', '/v1/sandboxes', { name: `cold-${i}`, cold: true })))[0]);
    await api('DELETE', `/v1/sandboxes/cold-${i}`);
    if (i > 0) await api('DELETE', `/v1/sandboxes/warm-${i}`);
  }
  const fmt = (ms: number[]): string => `samples ${ms.map((v) => Math.round(v)).join(', ')} ms`;
  const warmMs = median(warm);
  const coldMs = median(cold);
  record(`warm create (from the template) to exec-ready, median of ${ROUNDS}`, warmMs, 'ms', `target <= 50 ms on KVM; ${fmt(warm)}`);
  record(`cold create to exec-ready, median of ${ROUNDS}`, coldMs, 'ms', fmt(cold));
  record('warm create / cold create', warmMs / coldMs, 'ratio', 'target under TCG <= 0.15');
  if (mode === 'stream') {
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
