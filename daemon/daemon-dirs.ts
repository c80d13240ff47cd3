/**
 * hobd's two directories and their modes, the same whoever creates them
 * (hobd here, install.sh, or systemd's RuntimeDirectory=/StateDirectory= in
 * systemd/hobd.service):
 *
 * - run dir (default /run/hob), 0755: the API socket (root:hob 0660, see
 *   api/server.ts) lives here, so members of the hob group must be able to
 *   traverse it; each VM's files sit in `vms/<id>/`, 0700 (vmm/run-dir.ts).
 * - state dir (default /var/lib/hob), 0711: the database (0600, db/open.ts)
 *   and the embedded pool (pool.img 0600, the mounted pool 0700, see
 *   storage/modes.ts). Nobody but root can list it or reach into the pool.
 *
 * Modes are set with chmod after mkdir, because mkdir's mode is cut by the
 * umask (a root shell with umask 077 would otherwise make the run dir 0700
 * and lock the hob group out of the socket).
 */
import { chmod, mkdir, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { HobError } from './errors.js';

/** Mode of the run dir when hobd creates it. */
export const RUN_DIR_MODE = 0o755;
/** Mode of the state dir, enforced at every start (as systemd's StateDirectoryMode= does). */
export const STATE_DIR_MODE = 0o711;

function dirError(op: string, path: string, err: unknown): HobError {
  return new HobError('internal', `cannot ${op} ${path}: ${(err as Error).message}`, { cause: err });
}

/**
 * Creates the run dir and the state dir if missing and gives them their modes.
 * - run dir: created 0755 (with any parent it creates). An existing one keeps its mode, plus search
 *   permission for group and others if it lacked them (never chmod'ed to a
 *   fixed mode: a misconfigured `runDir: /tmp` must not lose its sticky 1777).
 * - state dir: always 0711 (it is hob's own; a 0755 left by an older install
 *   would let anyone list it).
 * @throws HobError (internal) naming the directory when mkdir, stat or chmod fails.
 */
export async function prepareDaemonDirs(dirs: { readonly runDir: string; readonly stateDir: string }): Promise<void> {
  const createdRun = await mkdir(dirs.runDir, { recursive: true, mode: RUN_DIR_MODE }).catch((e: unknown) => {
    throw dirError('create', dirs.runDir, e);
  });
  try {
    if (createdRun !== undefined) {
      // Every directory mkdir created, from the run dir up to the first new one.
      for (let d = resolve(dirs.runDir); ; d = dirname(d)) {
        await chmod(d, RUN_DIR_MODE);
        if (d === resolve(createdRun) || d === dirname(d)) break;
      }
    } else {
      const mode = (await stat(dirs.runDir)).mode & 0o7777;
      if ((mode & 0o011) !== 0o011) await chmod(dirs.runDir, mode | 0o011);
    }
  } catch (e) {
    throw dirError('set the mode of', dirs.runDir, e);
  }
  await mkdir(dirs.stateDir, { recursive: true, mode: STATE_DIR_MODE }).catch((e: unknown) => {
    throw dirError('create', dirs.stateDir, e);
  });
  await chmod(dirs.stateDir, STATE_DIR_MODE).catch((e: unknown) => {
    throw dirError('set the mode of', dirs.stateDir, e);
  });
}
