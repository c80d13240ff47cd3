/**
 * Request bodies for the cloud-hypervisor REST API (v53), built by pure functions so that
 * test/unit/ch-openapi.test.ts can validate every body hob sends against the OpenAPI file.
 * Field names follow the API exactly (snake_case).
 *
 * aarch64 (the DGX Spark; docs/architecture.md §4) differs from x86_64 in what the guest
 * gets, not in the body's shape, which test/unit/ch-openapi.test.ts validates for both:
 * - payload.kernel is the uncompressed arm64 `Image` (guest-image/build inflates Debian's
 *   gzip'd vmlinuz): CH boots it directly and hands it a device tree. No `firmware`: with
 *   one (CLOUDHV_EFI.fd) the guest would boot through UEFI and ACPI instead, slower and with
 *   nothing hob needs. A compressed kernel fails vm.boot; the driver refuses it before.
 * - The serial port is a PL011, so the console is ttyAMA0 (chCmdline); as on x86 it is a socket.
 * - The interrupt controller is the host's in-kernel vGIC: CH creates a GICv3 (with ITS for
 *   MSI, which the virtio-pci devices use) through KVM and has no setting for it. A host
 *   without GICv3 (GICv2-only boards) fails vm.create; Armv9 hosts like the DGX Spark have a
 *   GICv3/v4 (a v4 host offers v3 vGICs; not yet verified on the real box).
 * - No x86-only fields are ever sent (cpus.kvm_hyperv, cpus.features.amx, tdx/sev payloads).
 * - boot_vcpus = max_vcpus, as on x86 (CH has no vCPU hotplug on aarch64 anyway).
 * - Devices are the same virtio-pci ones (disk, net, vsock, rng) on CH's PCIe segment.
 */
import { serialConsoleDevice } from '../arch.js';
import type { GuestArch, VmSpec } from '../types.js';

/** vsock context id of every guest (each VM has its own vsock device; ids need not differ). */
export const GUEST_VSOCK_CID = 3;

export interface ChPayloadConfig {
  kernel: string;
  initramfs?: string;
  cmdline: string;
}
export interface ChCpusConfig {
  boot_vcpus: number;
  max_vcpus: number;
}
export interface ChMemoryConfig {
  /** Bytes. */
  size: number;
  shared: boolean;
}
export interface ChDiskConfig {
  id: string;
  path: string;
  readonly: boolean;
  image_type: 'Raw';
  sparse: boolean;
}
export interface ChNetConfig {
  id: string;
  tap: string;
  mac: string;
}
export interface ChVsockConfig {
  id: string;
  cid: number;
  socket: string;
}
export interface ChConsoleConfig {
  mode: 'Off' | 'Pty' | 'Tty' | 'File' | 'Socket' | 'Null';
  file?: string;
  socket?: string;
}
export interface ChRngConfig {
  src: string;
}
/** The subset of VmConfig hob sends to `PUT /vm.create`. */
export interface ChVmConfig {
  payload: ChPayloadConfig;
  cpus: ChCpusConfig;
  memory: ChMemoryConfig;
  disks: ChDiskConfig[];
  net?: ChNetConfig[];
  vsock: ChVsockConfig;
  rng: ChRngConfig;
  serial: ChConsoleConfig;
  console: ChConsoleConfig;
}

/** Paths cloud-hypervisor uses inside the runDir. */
export interface ChVmPaths {
  readonly vsockSocket: string;
  /** The serial port's unix socket (CH listens), read by hob's ConsoleReader into the bounded log. */
  readonly consoleSocket: string;
}

/** Kernel command line: the caller's plus the serial console and panic behaviour. */
export function chCmdline(arch: GuestArch, cmdline: string): string {
  // panic=-1 turns a guest kernel panic into a reboot request, which shows up as an event
  // instead of a guest that hangs while looking "Running".
  return [cmdline.trim(), `console=${serialConsoleDevice(arch)}`, 'panic=-1'].filter(Boolean).join(' ');
}

/** Body of `PUT /api/v1/vm.create`. */
export function buildVmConfig(spec: VmSpec, arch: GuestArch, paths: ChVmPaths): ChVmConfig {
  const payload: ChPayloadConfig = { kernel: spec.kernelPath, cmdline: chCmdline(arch, spec.cmdline) };
  if (spec.initramfsPath) payload.initramfs = spec.initramfsPath;
  const config: ChVmConfig = {
    payload,
    cpus: { boot_vcpus: spec.cpus, max_vcpus: spec.cpus },
    memory: { size: spec.memoryMiB * 1024 * 1024, shared: false },
    disks: spec.disks.map((d) => ({
      id: d.id,
      path: d.path,
      readonly: d.readOnly ?? false,
      image_type: 'Raw',
      sparse: true,
    })),
    vsock: { id: 'vsock0', cid: GUEST_VSOCK_CID, socket: paths.vsockSocket },
    rng: { src: '/dev/urandom' },
    // Both set explicitly: an omitted console defaults to Tty and grabs CH's stdio. The serial
    // port is a socket hobd reads into a bounded log (console-log.ts): a File has no cap.
    serial: { mode: 'Socket', socket: paths.consoleSocket },
    console: { mode: 'Off' },
  };
  if (spec.net) config.net = [{ id: 'net0', tap: spec.net.tap, mac: spec.net.mac }];
  return config;
}

/** Body of `PUT /api/v1/vm.snapshot`: writes into `dir` (which must exist and be empty). */
export function buildSnapshotConfig(dir: string): { destination_url: string } {
  return { destination_url: `file://${dir}` };
}

/** How restored guest memory is brought in: read up front, or faulted in on demand (userfaultfd). */
export type ChMemoryRestoreMode = 'Copy' | 'OnDemand';

/** Body of `PUT /api/v1/vm.restore`. The VM is left paused (`resume: false`). */
export function buildRestoreConfig(
  dir: string,
  mode: ChMemoryRestoreMode = 'Copy',
): { source_url: string; prefault: boolean; memory_restore_mode: ChMemoryRestoreMode; resume: boolean } {
  return { source_url: `file://${dir}`, prefault: false, memory_restore_mode: mode, resume: false };
}
