/**
 * A long-lived helper process for the system calls Node cannot make: the
 * FIFREEZE / FITHAW ioctls on one filesystem (checkpoints), RNDADDENTROPY and
 * RNDRESEEDCRNG on /dev/urandom (random.reseed) and clock_settime (clock.set).
 * Started once and kept, so that none of them costs a process start in the
 * guest: under emulation a start takes hundreds of milliseconds (a perl start
 * about a second), and a warm create or a checkpoint used to be mostly that.
 *
 * The helper is a few lines of Perl (perl-base is Essential in Debian, so
 * every Debian guest has it). It holds the filesystem open and answers one
 * line per request on its stdout:
 *   request  `freeze\n` | `thaw\n` | `reseed <seed in hex>\n`
 *            | `clock <clock_settime syscall number> <seconds> <nanoseconds>\n`
 *   answer   `ok\n` | `err <errno> <strerror>\n`
 * It never touches the filesystem it freezes, so it cannot block on it. When
 * its stdin closes (the agent died) it thaws what it froze: a frozen root
 * filesystem without an agent would hang the guest for good.
 *
 * Failure modes:
 * - the kernel refuses (EBUSY: already frozen, EINVAL: not frozen, EOPNOTSUPP,
 *   EPERM): OpError with that errno name;
 * - the helper cannot start (no perl) or dies: HelperUnavailableError; the
 *   caller falls back to a command (`fsfreeze`, `date`) or a plain write. A
 *   later request starts a new helper (unless perl is missing altogether).
 */
import { constants } from 'node:os';
import { createInterface } from 'node:readline';
import { execa, type ResultPromise } from 'execa';
import { OpError } from '../errors.js';

/** The helper is not usable (not startable, or it died); use the `fsfreeze` command instead. */
export class HelperUnavailableError extends Error {
  override name = 'HelperUnavailableError';
}

// The numbers are the same on every Linux architecture hob runs on (x86_64, aarch64):
// FIFREEZE = _IOWR('X', 119, int), FITHAW = _IOWR('X', 120, int) from <linux/fs.h>;
// RNDADDENTROPY = _IOW('R', 3, int[2]), RNDRESEEDCRNG = _IO('R', 7) from <linux/random.h>
// (RNDADDENTROPY takes struct rand_pool_info { int entropy_count (bits); int buf_size; u32 buf[] }).
// clock_settime's syscall number differs per architecture: the request carries it.
const SCRIPT = String.raw`
use strict;
$| = 1;
$SIG{HUP} = 'IGNORE';
$SIG{PIPE} = 'IGNORE';
my %fsreq = (freeze => 0xC0045877, thaw => 0xC0045878);
sysopen(my $fs, $ARGV[0], 0) or die "open $ARGV[0]: $!\n";
my $frozen = 0;
sub reseed {
  my ($seed) = @_;
  open(my $r, ">", "/dev/urandom") or return 0;
  my $ok = ioctl($r, 0x40085203, pack("i i a*", 8 * length($seed), length($seed), $seed)) && ioctl($r, 0x5207, 0);
  my $errno = $! + 0;
  close($r);
  $! = $errno;
  return $ok;
}
print "ready\n";
while (my $line = <STDIN>) {
  chomp $line;
  my @w = split / /, $line;
  my $ok;
  if (defined $fsreq{$line}) { $ok = ioctl($fs, $fsreq{$line}, 0); $frozen = $line eq 'freeze' if $ok; }
  elsif ($w[0] eq 'reseed' && @w == 2 && $w[1] =~ /^(?:[0-9a-f]{2}){16,512}$/) { $ok = reseed(pack("H*", $w[1])); }
  elsif ($w[0] eq 'clock' && @w == 4 && "$w[1]$w[2]$w[3]" =~ /^\d+$/) { $ok = syscall($w[1] + 0, 0, pack("q q", $w[2], $w[3])) == 0; }
  else { print "err 22 unknown request\n"; next; }
  if ($ok) { print "ok\n"; } else { printf "err %d %s\n", $! + 0, $!; }
}
ioctl($fs, $fsreq{thaw}, 0) if $frozen;
`;

