/**
 * Pure construction of the qemu-system command line for one VM. No I/O here: everything
 * the driver learned about the host (arch, accelerator, machine) comes in as input, so the
 * result can be unit-tested for both architectures on any host.
 */
import { AGENT_VIRTIO_PORT_NAME } from '../../protocol/constants.js';
import { join } from 'node:path';
import { serialConsoleDevice } from '../arch.js';
import { consoleLogPath } from '../console-log.js';
import type { GuestArch, VmSpec } from '../types.js';
import { memoryBackendMachineOption, memoryFileArgs, type QemuMemoryFile } from './memory-file.js';

/** Files qemu uses inside spec.runDir. */
export interface QemuPaths {
  /** QMP control socket (qemu is the server). */
  readonly qmpSocket: string;
  /** Agent channel: virtio-serial port backed by this unix socket (qemu is the server). */
  readonly agentSocket: string;
  /** Unix socket used to stream the migration (memory snapshot) to/from a file. */
  readonly migrationSocket: string;
  /** Written by qemu (`-pidfile`) right at start-up. */
  readonly pidFile: string;
  /** Guest serial console: qemu serves it on this unix socket, hobd copies it into consoleLog. */
  readonly consoleSocket: string;
  /** Guest serial console output, bounded (written by hob's ConsoleReader, see console-log.ts). */
  readonly consoleLog: string;
  readonly stdoutLog: string;
  readonly stderrLog: string;
}

/** Socket file names, checked against the unix path length limit before start. */
export const QEMU_SOCKET_NAMES = ['qmp.sock', 'agent.sock', 'migrate.sock', 'console.sock'] as const;

export function qemuPaths(runDir: string): QemuPaths {
  return {
    qmpSocket: join(runDir, 'qmp.sock'),
    agentSocket: join(runDir, 'agent.sock'),
    migrationSocket: join(runDir, 'migrate.sock'),
    consoleSocket: join(runDir, 'console.sock'),
    pidFile: join(runDir, 'qemu.pid'),
    consoleLog: consoleLogPath(runDir),
    stdoutLog: join(runDir, 'qemu.stdout.log'),
    stderrLog: join(runDir, 'qemu.stderr.log'),
  };
}

/** The entries of runDir that belong to a live process and go away with it. */
export function qemuTransientFiles(): string[] {
  return [...QEMU_SOCKET_NAMES, 'qemu.pid'];
}

export type QemuAccel = 'kvm' | 'tcg';

/**
 * x86_64 machine family. `q35` (the default) boots through SeaBIOS; `microvm` (with
 * `pcie=on`, since the Debian cloud kernel has virtio as modules and no virtio-mmio cmdline
 * devices) through qboot. Measured under TCG on 2 cores with the minimal image, both reach
 * the first initramfs line in the same time (within noise), but on microvm the Debian kernel
 * hangs calibrating the TSC (no PIT/HPET reference) unless the command line carries
 * `tsc_early_khz=`, and microvm has no versioned machine types to pin snapshots to. Hence q35.
 */
export type QemuX86Machine = 'q35' | 'microvm';

export interface QemuArgvInput {
  readonly arch: GuestArch;
  readonly accel: QemuAccel;
  /**
   * Machine type for `-M`: on x86_64 `q35`, a concrete `pc-q35-X.Y` (restores pin the
   * concrete type the snapshot was taken with) or `microvm`; on aarch64 `virt` or `virt-X.Y`.
   */
  readonly machine: string;
  readonly spec: VmSpec;
  readonly paths: QemuPaths;
  /** Restore: wait for `migrate-incoming` (`-incoming defer`) and stay paused afterwards. */
  readonly incoming: boolean;
  /** Use vhost-net for the tap (only with KVM and /dev/vhost-net). */
  readonly vhostNet?: boolean;
  /**
   * Add a VM generation ID device (x86_64 only; see vmgenidFor). A restore must match what
   * the snapshot was taken with (its vmm.json `qemu.vmgenid`): the device is guest-visible state.
   */
  readonly vmgenid?: boolean;
  /** Guest RAM in a file instead of anonymous memory (memory-file.ts). */
  readonly memoryFile?: QemuMemoryFile;
}

/**
 * Whether new VMs of `arch` get QEMU's `vmgenid` device (docs/architecture.md §18). With
 * `guid=auto` every qemu process, a restoring one too, writes a new random generation ID into
 * guest memory after loading a snapshot and notifies the guest over ACPI; a kernel with
 * CONFIG_VMGENID then reseeds its generator. x86_64 only: on the aarch64 `virt` board hob
 * boots with a device tree, where the ACPI device is not seen.
 */
export function vmgenidFor(arch: GuestArch): boolean {
  return arch === 'x86_64';
}

export function qemuBinaryName(arch: GuestArch): string {
  return arch === 'x86_64' ? 'qemu-system-x86_64' : 'qemu-system-aarch64';
}

/** Escapes a value for QEMU's key=value option syntax (a comma is written as two). */
export function optValue(v: string): string {
  return v.replaceAll(',', ',,');
}

/** Kernel command line: the caller's plus the serial console and panic behaviour. */
export function guestCmdline(arch: GuestArch, cmdline: string): string {
  // panic=-1 reboots on a kernel panic, which -no-reboot turns into a qemu exit that hobd sees,
  // instead of a hung guest that still looks "running".
  return [cmdline.trim(), `console=${serialConsoleDevice(arch)}`, 'panic=-1'].filter(Boolean).join(' ');
}

