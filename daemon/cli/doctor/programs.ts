/**
 * Finding host programs and asking them their version, for the checks.
 * Users' PATH on Debian lacks /usr/sbin and /sbin, where nft, losetup and
 * mkfs.* live, so those are searched too.
 */
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { delimiter, isAbsolute, join } from 'node:path';
import { execa } from 'execa';

const SBIN_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

/** How long a probe command may take before it counts as failed. */
export const PROBE_TIMEOUT_MS = 10_000;

async function isExecutable(path: string): Promise<boolean> {
  return access(path, constants.X_OK).then(
    () => true,
    () => false,
  );
}

/**
 * Absolute path of `name` (searched in $PATH, then the sbin directories), or
 * `name` itself when it is an absolute path to an executable; null when not found.
 */
export async function findProgram(name: string, env: Readonly<Record<string, string | undefined>>): Promise<string | null> {
  if (isAbsolute(name)) return (await isExecutable(name)) ? name : null;
  const dirs = [...(env.PATH ?? '').split(delimiter), ...SBIN_DIRS].filter((d) => d !== '');
  for (const dir of new Set(dirs)) {
    const p = join(dir, name);
    if (await isExecutable(p)) return p;
  }
  return null;
}

/** Result of running a probe command: never throws. */
export interface ProbeResult {
  readonly ok: boolean;
  /** stdout and stderr interleaved, trimmed. */
  readonly output: string;
}

/** Runs `program args` with a timeout; `ok` is a zero exit. */
export async function probe(program: string, args: readonly string[]): Promise<ProbeResult> {
  const r = await execa(program, args, { reject: false, all: true, timeout: PROBE_TIMEOUT_MS, stdin: 'ignore' });
  const output = (r.all ?? '').trim();
  return { ok: r.exitCode === 0 && !r.timedOut, output: output !== '' ? output : (r.shortMessage ?? '') };
}

/** First non-empty line of `program --version` (or other args), or null if it did not run successfully. */
export async function programVersion(program: string, args: readonly string[] = ['--version']): Promise<string | null> {
  const r = await probe(program, args);
  if (!r.ok) return null;
  return r.output.split('\n').find((l) => l.trim() !== '')?.trim() ?? null;
}
