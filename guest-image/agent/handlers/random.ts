/**
 * random.reseed (docs/architecture.md §18): mixes host entropy into the kernel's pool after
 * the guest was resumed from a memory snapshot, and makes the kernel rekey its generator
 * from it at once, so that two guests resumed from one snapshot stop sharing random state.
 *
 * Node has no ioctl(), so the credited path (RNDADDENTROPY, then RNDRESEEDCRNG, both need
 * CAP_SYS_ADMIN: the agent is root) runs in the agent's perl helper (kernel-helper.ts), which
 * is already running: a resumed guest starts no process for it. Without perl the seed is
 * written to /dev/urandom: mixed into the input pool but not credited, it reaches the
 * generator at the kernel's next reseed (within a minute).
 */
import { writeFile } from 'node:fs/promises';
import type { RequestOf, ResultOf } from '../../../daemon/protocol/index.js';
import { OpError } from '../errors.js';
import { log } from '../log.js';
import { HelperUnavailableError, kernelHelper } from './kernel-helper.js';

export async function reseedRandom(req: RequestOf<'random.reseed'>): Promise<ResultOf<'random.reseed'>> {
  const seed = Buffer.from(req.seed, 'base64');
  if (seed.length < 16 || seed.length > 512) throw new OpError('EBADREQ', `a seed has 16 to 512 bytes, not ${seed.length}`);
  try {
    await kernelHelper.reseed(seed);
    return { method: 'ioctl' };
  } catch (err) {
    if (!(err instanceof HelperUnavailableError || err instanceof OpError)) throw err;
    log(`random.reseed: the ioctl path failed (${err.message.slice(0, 200)}); writing to /dev/urandom instead`);
  }
  await writeFile('/dev/urandom', seed);
  return { method: 'write' };
}
