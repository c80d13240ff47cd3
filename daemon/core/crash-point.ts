/**
 * TEST HOOK, for the crash tests only (test/e2e/crash.test.ts, bench/crash.ts):
 * named points in the manager's operations at which hobd kills itself with
 * SIGKILL, so that a test can crash it deterministically between two steps and
 * check what the next hobd's reconcile makes of it.
 *
 * Inert unless HOB_TEST_CRASH_AT is set (nothing reads it in production):
 * - `HOB_TEST_CRASH_AT=<point>`: hobd dies the first time it reaches <point>;
 * - `HOB_TEST_CRASH_AT=/abs/file`: the point is read from that file each time
 *   any point is reached, so a test arms points in a running hobd (empty or
 *   missing file: nothing armed).
 */
import { readFileSync } from 'node:fs';

/** Every point, in the order of the operations they belong to. */
export const CRASH_POINTS = [
  // create: disk made / VM booted, row still `creating` / a spare claimed (row `creating`, VM still paused)
  'create.disk', 'create.booted', 'create.spare-claimed',
  // disk checkpoint: guest frozen (or paused) / subvolume snapshotted, row not yet written
  'checkpoint.quiesced', 'checkpoint.snapshotted',
  // checkpoint with memory: VM paused / memory written, subvolume not yet snapshotted
  'checkpoint-live.paused', 'checkpoint-live.memory-saved',
  // restore: current state kept / VM killed / old subvolume trashed, staged one not yet in place / disk swapped, VM not started
  'restore.kept', 'restore.vm-killed', 'restore.staged', 'restore.disk-restored',
  // fork (disk): disk made / booted; live fork: resumed, identity not yet given
  'fork.disk', 'fork.booted', 'fork.live-resumed',
  // sleep: VMM paused, row still `running`
  'sleep.paused',
  // hibernate: memory image complete, row still `paused` / row `hibernated`, VMM not yet killed
  'hibernate.memory-saved', 'hibernate.row-written',
  // wake: paused VM resumed, row still `paused` / hibernated VM resumed from memory, row still `hibernated`
  'wake.resumed', 'wake.memory-resumed',
  // rm: row `destroying` / VM killed, subvolumes not yet removed
  'rm.destroying', 'rm.vm-killed',
  // template build: VM booted / memory saved, VM killed, not yet renamed into place (template-volumes.ts commit: meta written, read-only, before the rename) / in place, no event yet
  'template.booted', 'template.saved', 'template.committing', 'template.committed',
] as const;
export type CrashPoint = (typeof CRASH_POINTS)[number];

const setting = process.env['HOB_TEST_CRASH_AT'] ?? '';

/** Kills hobd (SIGKILL, no clean-up of any kind) if `point` is the armed one. */
export function crashPoint(point: CrashPoint): void {
  if (setting === '') return;
  const armed = setting.startsWith('/') ? readArmed(setting) : setting;
  if (armed === point) process.kill(process.pid, 'SIGKILL');
}

function readArmed(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return '';
  }
}
