/**
 * The architecture of an ELF file, from its header: a guard against putting a
 * binary of the wrong architecture into an image (the host's Node into an arm64
 * image would only fail at the guest's first boot).
 */
import { open } from 'node:fs/promises';
import { ImageBuildError } from './errors.js';
import type { GuestArch } from './types.js';

/** e_machine values (ELF header offset 18, little endian). */
const machines: Record<number, GuestArch> = { 0x3e: 'x86_64', 0xb7: 'aarch64' };

/** The architecture `file` is built for, or null if it is not a 64-bit little-endian ELF of one we know. */
export async function elfArch(file: string): Promise<GuestArch | null> {
  const fh = await open(file, 'r');
  try {
    const b = Buffer.alloc(20);
    await fh.read(b, 0, 20, 0);
    if (b.toString('latin1', 0, 4) !== '\x7fELF' || b[4] !== 2 || b[5] !== 1) return null;
    return machines[b.readUInt16LE(18)] ?? null;
  } finally {
    await fh.close();
  }
}

/** Throws ImageBuildError unless `file` is an ELF for `arch`. */
export async function checkElfArch(file: string, arch: GuestArch): Promise<void> {
  const got = await elfArch(file);
  if (got !== arch) throw new ImageBuildError(`${file} is built for ${got ?? 'an unknown architecture'}, the image is ${arch}`);
}
