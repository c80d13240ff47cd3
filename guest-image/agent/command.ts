/**
 * Turning an exec request into the program to start: PATH lookup done by the
 * agent (so a missing command is an ENOENT error before anything starts, for
 * pipes and PTYs alike) and the switch to another user.
 *
 * The lookups use synchronous stat/access on purpose: each is a few µs of
 * syscall, while a round trip through libuv's thread pool costs ~15 ms in a TCG
 * guest, and an exec does several. They only read metadata of the local root
 * filesystem, which does not block even while it is frozen.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import { OpError } from './errors.js';
import type { GuestUser } from './users.js';

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The environment of an exec that did not bring its own. */
export function defaultEnv(user: GuestUser): Record<string, string> {
  return { PATH: DEFAULT_PATH, ...identityEnv(user), SHELL: user.shell, LANG: 'C.UTF-8' };
}

/** The variables that say who the process runs as. */
export function identityEnv(user: GuestUser): Record<string, string> {
  return { HOME: user.home, USER: user.name, LOGNAME: user.name };
}

function isExecutableFile(path: string): boolean {
  try {
    const st = statSync(path);
    if (!st.isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Absolute path of argv[0]: taken as is (relative to cwd) when it has a slash, else searched in PATH. */
export async function resolveCommand(argv0: string, pathVar: string | undefined, cwd: string): Promise<string> {
  if (argv0.includes('/')) {
    const full = isAbsolute(argv0) ? argv0 : resolve(cwd, argv0);
    try {
      accessSync(full, constants.X_OK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'ENOENT';
      throw new OpError(code, `${argv0}: ${code === 'ENOENT' ? 'no such file' : 'not executable'}`);
    }
    return full;
  }
  for (const dir of (pathVar ?? DEFAULT_PATH).split(delimiter)) {
    if (!dir) continue;
    const candidate = join(isAbsolute(dir) ? dir : resolve(cwd, dir), argv0);
    if (isExecutableFile(candidate)) return candidate;
  }
  throw new OpError('ENOENT', `${argv0}: command not found`);
}

/** Working directory of an exec: the request's (must be a directory), else the user's home if it exists, else "/". */
export async function resolveCwd(requested: string | undefined, user: GuestUser): Promise<string> {
  if (requested !== undefined) {
    let st;
    try {
      st = statSync(requested);
    } catch (err) {
      throw new OpError((err as NodeJS.ErrnoException).code ?? 'ENOENT', `cwd ${requested}: ${(err as Error).message}`);
    }
    if (!st.isDirectory()) throw new OpError('ENOTDIR', `cwd ${requested} is not a directory`);
    return requested;
  }
  try {
    if (statSync(user.home).isDirectory()) return user.home;
  } catch {
    // fall through
  }
  return '/';
}

let setprivPath: Promise<string | null> | undefined;

/**
 * Program and arguments that run `file argv` as `user`. Node's spawn (and
 * node-pty) can set uid/gid but not supplementary groups, and node-pty even keeps
 * the agent's own, so a non-root user goes through util-linux `setpriv`, which
 * loads the user's groups from /etc/group (or clears them for a bare uid).
 * argv0 is kept as the program's argv[0].
 */
export async function commandAs(user: GuestUser, file: string, argv: readonly string[]): Promise<{ file: string; args: string[]; argv0: string }> {
  const argv0 = argv[0] as string;
  if (user.uid === 0 && user.gid === 0) return { file, args: argv.slice(1), argv0 };
  setprivPath ??= resolveCommand('setpriv', DEFAULT_PATH, '/').catch(() => null);
  const setpriv = await setprivPath;
  if (!setpriv) throw new OpError('ENOTSUP', 'running as another user needs setpriv (util-linux) in the guest');
  const groups = user.known ? ['--init-groups'] : ['--clear-groups'];
  // setpriv execs argv[0] of its tail through PATH: give it the resolved absolute path.
  return {
    file: setpriv,
    args: [`--reuid=${user.uid}`, `--regid=${user.gid}`, ...groups, '--', file, ...argv.slice(1)],
    argv0: 'setpriv',
  };
}

/** Program, arguments and context of an exec after lookup (pipes in handlers/exec.ts, PTY in handlers/exec-pty.ts). */
export interface PreparedExec {
  readonly file: string;
  readonly args: string[];
  readonly argv0: string;
  readonly env: Record<string, string>;
  readonly cwd: string;
}