function machineArg(input: QemuArgvInput): string {
  const base = baseMachineArg(input);
  return input.memoryFile ? `${base},${memoryBackendMachineOption(input.arch, input.machine)}` : base;
}

function baseMachineArg(input: QemuArgvInput): string {
  const { arch, machine } = input;
  if (arch === 'aarch64') {
    // aarch64 (docs/architecture.md §4): the `virt` board, booted straight into the kernel's
    // `Image` (no firmware; the kernel gets a device tree), PL011 serial (ttyAMA0), a PCIe host
    // bridge carrying the same virtio-pci devices as on x86 (virtio-mmio would need devices
    // declared one by one and has no hotplug). GICv3 under both accelerators: KVM hosts with
    // GICv3/v4 (Armv9 boards like the DGX Spark; unverified there) offer a v3 vGIC, TCG emulates v3, and a fixed version keeps
    // memory snapshots loadable across qemu versions (`max` may mean v4 in newer TCG).
    // Failure mode: a KVM host with only a GICv2 makes qemu exit at start with a GIC error.
    return `${machine},gic-version=3`;
  }
  if (machine === 'microvm') return 'microvm,pcie=on';
  // q35 without the legacy devices a microVM never uses.
  return `${machine},sata=off,smbus=off,vmport=off`;
}

/** Builds argv (binary first) for qemu-system-<arch>. */
export function buildQemuArgv(input: QemuArgvInput): string[] {
  const { arch, accel, spec, paths } = input;
  const a: string[] = [qemuBinaryName(arch)];
  a.push('-name', `${optValue(`hob-${spec.id}`)},process=hob-vm`);
  a.push('-nodefaults', '-no-user-config', '-nographic', '-no-reboot');
  a.push('-M', machineArg(input));
  if (accel === 'kvm') a.push('-accel', 'kvm', '-cpu', 'host');
  else a.push('-accel', 'tcg,thread=multi', '-cpu', 'max');
  a.push('-smp', String(spec.cpus), '-m', `${spec.memoryMiB}M`);
  if (input.memoryFile) a.push(...memoryFileArgs(arch, input.machine, spec.memoryMiB, input.memoryFile));
  a.push('-pidfile', paths.pidFile);

  a.push('-kernel', spec.kernelPath);
  if (spec.initramfsPath) a.push('-initrd', spec.initramfsPath);
  a.push('-append', guestCmdline(arch, spec.cmdline));

  // Serial console on a unix socket that hobd reads into a bounded log (a file chardev has
  // no size limit: a guest could fill the run dir). wait=on: qemu waits for hobd's reader
  // before it runs the guest, so the log starts with the first byte. While nobody is
  // connected (hobd restarting) qemu drops the output, and a reader that stops reading
  // makes qemu drop bytes after a few retries: the guest never blocks on its console.
  // First chardev, so qemu waits here before it serves QMP.
  a.push('-chardev', `socket,id=con0,path=${optValue(paths.consoleSocket)},server=on,wait=on`);
  a.push('-serial', 'chardev:con0');

  // QMP control socket. wait=off: qemu does not block start-up waiting for a client.
  a.push('-chardev', `socket,id=qmp,path=${optValue(paths.qmpSocket)},server=on,wait=off`);
  a.push('-mon', 'chardev=qmp,mode=control');

  for (const d of spec.disks) {
    // cache=writeback (qemu's default, host page cache): every write qemu completes is in the
    // host kernel and survives a crash of hobd or of qemu itself; guest flushes and FUA become
    // fdatasync, so what the guest synced survives a host crash too, like a disk with a
    // volatile write cache. cache=none (O_DIRECT) would add nothing to that guarantee, fails
    // on tmpfs, and O_DIRECT writes on btrfs with data checksums are fragile.
    const drive = [
      `if=none`,
      `id=drive-${d.id}`,
      `file=${optValue(d.path)}`,
      'format=raw',
      'cache=writeback',
      'discard=unmap',
      'detect-zeroes=unmap',
      `readonly=${d.readOnly ? 'on' : 'off'}`,
    ];
    a.push('-drive', drive.join(','));
    a.push('-device', `virtio-blk-pci,drive=drive-${d.id},id=disk-${d.id}`);
  }

  if (spec.net) {
    const vhost = input.vhostNet ? ',vhost=on' : '';
    a.push('-netdev', `tap,id=net0,ifname=${optValue(spec.net.tap)},script=no,downscript=no${vhost}`);
    a.push('-device', `virtio-net-pci,netdev=net0,id=nic0,mac=${spec.net.mac}`);
  }

  // Agent channel: a virtio-serial port named org.hob.agent, backed by a unix socket.
  a.push('-device', 'virtio-serial-pci,id=vser0');
  a.push('-chardev', `socket,id=agent,path=${optValue(paths.agentSocket)},server=on,wait=off`);
  a.push('-device', `virtserialport,bus=vser0.0,chardev=agent,name=${AGENT_VIRTIO_PORT_NAME}`);

  // Entropy, so early getrandom() in the guest (node) does not wait.
  a.push('-object', 'rng-random,id=rng0,filename=/dev/urandom');
  a.push('-device', 'virtio-rng-pci,rng=rng0');

  if (input.vmgenid && arch === 'x86_64') a.push('-device', 'vmgenid,guid=auto');

  if (input.incoming) a.push('-S', '-incoming', 'defer');
  return a;
}
