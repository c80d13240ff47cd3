import { open, readdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type net from 'node:net';
import { ConflictError, VmmError } from '../../errors.js';
import type { ConsoleReader } from '../console-log.js';
import type { ExitWatch } from '../process.js';
import { metaShape, writeSnapshotMeta } from '../snapshot-meta.js';
import type { GuestArch, VmExit, VmHandle, VmRunState, VmSpec } from '../types.js';
import { connectUnixWhenReady } from '../unix.js';
import { VmProcess } from '../vm-process.js';
import { qemuTransientFiles, type QemuAccel, type QemuPaths } from './argv.js';
import { QEMU_MEMORY_FILE, saveMigrationToFile } from './migration.js';
import type { QemuRunState, QmpClient } from './qmp.js';

/** Maps qemu's run state onto hob's three (see VmRunState). */
export function mapQemuRunState(s: QemuRunState): VmRunState {
  switch (s) {
    case 'running':
      return 'running';
    case 'shutdown':
    case 'guest-panicked':
    case 'internal-error':
      return 'stopped';
    default:
      // paused, postmigrate (after a snapshot), inmigrate/prelaunch (restored, waiting),
      // io-error (host ENOSPC/EIO: cont retries), debug, suspended, save/restore-vm, ...
      return 'paused';
  }
}

export interface QemuVmInit {
  readonly spec: VmSpec;
  readonly pid: number;
  readonly watch: ExitWatch;
  readonly qmp: QmpClient;
  readonly paths: QemuPaths;
  readonly arch: GuestArch;
  readonly accel: QemuAccel;
  /** Concrete machine type of this process (pc-q35-7.2, microvm, virt-7.2). */
  readonly machine: string;
  /** Version of the running qemu, as QemuDriver.version() formats it. */
  readonly version: string;
  /** The process has a vmgenid device (recorded in its snapshots, which restore with the same). */
  readonly vmgenid: boolean;
  /** Copies the console socket into the bounded console log; absent for a qemu of an older hob. */
  readonly consoleReader?: ConsoleReader | undefined;
}

/** Generous upper bound for streaming guest RAM to or from disk. */
export function migrationTimeoutMs(memoryMiB: number): number {
  return 60_000 + memoryMiB * 200;
}

/** A running qemu process driven over QMP. Created by QemuDriver. */
export class QemuVm extends VmProcess implements VmHandle {
  readonly kind = 'qemu' as const;

  constructor(private readonly init: QemuVmInit) {
    super({
      spec: init.spec,
      pid: init.pid,
      watch: init.watch,
      vmmName: 'qemu',
      pidFile: init.paths.pidFile,
      transientFiles: qemuTransientFiles(),
      consoleLogPath: init.paths.consoleLog,
      consoleReader: init.consoleReader,
      closeControl: () => {
        init.qmp.removeAllListeners('close');
        init.qmp.close();
      },
    });
    // The QMP socket closes when qemu exits: look at the process right away.
    init.qmp.on('close', () => init.watch.poke());
  }

  async state(): Promise<VmRunState> {
    this.usable();
    return mapQemuRunState((await this.init.qmp.execute('query-status', undefined)).status);
  }

  async pause(): Promise<void> {
    this.usable();
    const { status } = await this.init.qmp.execute('query-status', undefined);
    if (status === 'postmigrate') {
      await this.rearmAfterSnapshot();
      return;
    }
    // `stop` returns once the vCPUs are stopped and the disks drained and flushed.
    await this.init.qmp.execute('stop', undefined);
  }

  /**
   * After a snapshot qemu sits in `postmigrate`, from which it refuses another migration
   * ("Can't migrate the vm that was paused due to previous migration") and whose disks are
   * inactive. Only `cont` leaves that state, so the vCPUs run for an instant before `stop`
   * pauses them again for real. Done by pause(), i.e. before the caller snapshots the disks,
   * so memory and disk snapshots still describe the same moment.
   */
  private async rearmAfterSnapshot(): Promise<void> {
    await this.init.qmp.execute('cont', undefined);
    await this.init.qmp.execute('stop', undefined);
  }

  async resume(): Promise<void> {
    this.usable();
    const { status } = await this.init.qmp.execute('query-status', undefined);
    if (status === 'running') return;
    if (mapQemuRunState(status) === 'stopped') throw new VmmError(`VM ${this.spec.id} is ${status}, it cannot resume`);
    await this.init.qmp.execute('cont', undefined);
  }

  async growDisk(diskId: string, bytes: number): Promise<void> {
    this.usable();
    if (!this.spec.disks.some((d) => d.id === diskId)) throw new VmmError(`VM ${this.spec.id} has no disk ${diskId}`);
    // Grows the raw file (sparse) and tells the guest's virtio-blk driver the new capacity.
    await this.init.qmp.execute('block_resize', { device: `drive-${diskId}`, size: bytes });
  }

  async snapshot(dir: string): Promise<void> {
    this.usable();
    const { status } = await this.init.qmp.execute('query-status', undefined);
    if (mapQemuRunState(status) !== 'paused') {
      throw new ConflictError(`VM ${this.spec.id} must be paused for a snapshot (it is ${status})`);
    }
    // A second snapshot without pause() in between: re-arm here (see rearmAfterSnapshot).
    if (status === 'postmigrate') await this.rearmAfterSnapshot();
    // A VM whose RAM is a shared file (memory-file.ts) is saved next to it: the stream holds device state only.
    const ramFile = this.spec.memoryFile;
    if (ramFile !== undefined && dirname(ramFile) !== dir) throw new ConflictError(`VM ${this.spec.id} keeps its RAM in ${ramFile}: snapshot it into ${dirname(ramFile)}`);
    const entries = (await readdir(dir)).filter((e) => ramFile === undefined || e !== basename(ramFile));
    if (entries.length > 0) throw new ConflictError(`snapshot dir ${dir} is not empty`);
    const bytes = await saveMigrationToFile(this.init.qmp, {
      socketPath: this.init.paths.migrationSocket,
      file: join(dir, QEMU_MEMORY_FILE),
      timeoutMs: migrationTimeoutMs(this.spec.memoryMiB),
      gone: () => this.hasExited,
      what: `snapshot of ${this.spec.id}`,
      ignoreShared: ramFile !== undefined,
    });
    // The guest's writes sit in the page cache of the shared mapping: on disk before vmm.json says complete.
    if (ramFile !== undefined) await fsyncFile(ramFile);
    await writeSnapshotMeta(dir, {
      format: 1,
      kind: 'qemu',
      vmmVersion: this.init.version,
      arch: this.init.arch,
      ...metaShape(this.spec),
      createdAt: new Date().toISOString(),
      qemu: {
        machine: this.init.machine, accel: this.init.accel, memoryFile: QEMU_MEMORY_FILE, memoryFileBytes: bytes, vmgenid: this.init.vmgenid,
        ...(ramFile !== undefined ? { ramFile: basename(ramFile) } : {}),
      },
    });
  }

  async stop(opts?: { graceMs?: number }): Promise<VmExit> {
    if (this.hasExited) return this.exited;
    const graceMs = opts?.graceMs ?? 10_000;
    try {
      const { status } = await this.init.qmp.execute('query-status', undefined, 5_000);
      // A paused guest cannot see the power button; in-migrate/prelaunch ones never booted on.
      if (status === 'paused' || status === 'postmigrate' || status === 'io-error') {
        await this.init.qmp.execute('cont', undefined, 5_000);
      }
      if (status !== 'inmigrate' && status !== 'prelaunch') {
        await this.init.qmp.execute('system_powerdown', undefined, 5_000);
        if (await this.waitForExit(graceMs)) return this.exited;
      }
    } catch {
      // QMP gone or refusing: fall through to the kill.
    }
    return this.kill();
  }

  protected connectAgent(): Promise<net.Socket> {
    return connectUnixWhenReady(this.init.paths.agentSocket, {
      timeoutMs: 5_000,
      gone: () => this.hasExited,
      what: `agent channel of ${this.spec.id}`,
    });
  }
}

async function fsyncFile(path: string): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
