import { constants } from 'node:fs';
import { access, open, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { execa } from 'execa';
import { ConflictError, VmmError } from '../../errors.js';
import { hostArch } from '../arch.js';
import { kernelArch, requireRunnableArch } from '../guest-arch.js';
import { ConsoleReader } from '../console-log.js';
import {
  killAndWait,
  ExitWatch,
  processIdentity,
  readCmdline,
  readPidFile,
  signalProcess,
  spawnDetached,
} from '../process.js';
import { emptyDir, removeEntries, tailFile } from '../run-dir.js';
import { checkSnapshotFits, readSnapshotMeta } from '../snapshot-meta.js';
import { validateSpec } from '../spec.js';
import type { GuestArch, VmHandle, VmmDriver, VmSpec } from '../types.js';
import { connectUnixOnce, connectUnixWhenReady } from '../unix.js';
import {
  buildQemuArgv,
  QEMU_SOCKET_NAMES,
  qemuBinaryName,
  qemuPaths,
  qemuTransientFiles,
  type QemuAccel,
  type QemuPaths,
  type QemuX86Machine,
  vmgenidFor,
} from './argv.js';
import { migrationTimeoutMs, QemuVm } from './handle.js';
import type { QemuMemoryFile } from './memory-file.js';
import { loadMigrationFromFile } from './migration.js';
import { QmpClient } from './qmp.js';

/** Options of the qemu driver; every field has a sensible default for this host. */
export interface QemuDriverOptions {
  /** Use KVM (`-accel kvm -cpu host`) instead of TCG. Default: false (TCG works everywhere). */
  readonly kvm?: boolean;
  /** The host's architecture, which guests have unless allowForeignArch. Default: the host's. */
  readonly arch?: GuestArch;
  /** qemu-system binary for `arch` guests (name on PATH or absolute path). Default: qemu-system-<arch>. */
  readonly binary?: string;
  /**
   * Boot guests of the other architecture too (hobd's `vmm.allowForeignArch`), always under
   * TCG with qemu-system-<their arch>. Default false: such a start or restore throws
   * ForeignArchError. The guest's architecture is read from its kernel (guest-arch.ts).
   */
  readonly allowForeignArch?: boolean;
  /** x86_64 machine for new VMs. Default: q35 (see the boot-time notes in README/report). */
  readonly x86Machine?: QemuX86Machine;
  /** How long start() waits for QMP to come up. Default 30 s. */
  readonly startTimeoutMs?: number;
}

/** QEMU's `--version` first line: "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)". */
export function parseQemuVersion(output: string): string {
  const m = /QEMU emulator version (\S+(?: \([^)]*\))?)/.exec(output);
  if (!m?.[1]) throw new VmmError(`cannot parse qemu version from: ${output.slice(0, 200)}`);
  return m[1];
}

/** Formats query-version like parseQemuVersion does the binary's output. */
function formatQmpVersion(v: { qemu: { major: number; minor: number; micro: number }; package: string }): string {
  const pkg = v.package.trim();
  return `${v.qemu.major}.${v.qemu.minor}.${v.qemu.micro}${pkg ? ` ${pkg.startsWith('(') ? pkg : `(${pkg})`}` : ''}`;
}

/**
 * True when `cmdline` (of /proc/<pid>) is a qemu-system process of the VM whose pid file is
 * `pidFile`: guards adopt() against a recycled pid.
 */
export function isQemuCmdlineFor(cmdline: readonly string[], pidFile: string): boolean {
  const exe = cmdline[0];
  if (!exe || !basename(exe).startsWith('qemu-system-')) return false;
  const i = cmdline.indexOf('-pidfile');
  return i >= 0 && cmdline[i + 1] === pidFile;
}

/** True when a qemu command line serves the serial console on a socket (hob's ConsoleReader reads it). */
export function hasConsoleSocket(cmdline: readonly string[]): boolean {
  return cmdline.some((a) => a.startsWith('socket,id=con0,'));
}

/** The guest architecture of a qemu command line, from its binary's name (for adopted processes). */
function archFromCmdline(cmdline: readonly string[], fallback: GuestArch): GuestArch {
  const exe = basename(cmdline[0] ?? '');
  return exe.endsWith('aarch64') ? 'aarch64' : exe.endsWith('x86_64') ? 'x86_64' : fallback;
}

/** How one guest runs: its architecture, accelerator and qemu binary. */
interface GuestRun {
  readonly arch: GuestArch;
  readonly accel: QemuAccel;
  readonly binary: string;
}

