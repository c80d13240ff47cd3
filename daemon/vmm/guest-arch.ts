/**
 * Which CPU architecture a guest is, and whether this hobd may run it
 * (docs/architecture.md §4). A guest of the host's own architecture always runs.
 * Another one (an arm64 image on x86_64, an amd64 image on the DGX Spark) runs only
 * under qemu's TCG emulation, tens of times slower than KVM, and only when hobd's
 * config says `vmm.allowForeignArch: true` (tests and cross-architecture checks do).
 * cloud-hypervisor never runs one: it has no emulator, it needs KVM.
 */
import { open } from 'node:fs/promises';
import { ForeignArchError, VmmError } from '../errors.js';
import { elfHeaderArch } from './arch.js';
import type { GuestArch, VmmKind } from './types.js';

/** What decides whether a foreign guest may run. */
export interface ArchPolicy {
  readonly hostArch: GuestArch;
  readonly driver: VmmKind;
  /** hobd's `vmm.allowForeignArch`. */
  readonly allowForeignArch: boolean;
}

/** Why a guest of `guest` architecture may not run under `policy`, or null if it may. */
export function foreignArchRefusal(guest: GuestArch, policy: ArchPolicy): string | null {
  const { hostArch } = policy;
  if (guest === hostArch) return null;
  const what = `this is an ${guest} guest and the host is ${hostArch}`;
  if (policy.driver !== 'qemu') {
    return `${what}: cloud-hypervisor runs only guests of the host's architecture (foreign guests need the qemu driver and vmm.allowForeignArch)`;
  }
  if (!policy.allowForeignArch) {
    return `${what}: foreign-architecture guests run only under qemu's TCG emulation (very slow), and only when hobd's config sets vmm.allowForeignArch: true`;
  }
  return null;
}

/** Throws ForeignArchError (400) when `guest` may not run under `policy`. `subject` opens the message. */
export function requireRunnableArch(subject: string, guest: GuestArch, policy: ArchPolicy): void {
  const why = foreignArchRefusal(guest, policy);
  if (why) throw new ForeignArchError(`${subject}: ${why}`);
}

const arm64ImageMagic = Buffer.from('ARM\x64', 'latin1');

/**
 * The architecture of a kernel file, from its header: an x86 bzImage has "HdrS" at
 * 0x202 (boot protocol header), an arm64 `Image` "ARM\x64" at 56, an ELF vmlinux
 * (x86 PVH) its e_machine. The kernel is what boots, so it decides the guest's
 * architecture (images record theirs in manifest.json too). null for any other
 * format (a gzip'd arm64 kernel, garbage): the caller assumes the host's and lets
 * the VMM refuse it. Throws VmmError when the file cannot be read.
 */
export async function kernelArch(kernelPath: string): Promise<GuestArch | null> {
  let head: Buffer;
  try {
    const fh = await open(kernelPath, 'r');
    try {
      head = Buffer.alloc(0x210);
      await fh.read(head, 0, head.length, 0);
    } finally {
      await fh.close();
    }
  } catch (err) {
    throw new VmmError(`cannot read kernel ${kernelPath}`, { cause: err });
  }
  if (head.subarray(56, 60).equals(arm64ImageMagic)) return 'aarch64';
  if (head.toString('latin1', 0x202, 0x206) === 'HdrS') return 'x86_64';
  return elfHeaderArch(head);
}
