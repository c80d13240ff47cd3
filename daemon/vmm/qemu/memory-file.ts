/**
 * Guest RAM kept in a file (docs/architecture.md §26): the warm templates' lazy memory
 * restore on QEMU 7.2, where `mapped-ram` (9.0) does not exist yet.
 *
 * - The template VM runs with its RAM in a file mapped shared (`share=on`): every guest write
 *   lands in the file. Its snapshot is taken with the migration capability `x-ignore-shared`,
 *   under which 7.2 skips every shared RAM block (`ramblock_is_ignored`), so the stream holds
 *   device state only and the RAM stays in the file.
 * - A VM restored from it maps the file privately (`share=off`, MAP_PRIVATE): pages fault in
 *   from the file as the guest touches them, writes stay in the process. The destination's
 *   block is not shared, hence not ignored, but the stream carries no page of it: what the
 *   guest sees is the file. The incoming side needs `x-ignore-shared` too (the stream then
 *   carries each block's guest address, which it checks).
 * - The backend takes the machine's default RAM id (`pc.ram`, `mach-virt.ram`) and the
 *   block name without its canonical path, exactly what `-m` alone makes: the RAM block is
 *   then called the same as in a VM without a file, so a later snapshot of the restored VM
 *   (a live checkpoint, hibernation, a live fork) is an ordinary stream that an ordinary
 *   restore loads.
 * - In 7.2 `share=off` still opens the file O_RDWR (`readonly=on` would make guest RAM a ROM;
 *   `rom=off` arrives in 8.2), so the file must sit on a writable filesystem: a restore maps
 *   the copy in its own volume (a btrfs snapshot of the template), never the template's file.
 */
import type { GuestArch } from '../types.js';
import { optValue } from './argv.js';

/** A VM's RAM in a file: `shared` while it is a template (writes go to the file), private when restored from one. */
export interface QemuMemoryFile {
  readonly path: string;
  readonly shared: boolean;
}

/** The id QEMU gives the RAM backend that `-m` alone creates for `machine` (MachineClass default_ram_id). */
export function defaultRamId(arch: GuestArch, machine: string): string {
  if (arch === 'aarch64') return 'mach-virt.ram';
  return machine === 'microvm' ? 'microvm.ram' : 'pc.ram';
}

/** What the `-M` value gets appended for a file-backed RAM. */
export function memoryBackendMachineOption(arch: GuestArch, machine: string): string {
  return `memory-backend=${defaultRamId(arch, machine)}`;
}

/** The `-object memory-backend-file,...` arguments. */
export function memoryFileArgs(arch: GuestArch, machine: string, memoryMiB: number, file: QemuMemoryFile): string[] {
  const opts = [
    'memory-backend-file',
    `id=${defaultRamId(arch, machine)}`,
    `mem-path=${optValue(file.path)}`,
    `size=${memoryMiB}M`,
    `share=${file.shared ? 'on' : 'off'}`,
    // The block is named like -m's (`pc.ram`), not `/objects/pc.ram`: streams stay interchangeable.
    // 7.2 does so by default (checked with `info ramblock`); said explicitly so that no default can change it.
    'x-use-canonical-path-for-ramblock-id=off',
  ];
  return ['-object', opts.join(',')];
}