/** The accelerator named in a qemu command line (for adopted processes). */
function accelFromCmdline(cmdline: readonly string[]): QemuAccel {
  const i = cmdline.indexOf('-accel');
  return i >= 0 && cmdline[i + 1]?.startsWith('kvm') ? 'kvm' : 'tcg';
}

export class QemuDriver implements VmmDriver {
  readonly kind = 'qemu' as const;
  readonly mappedMemory = true;
  readonly arch: GuestArch;
  readonly accel: QemuAccel;
  readonly binary: string;
  readonly x86Machine: QemuX86Machine;
  readonly allowForeignArch: boolean;
  private readonly startTimeoutMs: number;

  constructor(opts: QemuDriverOptions = {}) {
    this.arch = opts.arch ?? hostArch();
    this.accel = opts.kvm ? 'kvm' : 'tcg';
    this.binary = opts.binary ?? qemuBinaryName(this.arch);
    this.x86Machine = opts.x86Machine ?? 'q35';
    this.startTimeoutMs = opts.startTimeoutMs ?? 30_000;
    this.allowForeignArch = opts.allowForeignArch ?? false;
  }

  /**
   * How `spec`'s guest runs. Its own architecture: this driver's accelerator and binary.
   * The other one (docs/architecture.md §4): TCG and qemu-system-<arch>, only with
   * allowForeignArch (ForeignArchError otherwise); `-cpu host` cannot emulate another ISA.
   * A kernel of no known format is taken for the host's (qemu then says what is wrong with it).
   * VmmError when a file of the spec is missing.
   */
  private async guestRun(spec: VmSpec): Promise<GuestRun> {
    await this.checkFiles(spec);
    const arch = (await kernelArch(spec.kernelPath)) ?? this.arch;
    requireRunnableArch(`VM ${spec.id}`, arch, { hostArch: this.arch, driver: 'qemu', allowForeignArch: this.allowForeignArch });
    if (arch === this.arch) return { arch, accel: this.accel, binary: this.binary };
    return { arch, accel: 'tcg', binary: qemuBinaryName(arch) };
  }

  async version(): Promise<string> {
    try {
      const { stdout } = await execa(this.binary, ['--version'], { timeout: 10_000 });
      return parseQemuVersion(stdout);
    } catch (err) {
      if (err instanceof VmmError) throw err;
      throw new VmmError(`cannot run ${this.binary} --version: is qemu installed?`, { cause: err });
    }
  }

  async start(spec: VmSpec): Promise<VmHandle> {
    validateSpec(spec, QEMU_SOCKET_NAMES);
    const paths = qemuPaths(spec.runDir);
    await this.ensureNoLiveVm(spec, paths);
    const run = await this.guestRun(spec);
    await emptyDir(spec.runDir);
    // aarch64: the `virt` board (GICv3, virtio-pci through its PCIe host bridge, PL011 UART).
    const machine = run.arch === 'x86_64' ? this.x86Machine : 'virt';
    if (spec.memoryFile !== undefined) await createMemoryFile(spec.memoryFile);
    const memoryFile = spec.memoryFile !== undefined ? { path: spec.memoryFile, shared: true } : undefined;
    return this.launch(spec, paths, run, machine, false, vmgenidFor(run.arch), memoryFile, async (vm, qmp) => {
      const { status } = await qmp.execute('query-status', undefined);
      if (status !== 'running') throw new VmmError(`VM ${spec.id}: qemu reports ${status} after start, not running`);
      return vm;
    });
  }

