/**
 * Runs the external networking tools (`ip`, `nft`, `sysctl`) with argument arrays, never a
 * shell, and turns a failure into a NetworkError carrying the command and its stderr.
 */
import { execa } from 'execa';
import { NetworkError } from './errors.js';

export interface RunOptions {
  /** Text passed on stdin (an `ip -batch -` script or an `nft -f -` ruleset). */
  readonly input?: string;
  /**
   * Run inside this network namespace (a name under /run/netns) with `nsenter --net`.
   * Only for tools without a namespace option of their own (`nft`, `sysctl`); `ip` takes `-n`.
   * (Not `ip netns exec`: it also sets up a mount namespace and remounts /sys, which these
   * tools do not need; /proc/sys/net and netlink follow the network namespace alone.)
   */
  readonly netns?: string;
}

/** Result of a command that was allowed to fail. */
export interface RunResult {
  readonly ok: boolean;
  readonly stdout: string;
  readonly stderr: string;
}

function argvOf(argv: readonly string[], netns: string | undefined): [string, string[]] {
  const full = netns ? ['nsenter', `--net=/run/netns/${netns}`, '--', ...argv] : [...argv];
  return [full[0] ?? '', full.slice(1)];
}

/**
 * Runs a command; resolves with its stdout.
 * @throws NetworkError when it cannot be started or exits non-zero.
 */
export async function run(argv: readonly string[], opts: RunOptions = {}): Promise<string> {
  const r = await tryRun(argv, opts);
  if (!r.ok) {
    const where = opts.netns ? ` (in netns ${opts.netns})` : '';
    throw new NetworkError(`${argv.join(' ')}${where} failed: ${r.stderr.trim() || 'no output'}`);
  }
  return r.stdout;
}

/** Runs a command and reports failure instead of throwing. */
export async function tryRun(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const [file, args] = argvOf(argv, opts.netns);
  const r = await execa(file, args, { input: opts.input ?? '', reject: false, timeout: 30_000 });
  return {
    ok: r.exitCode === 0 && !r.failed,
    stdout: String(r.stdout),
    stderr: r.exitCode === undefined && r.failed ? (r.message ?? '') : String(r.stderr),
  };
}
