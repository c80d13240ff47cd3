/**
 * The full kill -9 matrix (issue 12, "Crashes"): `npm run bench -- crash`.
 * For each operation (create, checkpoint with and without memory, restore,
 * fork, live fork, pause, hibernate, wake from pause and from hibernation, rm, and a
 * template build, on a daemon of its own: bench/crash-templates.ts):
 * hobd is killed at each of the operation's named crash points
 * (daemon/core/crash-point.ts) and, by SIGKILL from outside, at 1/4, 1/2 and
 * 3/4 of the operation's duration measured just before; after each restart the
 * harness's problems() must be empty (test/helpers/crash.ts says what it checks).
 * Prints and records the pass count; every failure is listed.
 */
import type { CrashPoint } from '../daemon/core/crash-point.js';
import { startCrashHarness, type CrashHarness } from '../test/helpers/crash.js';
import { benchTemplateBuildCrashes } from './crash-templates.js';
import { time, type Record } from './measure.js';

const MAIN = 'crash-main';
const TIME_FRACTIONS = [0.25, 0.5, 0.75] as const;

interface Operation {
  readonly name: string;
  readonly points: readonly CrashPoint[];
  /** Brings the main sandbox into the state the operation starts from. */
  readonly setup: (h: CrashHarness, n: number) => Promise<void>;
  readonly run: (h: CrashHarness, n: number) => Promise<unknown>;
  /** Removes what the operation left (forks, new sandboxes) after the checks. */
  readonly cleanup?: (h: CrashHarness, n: number) => Promise<void>;
}

