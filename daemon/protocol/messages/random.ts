/**
 * Fresh randomness for a guest resumed from a memory snapshot (docs/architecture.md §18):
 * every copy of one snapshot starts with the same kernel random state, so the host sends
 * each one its own seed right after the resume, before anything else runs in it.
 */
import * as z from 'zod';

/** Bytes of host entropy sent with a reseed: the kernel's input pool is 256 bits, twice that leaves margin. */
export const RESEED_SEED_BYTES = 64;

export const RandomReseedRequestSchema = z.object({
  op: z.literal('random.reseed'),
  /** Host entropy, base64 (16 to 512 bytes once decoded). */
  seed: z.string().min(24).max(684).regex(/^[A-Za-z0-9+/]+={0,2}$/, 'base64'),
});

export const RandomReseedResultSchema = z.object({
  /**
   * How the seed reached the kernel: `ioctl` (RNDADDENTROPY, credited, then RNDRESEEDCRNG:
   * the kernel's generator was rekeyed from it at once) or `write` (mixed into the input
   * pool through /dev/urandom, uncredited: used at the kernel's next reseed).
   */
  method: z.enum(['ioctl', 'write']),
});
