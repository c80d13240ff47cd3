import { VmmError } from '../errors.js';
import type { GuestArch } from './types.js';

/** Maps Node's `process.arch` to the guest architecture hob runs. Throws VmmError on other hosts. */
export function hostArch(nodeArch: string = process.arch): GuestArch {
  if (nodeArch === 'x64') return 'x86_64';
  if (nodeArch === 'arm64') return 'aarch64';
  throw new VmmError(`unsupported host architecture ${nodeArch}: hob runs on x86_64 and aarch64`);
}

/** The serial console device the guest kernel should write to (`console=` argument). */
export function serialConsoleDevice(arch: GuestArch): string {
  // x86: 8250 UART at 0x3f8 (qemu isa-serial, cloud-hypervisor serial); arm: PL011.
  return arch === 'x86_64' ? 'ttyS0' : 'ttyAMA0';
}

/** ELF e_machine values (header offset 18, little endian) of the architectures hob runs. */
const elfMachines: Record<number, GuestArch> = { 0x3e: 'x86_64', 0xb7: 'aarch64' };

/** The architecture in an ELF header (its first 20 bytes or more); null unless a 64-bit little-endian ELF of one hob runs. */
export function elfHeaderArch(head: Buffer): GuestArch | null {
  if (head.length < 20 || head.toString('latin1', 0, 4) !== '\x7fELF' || head[4] !== 2 || head[5] !== 1) return null;
  return elfMachines[head.readUInt16LE(18)] ?? null;
}