  async restore(spec: VmSpec, snapshotDir: string): Promise<VmHandle> {
    validateSpec(spec, QEMU_SOCKET_NAMES);
    const meta = await readSnapshotMeta(snapshotDir);
    checkSnapshotFits(meta, 'qemu', spec);
    if (!meta.qemu) throw new VmmError(`${snapshotDir}: qemu snapshot without migration details`);
    const run = await this.guestRun(spec);
    if (meta.arch !== run.arch) throw new VmmError(`${snapshotDir} is an ${meta.arch} snapshot, the kernel of ${spec.id} is ${run.arch}`);
    if (meta.qemu.accel !== run.accel) {
      // -cpu host (KVM) and -cpu max (TCG) expose different CPUs: the guest would break.
      throw new VmmError(`${snapshotDir} was taken under ${meta.qemu.accel}, this VM would run under ${run.accel}`);
    }
    const memFile = join(snapshotDir, meta.qemu.memoryFile);
    const size = await stat(memFile).then((s) => s.size, () => -1);
    if (size !== meta.qemu.memoryFileBytes) {
      throw new VmmError(`${memFile} has ${size} bytes, the snapshot recorded ${meta.qemu.memoryFileBytes}`);
    }
    // RAM in a file next to the stream (memory-file.ts): mapped privately, read as the guest touches it.
    const ramFile = meta.qemu.ramFile === undefined ? undefined : join(snapshotDir, meta.qemu.ramFile);
    if (ramFile !== undefined) {
      const ramBytes = await stat(ramFile).then((s) => s.size, () => -1);
      if (ramBytes !== spec.memoryMiB * 1024 * 1024) throw new VmmError(`${ramFile} has ${ramBytes} bytes, the guest's RAM is ${spec.memoryMiB * 1024 * 1024}`);
    }
    const paths = qemuPaths(spec.runDir);
    await this.ensureNoLiveVm(spec, paths);
    await removeEntries(spec.runDir, qemuTransientFiles());
    const memoryFile = ramFile !== undefined ? { path: ramFile, shared: false } : undefined;
    return this.launch(spec, paths, run, meta.qemu.machine, true, meta.qemu.vmgenid ?? false, memoryFile, async (vm, qmp, watch) => {
      // Before the load, so that the guest finds its agent's host connected (vm-process.ts).
      await vm.preconnectAgent();
      await loadMigrationFromFile(qmp, {
        socketPath: paths.migrationSocket,
        file: memFile,
        timeoutMs: migrationTimeoutMs(spec.memoryMiB),
        gone: () => watch.hasExited,
        what: `restore of ${spec.id}`,
        ignoreShared: ramFile !== undefined,
      });
      return vm;
    });
  }

  async adopt(spec: VmSpec): Promise<VmHandle | null> {
    const paths = qemuPaths(spec.runDir);
    const found = await this.findLiveVm(paths);
    if (!found) {
      await removeEntries(spec.runDir, qemuTransientFiles()).catch(() => undefined);
      return null;
    }
    const watch = new ExitWatch(found.identity);
    let qmp: QmpClient;
    try {
      qmp = (await QmpClient.open(await connectUnixOnce(paths.qmpSocket))).client;
    } catch (err) {
      watch.dispose();
      throw new VmmError(`VM ${spec.id}: qemu pid ${found.identity.pid} is alive but its QMP socket does not answer`, {
        cause: err,
      });
    }
    // A qemu started by an older hob writes its console into a file by itself: nothing to read.
    const consoleReader = hasConsoleSocket(found.cmdline) ? this.consoleReader(spec, paths) : undefined;
    const run = { arch: archFromCmdline(found.cmdline, this.arch), accel: accelFromCmdline(found.cmdline) };
    const vm = await this.makeHandle(spec, paths, found.identity.pid, watch, qmp, run, consoleReader);
    const { status } = await qmp.execute('query-status', undefined);
    if (status === 'inmigrate') {
      // A restore whose feeder (the previous hobd) died: the stream will never come.
      await vm.kill();
      return null;
    }
    return vm;
  }

  async killInRunDir(runDir: string): Promise<boolean> {
    const found = await this.findLiveVm(qemuPaths(runDir));
    if (found) await killAndWait(found.identity);
    await removeEntries(runDir, qemuTransientFiles()).catch(() => undefined);
    return found !== null;
  }

  /** The live qemu owning `paths`, verified by pid file + start time + command line. */
  private async findLiveVm(paths: QemuPaths) {
    const pid = await readPidFile(paths.pidFile);
    if (pid === null) return null;
    const identity = await processIdentity(pid);
    if (!identity) return null;
    const cmdline = await readCmdline(pid);
    if (!cmdline || !isQemuCmdlineFor(cmdline, paths.pidFile)) return null;
    return { identity, cmdline };
  }

  private async ensureNoLiveVm(spec: VmSpec, paths: QemuPaths): Promise<void> {
    const live = await this.findLiveVm(paths);
    if (live) throw new ConflictError(`VM ${spec.id}: qemu pid ${live.identity.pid} still runs in ${spec.runDir}`);
  }

  private async makeHandle(
    spec: VmSpec,
    paths: QemuPaths,
    pid: number,
    watch: ExitWatch,
    qmp: QmpClient,
    run: Pick<GuestRun, 'arch' | 'accel'>,
    consoleReader: ConsoleReader | undefined,
  ): Promise<QemuVm> {
    const version = formatQmpVersion(await qmp.execute('query-version', undefined));
    const machines = await qmp.execute('query-machines', undefined);
    const cmdline = (await readCmdline(pid)) ?? [];
    const mi = cmdline.indexOf('-M');
    const requested = (cmdline[mi + 1] ?? '').split(',')[0] ?? '';
    // Resolve aliases (q35 -> pc-q35-7.2) so a snapshot pins the concrete machine version.
    const machine = machines.find((m) => m.alias === requested)?.name ?? requested;
    // From the process itself, so that an adopted VM's next snapshot records it too.
    const vmgenid = cmdline.some((a) => a.startsWith('vmgenid,'));
    return new QemuVm({ spec, pid, watch, qmp, paths, arch: run.arch, accel: run.accel, machine, version, vmgenid, consoleReader });
  }

