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