export async function benchCrash(record: Record): Promise<void> {
  const h = await startCrashHarness();
  const failures: string[] = [];
  let runs = 0;
  try {
    const post = (path: string, body: object = {}) => h.d.request({ method: 'POST', path, body });
    const must = async (what: string, p: Promise<{ status: number; text(): string }>): Promise<string> => {
      const r = await p;
      if (r.status >= 300) throw new Error(`${what}: ${r.status} ${r.text()}`);
      return r.text();
    };
    const running = async (): Promise<void> => {
      await must('exec', post(`/v1/sandboxes/${MAIN}/exec`, { command: ['true'] }));
    };
    const cp = async (memory: boolean): Promise<string> => {
      const text = await must('checkpoint', post(`/v1/sandboxes/${MAIN}/checkpoint`, { memory }));
      const id = /Checkpoint (v\d+) created/.exec(text)?.[1];
      if (!id) throw new Error(`checkpoint: ${text}`);
      h.reported.push({ sandbox: MAIN, id, kind: memory ? 'live' : 'disk' });
      return id;
    };
    const remove = async (name: string): Promise<void> => {
      await h.d.request({ method: 'DELETE', path: `/v1/sandboxes/${name}` });
    };

    await must('create', post('/v1/sandboxes', { name: MAIN }));
    const diskCp = await cp(false);
    const liveCp = await cp(true);

    const ops: Operation[] = [
      { name: 'create', points: ['create.disk', 'create.booted'], setup: running, run: (_, n) => post('/v1/sandboxes', { name: `crash-new-${n}` }), cleanup: (_, n) => remove(`crash-new-${n}`) },
      { name: 'checkpoint (disk)', points: ['checkpoint.quiesced', 'checkpoint.snapshotted'], setup: running, run: () => post(`/v1/sandboxes/${MAIN}/checkpoint`, {}) },
      { name: 'checkpoint (memory)', points: ['checkpoint-live.paused', 'checkpoint-live.memory-saved'], setup: running, run: () => post(`/v1/sandboxes/${MAIN}/checkpoint`, { memory: true }) },
      { name: 'restore', points: ['restore.kept', 'restore.vm-killed', 'restore.staged', 'restore.disk-restored'], setup: running, run: () => post(`/v1/sandboxes/${MAIN}/checkpoints/${diskCp}/restore`) },
      { name: 'fork', points: ['fork.disk', 'fork.booted'], setup: running, run: (_, n) => post(`/v1/sandboxes/${MAIN}/fork`, { name: `crash-fork-${n}`, from: diskCp }), cleanup: (_, n) => remove(`crash-fork-${n}`) },
      { name: 'live fork', points: ['fork.disk', 'fork.live-resumed'], setup: running, run: (_, n) => post(`/v1/sandboxes/${MAIN}/fork`, { name: `crash-live-${n}`, from: liveCp }), cleanup: (_, n) => remove(`crash-live-${n}`) },
      { name: 'sleep (pause)', points: ['sleep.paused'], setup: running, run: () => post(`/v1/sandboxes/${MAIN}/sleep`) },
      { name: 'sleep (hibernate)', points: ['sleep.paused', 'hibernate.memory-saved', 'hibernate.row-written'], setup: running, run: () => post(`/v1/sandboxes/${MAIN}/sleep`, { hibernate: true }) },
      {
        name: 'wake (from pause)', points: ['wake.resumed'],
        setup: async () => { await running(); await must('sleep', post(`/v1/sandboxes/${MAIN}/sleep`)); },
        run: () => post(`/v1/sandboxes/${MAIN}/wake`),
      },
      {
        name: 'wake (from hibernation)', points: ['wake.memory-resumed'],
        setup: async () => { await running(); await must('hibernate', post(`/v1/sandboxes/${MAIN}/sleep`, { hibernate: true })); },
        run: () => post(`/v1/sandboxes/${MAIN}/wake`),
      },
      {
        name: 'rm', points: ['rm.destroying', 'rm.vm-killed'],
        setup: async (_, n) => { await running(); await must('fork for rm', post(`/v1/sandboxes/${MAIN}/fork`, { name: `crash-rm-${n}`, from: liveCp })); },
        run: (_, n) => h.d.request({ method: 'DELETE', path: `/v1/sandboxes/crash-rm-${n}` }),
        cleanup: (_, n) => remove(`crash-rm-${n}`),
      },
    ];

    let n = 0;
    for (const op of ops) {
      await op.setup(h, ++n);
      const [durationMs] = await time(() => op.run(h, n));
      await op.cleanup?.(h, n);
      record(`crash matrix: ${op.name} duration (no crash)`, durationMs, 'ms');
      const attempts: Array<{ label: string; crash: (k: number) => Promise<unknown> }> = [
        ...op.points.map((point) => ({ label: point, crash: (k: number) => h.crashAt(point, () => op.run(h, k)) })),
        ...TIME_FRACTIONS.map((f) => ({ label: `${Math.round(f * 100)}% (${Math.round(durationMs * f)} ms)`, crash: (k: number) => h.crashAfter(durationMs * f, () => op.run(h, k)) })),
      ];
      for (const attempt of attempts) {
        const k = ++n;
        runs++;
        try {
          // A restart that failed (or a hobd that died in a setup) must not fail every run after it.
          if ((await h.d.request({ path: '/healthz' }).catch(() => undefined))?.status !== 200) await h.d.restart();
          await op.setup(h, k);
          await attempt.crash(k);
          const problems = await h.problems([MAIN]);
          if (problems.length > 0) failures.push(`${op.name} @ ${attempt.label}: ${problems.join('; ')}`);
          process.stderr.write(`  ${problems.length === 0 ? 'pass' : 'FAIL'} ${op.name} @ ${attempt.label}\n`);
        } catch (err) {
          failures.push(`${op.name} @ ${attempt.label}: ${(err as Error).message}`);
          process.stderr.write(`  FAIL ${op.name} @ ${attempt.label}: ${(err as Error).message}\n`);
        }
        await op.cleanup?.(h, k).catch(() => undefined);
      }
    }
  } finally {
    await h.stop();
  }
  record('crash matrix: runs passed', runs - failures.length, `of ${runs}`);
  for (const f of failures) process.stderr.write(`crash matrix failure: ${f}\n`);
  // Template builds need templates on: a daemon of their own (bench/crash-templates.ts).
  await benchTemplateBuildCrashes(record);
}