  /** Starts copying the VM's console socket into its bounded console log. */
  private consoleReader(spec: VmSpec, paths: QemuPaths): ConsoleReader {
    return new ConsoleReader(paths.consoleSocket, paths.consoleLog, {
      onError: (err) => console.error(`hob: console log of VM ${spec.id}: ${err.message}`),
    }).start();
  }

  /**
   * Spawns qemu, connects QMP, runs `ready` (wait for running / feed the migration). On any
   * failure the process is killed, the runDir's transient files removed, and a VmmError with
   * qemu's stderr thrown.
   */
  private async launch(
    spec: VmSpec,
    paths: QemuPaths,
    run: GuestRun,
    machine: string,
    incoming: boolean,
    vmgenid: boolean,
    memoryFile: QemuMemoryFile | undefined,
    ready: (vm: QemuVm, qmp: QmpClient, watch: ExitWatch) => Promise<QemuVm>,
  ): Promise<QemuVm> {
    const argv = buildQemuArgv({
      arch: run.arch,
      accel: run.accel,
      machine,
      spec,
      paths,
      incoming,
      vmgenid,
      ...(memoryFile ? { memoryFile } : {}),
      vhostNet: run.accel === 'kvm' && spec.net !== undefined && (await exists('/dev/vhost-net')),
    });
    argv[0] = run.binary;
    const child = spawnDetached({ argv, netns: spec.net?.netns, stdoutPath: paths.stdoutLog, stderrPath: paths.stderrLog });
    const pid = child.pid;
    const identity = pid === undefined ? null : await processIdentity(pid);
    if (pid === undefined || identity === null) {
      await new Promise((r) => setTimeout(r, 50)); // let stderr reach the file
      throw await this.failure(spec, paths, 'qemu did not start', undefined);
    }
    const watch = new ExitWatch(identity, child);
    // Before QMP: qemu waits for this reader on its console socket (wait=on) before it goes on.
    const consoleReader = this.consoleReader(spec, paths);
    let qmp: QmpClient | undefined;
    try {
      const sock = await connectUnixWhenReady(paths.qmpSocket, {
        timeoutMs: this.startTimeoutMs,
        gone: () => watch.hasExited,
        what: `start of ${spec.id}`,
      });
      qmp = (await QmpClient.open(sock)).client;
      const vm = await this.makeHandle(spec, paths, pid, watch, qmp, run, consoleReader);
      return await ready(vm, qmp, watch);
    } catch (err) {
      qmp?.close();
      await consoleReader.stop();
      if (!watch.hasExited) signalProcess(pid, 'SIGKILL');
      await watch.waitFor(10_000);
      await removeEntries(spec.runDir, qemuTransientFiles()).catch(() => undefined);
      throw await this.failure(spec, paths, incoming ? 'restore failed' : 'start failed', err, watch.spawnError);
    }
  }

  private async failure(
    spec: VmSpec,
    paths: QemuPaths,
    what: string,
    cause: unknown,
    spawnError?: Error,
  ): Promise<VmmError> {
    const stderr = (await tailFile(paths.stderrLog)).trim();
    const detail = spawnError ? ` (${spawnError.message})` : cause instanceof Error ? `: ${cause.message}` : '';
    return new VmmError(`VM ${spec.id}: ${what}${detail}${stderr ? `\nqemu stderr: ${stderr}` : ''}`, { cause });
  }

  /** Fails early, with a clear message, on missing kernel, initramfs or disk files. */
  private async checkFiles(spec: VmSpec): Promise<void> {
    const files = [spec.kernelPath, ...(spec.initramfsPath ? [spec.initramfsPath] : []), ...spec.disks.map((d) => d.path)];
    for (const f of files) {
      if (!(await exists(f))) throw new VmmError(`VM ${spec.id}: ${f} does not exist`);
    }
  }
}

async function exists(path: string): Promise<boolean> {
  return access(path, constants.F_OK).then(
    () => true,
    () => false,
  );
}

/** The template VM's RAM file, root's alone (qemu would create it 0644); qemu sizes it. @throws if it exists. */
async function createMemoryFile(path: string): Promise<void> {
  await (await open(path, 'wx', 0o600)).close();
}
