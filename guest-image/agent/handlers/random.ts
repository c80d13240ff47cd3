/**
 * random.reseed (docs/architecture.md §18): mixes host entropy into the kernel's pool after
 * the guest was resumed from a memory snapshot, and makes the kernel rekey its generator
 * from it at once, so that two guests resumed from one snapshot stop sharing random state.
 *
 * Node has no ioctl(), so the credited path (RNDADDENTROPY, then RNDRESEEDCRNG, both need
 * CAP_SYS_ADMIN: the agent is root) runs through perl, which Debian images carry (perl-base
 * is essential). Without perl the seed is written to /dev/urandom: mixed into the input pool
 * but not credited, it reaches the generator at the kernel's next reseed (within a minute).
 */
import { writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { execa } from 'execa';
import type { RequestOf, ResultOf } from '../../../daemon/protocol/index.js';
import { OpError } from '../errors.js';
import { log } from '../log.js';

const PERL = '/usr/bin/perl';

/**
 * Reads the seed from stdin; RNDADDENTROPY = _IOW('R', 3, int[2]) = 0x40085203 takes
 * struct rand_pool_info { int entropy_count (bits); int buf_size; u32 buf[] };
 * RNDRESEEDCRNG = _IO('R', 7) = 0x5207. Same numbers on x86_64 and arm64.
 */
const PERL_RESEED = [
  'binmode STDIN; local $/; my $s = <STDIN>;',
  'open(my $f, ">", "/dev/urandom") or die "open: $!\\n";',
  'ioctl($f, 0x40085203, pack("i i a*", 8 * length($s), length($s), $s)) or die "RNDADDENTROPY: $!\\n";',
  'ioctl($f, 0x5207, 0) or die "RNDRESEEDCRNG: $!\\n";',
].join(' ');

export async function reseedRandom(req: RequestOf<'random.reseed'>): Promise<ResultOf<'random.reseed'>> {
  const seed = Buffer.from(req.seed, 'base64');
  if (seed.length < 16 || seed.length > 512) throw new OpError('EBADREQ', `a seed has 16 to 512 bytes, not ${seed.length}`);
  if (existsSync(PERL)) {
    const r = await execa(PERL, ['-e', PERL_RESEED], { input: seed, reject: false, timeout: 5_000, encoding: 'utf8' });
    if (r.exitCode === 0) return { method: 'ioctl' };
    log(`random.reseed: the ioctl path failed (${String(r.stderr).trim().slice(0, 200)}); writing to /dev/urandom instead`);
  }
  await writeFile('/dev/urandom', seed);
  return { method: 'write' };
}
