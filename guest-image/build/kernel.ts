/**
 * Takes the kernel out of the tree's /boot.
 * - x86_64: the bzImage (/boot/vmlinuz-*) as is; cloud-hypervisor and QEMU boot it directly.
 * - aarch64: Debian's vmlinuz is a gzip'd `Image`; VMMs need it uncompressed.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { ImageBuildError } from './errors.js';
import type { ArchInfo } from './host.js';

export interface KernelResult {
  /** uname -r of the kernel, from the vmlinuz file name. */
  readonly version: string;
  readonly format: 'bzImage' | 'Image';
}

/** The single kernel version under <tree>/boot. Throws if there is none or more than one. */
export async function findKernelVersion(tree: string): Promise<string> {
  const names = (await readdir(path.join(tree, 'boot')).catch(() => [] as string[])).filter((n) => n.startsWith('vmlinuz-'));
  if (names.length !== 1) {
    throw new ImageBuildError(`expected exactly one /boot/vmlinuz-* in the tree, found ${names.length}: ${names.join(', ')}`);
  }
  return names[0]!.slice('vmlinuz-'.length);
}

const arm64ImageMagic = Buffer.from('ARM\x64', 'latin1');

/** Writes the bootable kernel of `tree` to `dest`. */
export async function extractKernel(tree: string, arch: ArchInfo, dest: string): Promise<KernelResult> {
  const version = await findKernelVersion(tree);
  const raw = await readFile(path.join(tree, 'boot', `vmlinuz-${version}`));
  if (arch.kernelFormat === 'bzImage') {
    // "HdrS" at 0x202 marks the x86 boot protocol header of a bzImage.
    if (raw.toString('latin1', 0x202, 0x206) !== 'HdrS') throw new ImageBuildError('vmlinuz is not an x86 bzImage');
    await writeFile(dest, raw);
    return { version, format: 'bzImage' };
  }
  const image = raw[0] === 0x1f && raw[1] === 0x8b ? gunzipSync(raw) : raw;
  // arm64 Image header: magic "ARM\x64" at offset 56.
  if (!image.subarray(56, 60).equals(arm64ImageMagic)) throw new ImageBuildError('vmlinuz is not an arm64 Image (after gunzip)');
  await writeFile(dest, image);
  return { version, format: 'Image' };
}
