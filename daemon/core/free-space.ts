/**
 * Room in the pool before an operation that writes to it. Measured one way,
 * SandboxVolumes.freeBytes (statfs: no process to start on a checkpoint's hot path).
 */
import { PoolFullError } from '../errors.js';
import type { SandboxVolumes } from '../storage/index.js';

const MiB = 1024 ** 2;

/**
 * A create needs at least this much free pool space: the guest writes at boot
 * (logs, the grown filesystem's metadata), and a VMM whose disk hits ENOSPC
 * pauses the guest instead of failing, so the create would hang until timeout.
 */
export const MIN_FREE_FOR_CREATE_BYTES = 512 * MiB;

/**
 * @param what the operation, as the message names it ("a new sandbox").
 * @param remedy what to remove first ("sandboxes, checkpoints or images").
 * @throws PoolFullError when the pool has less than `needBytes` free.
 */
export async function requireFreeSpace(volumes: SandboxVolumes, needBytes: number, what: string, remedy: string): Promise<void> {
  const freeBytes = await volumes.freeBytes();
  if (freeBytes < needBytes) {
    throw new PoolFullError(`the pool has ${Math.floor(freeBytes / MiB)} MiB free; ${what} needs at least ${Math.ceil(needBytes / MiB)} MiB (remove ${remedy}, or grow the pool)`);
  }
}

/** @throws PoolFullError when the pool is too full for a new sandbox (see MIN_FREE_FOR_CREATE_BYTES). */
export function requireCreateSpace(volumes: SandboxVolumes): Promise<void> {
  return requireFreeSpace(volumes, MIN_FREE_FOR_CREATE_BYTES, 'a new sandbox', 'sandboxes, checkpoints or images');
}