/** clock_settime(2)'s number: x86_64's table, and the generic one aarch64 uses. */
const CLOCK_SETTIME_SYSCALL: Partial<Record<NodeJS.Architecture, number>> = { x64: 227, arm64: 112 };

const ERRNO_NAMES = new Map<number, string>(Object.entries(constants.errno).map(([name, n]) => [n, name]));

interface Pending {
  readonly resolve: (line: string) => void;
  readonly reject: (err: Error) => void;
}

export class KernelHelper {
  private proc: ResultPromise<{ stdin: 'pipe'; stdout: 'pipe'; stderr: 'pipe'; buffer: false; reject: false }> | undefined;
  /** The answers expected, in request order. */
  private readonly pending: Pending[] = [];
  /** Set once starting failed for good (no perl): every later call is HelperUnavailableError at once. */
  private missing: string | undefined;
  private ready: Promise<void> | undefined;

  /** @param mountPoint the filesystem to freeze and thaw (the guest's root: "/"). */
  constructor(private readonly mountPoint: string) {}

  /** Freezes the filesystem (writes back its dirty data first, as FIFREEZE does). */
  freeze(): Promise<void> {
    return this.request('freeze', `FIFREEZE ${this.mountPoint}`);
  }

  /** Thaws the filesystem. EINVAL if it was not frozen. */
  thaw(): Promise<void> {
    return this.request('thaw', `FITHAW ${this.mountPoint}`);
  }

  /** Mixes `seed` (16 to 512 bytes) into the kernel's pool, credited, and makes the kernel rekey its generator at once. */
  reseed(seed: Buffer): Promise<void> {
    if (seed.length < 16 || seed.length > 512) return Promise.reject(new OpError('EINVAL', `a seed has 16 to 512 bytes, not ${seed.length}`));
    return this.request(`reseed ${seed.toString('hex')}`, 'RNDADDENTROPY');
  }

  /** Sets the system clock (CLOCK_REALTIME) to `epochMs`. */
  setClock(epochMs: number): Promise<void> {
    const syscall = CLOCK_SETTIME_SYSCALL[process.arch];
    if (syscall === undefined) return Promise.reject(new HelperUnavailableError(`no clock_settime number known for ${process.arch}`));
    if (!Number.isSafeInteger(epochMs) || epochMs < 0) return Promise.reject(new OpError('EINVAL', `not a time: ${epochMs}`));
    return this.request(`clock ${syscall} ${Math.floor(epochMs / 1000)} ${(epochMs % 1000) * 1_000_000}`, 'clock_settime');
  }

  /** Starts the helper now, so the first request does not wait for it. Never rejects. */
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

  private async request(line: string, what: string): Promise<void> {
    await this.start();
    const proc = this.proc;
    if (!proc) throw new HelperUnavailableError('the kernel helper is not running');
    const answer = await new Promise<string>((resolve, reject) => {
      this.pending.push({ resolve, reject });
      proc.stdin.write(`${line}\n`);
    });
    if (answer === 'ok') return;
    const m = /^err (\d+) (.*)$/.exec(answer);
    if (!m) throw new HelperUnavailableError(`the kernel helper answered "${answer}"`);
    const errno = Number(m[1]);
    // os.constants.errno holds positive numbers on Linux.
    throw new OpError(ERRNO_NAMES.get(errno) ?? 'EIO', `${what}: ${m[2]}`);
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
          : `the kernel helper exited (${result.signal ?? `status ${String(result.exitCode)}`}): ${stderr.trim() || 'no message'}`;
        if (result.code === 'ENOENT') this.missing = why;
        const err = new HelperUnavailableError(why);
        if (!started) reject(err);
        for (const p of this.pending.splice(0)) p.reject(err);
      });
    });
  }
}

/** The agent's one helper, on the guest's root filesystem. */
export const kernelHelper = new KernelHelper('/');
