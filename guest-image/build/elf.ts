/**
 * The architecture of an ELF file, from its header: a guard against putting a
 * binary of the wrong architecture into an image (the host's Node into an arm64
 * image would only fail at the guest's first boot).
 */
import { open } from 'node:fs/promises';
import { elfHeaderArch } from '../../daemon/vmm/arch.js';
import { ImageBuildError } from './errors.js';
import type { GuestArch } from './types.js';

/** The architecture `file` is built for, or null if it is not a 64-bit little-endian ELF of one we know. */
export async function elfArch(file: string): Promise<GuestArch | null> {
  const fh = await open(file, 'r');
  try {
    const b = Buffer.alloc(20);
    await fh.read(b, 0, 20, 0);
    return elfHeaderArch(b);
  } finally {
    await fh.close();
  }
}

/** Throws ImageBuildError unless `file` is an ELF for `arch`. */
export async function checkElfArch(file: string, arch: GuestArch): Promise<void> {
  const got = await elfArch(file);
  if (got !== arch) throw new ImageBuildError(`${file} is built for ${got ?? 'an unknown architecture'}, the image is ${arch}`);
}
