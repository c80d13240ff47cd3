/**
 * A long-lived helper process that freezes and thaws one filesystem with the
 * FIFREEZE / FITHAW ioctls, so that a checkpoint costs no process start in the
 * guest. Node cannot issue an ioctl itself, and starting `fsfreeze` twice per
 * checkpoint is most of a checkpoint's time under emulation (a process start
 * there takes hundreds of milliseconds).
 *
 * The helper is a few lines of Perl (perl-base is Essential in Debian, so
 * every Debian guest has it), started on first use and kept. It holds the
 * filesystem open and answers one line per request on its stdout:
 *   request  `freeze\n` | `thaw\n`
 *   answer   `ok\n` | `err <errno> <strerror>\n`
 * It never touches the filesystem it freezes, so it cannot block on it. When
 * its stdin closes (the agent died) it thaws what it froze: a frozen root
 * filesystem without an agent would hang the guest for good.
 *
 * Failure modes:
 * - the kernel refuses (EBUSY: already frozen, EINVAL: not frozen, EOPNOTSUPP,
 *   EPERM): OpError with that errno name;
 * - the helper cannot start (no perl) or dies: HelperUnavailableError; the
 *   caller falls back to the `fsfreeze` command. A later request starts a
 *   new helper (unless perl is missing altogether).
 */
import { constants } from 'node:os';
import { createInterface } from 'node:readline';
import { execa, type ResultPromise } from 'execa';
import { OpError } from '../errors.js';

/** The helper is not usable (not startable, or it died); use the `fsfreeze` command instead. */
export class HelperUnavailableError extends Error {
  override name = 'HelperUnavailableError';
}

// _IOWR('X', 119, int) and _IOWR('X', 120, int) from <linux/fs.h>; the same on every Linux architecture hob runs on.
const SCRIPT = String.raw`
use strict;
$| = 1;
$SIG{HUP} = 'IGNORE';
$SIG{PIPE} = 'IGNORE';
my %req = (freeze => 0xC0045877, thaw => 0xC0045878);
sysopen(my $fs, $ARGV[0], 0) or die "open $ARGV[0]: $!\n";
my $frozen = 0;
print "ready\n";
while (my $line = <STDIN>) {
  chomp $line;
  my $op = $req{$line};
  if (!defined $op) { print "err 22 unknown request\n"; next; }
  if (ioctl($fs, $op, 0)) { $frozen = $line eq 'freeze'; print "ok\n"; }
  else { printf "err %d %s\n", $! + 0, $!; }
}
ioctl($fs, $req{thaw}, 0) if $frozen;
`;

const ERRNO_NAMES = new Map<number, string>(Object.entries(constants.errno).map(([name, n]) => [n, name]));

interface Pending {
  readonly resolve: (line: string) => void;
  readonly reject: (err: Error) => void;
}

export class FreezeHelper {
  private proc: ResultPromise<{ stdin: 'pipe'; stdout: 'pipe'; stderr: 'pipe'; buffer: false; reject: false }> | undefined;
  /** The answers expected, in request order. */
  private readonly pending: Pending[] = [];
  /** Set once starting failed for good (no perl): every later call is HelperUnavailableError at once. */
  private missing: string | undefined;
  private ready: Promise<void> | undefined;

  /** @param mountPoint the filesystem to act on (the guest's root: "/"). */
  constructor(private readonly mountPoint: string) {}

  /** Freezes the filesystem (writes back its dirty data first, as FIFREEZE does). */
  freeze(): Promise<void> {
    return this.request('freeze');
  }

  /** Thaws the filesystem. EINVAL if it was not frozen. */
  thaw(): Promise<void> {
    return this.request('thaw');
  }

  /** Starts the helper now, so the first freeze does not wait for it. Never rejects. */
  async warm(): Promise<void> {
    await this.start().catch(() => undefined);
  }

  /** Ends the helper (it thaws what it froze first); resolves once it has exited. */
  async close(): Promise<void> {
    const proc = this.proc;
    this.proc = undefined;
    this.ready = undefined;
    if (!proc) return;
    proc.stdin.end();
    await proc;
  }

  private async request(op: 'freeze' | 'thaw'): Promise<void> {
    await this.start();
    const proc = this.proc;
    if (!proc) throw new HelperUnavailableError('the freeze helper is not running');
    const answer = await new Promise<string>((resolve, reject) => {
      this.pending.push({ resolve, reject });
      proc.stdin.write(`${op}\n`);
    });
    if (answer === 'ok') return;
    const m = /^err (\d+) (.*)$/.exec(answer);
    if (!m) throw new HelperUnavailableError(`the freeze helper answered "${answer}"`);
    const errno = Number(m[1]);
    // os.constants.errno holds positive numbers on Linux.
    throw new OpError(ERRNO_NAMES.get(errno) ?? 'EIO', `${op === 'freeze' ? 'FIFREEZE' : 'FITHAW'} ${this.mountPoint}: ${m[2]}`);
  }

  private start(): Promise<void> {
    if (this.missing !== undefined) return Promise.reject(new HelperUnavailableError(this.missing));
    this.ready ??= this.spawn().catch((err: Error) => {
      this.ready = undefined;
      throw err;
    });
    return this.ready;
  }

  private spawn(): Promise<void> {
    const proc = execa('perl', ['-e', SCRIPT, this.mountPoint], { stdin: 'pipe', stdout: 'pipe', stderr: 'pipe', buffer: false, reject: false });
    this.proc = proc;
    let stderr = '';
    proc.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-500);
    });
    // A write to a helper that just died fails with EPIPE; its exit rejects the request instead.
    proc.stdin.on('error', () => undefined);
    return new Promise<void>((resolve, reject) => {
      let started = false;
      const lines = createInterface({ input: proc.stdout });
      lines.on('line', (line) => {
        if (!started) {
          started = line === 'ready';
          if (started) resolve();
          return;
        }
        this.pending.shift()?.resolve(line);
      });
      void proc.then((result) => {
        if (this.proc === proc) {
          this.proc = undefined;
          this.ready = undefined;
        }
        const why = result.failed && result.code === 'ENOENT'
          ? 'perl is not installed'
          : `the freeze helper exited (${result.signal ?? `status ${String(result.exitCode)}`}): ${stderr.trim() || 'no message'}`;
        if (result.code === 'ENOENT') this.missing = why;
        const err = new HelperUnavailableError(why);
        if (!started) reject(err);
        for (const p of this.pending.splice(0)) p.reject(err);
      });
    });
  }
}
