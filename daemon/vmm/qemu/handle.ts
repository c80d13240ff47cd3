import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import type net from 'node:net';
import { ConflictError, VmmError } from '../../errors.js';
import type { ConsoleReader } from '../console-log.js';
import { isAlive, readPidFile, signalProcess, type ExitWatch } from '../process.js';
import { removeEntries } from '../run-dir.js';
import { metaShape, writeSnapshotMeta } from '../snapshot-meta.js';
import type { GuestArch, VmExit, VmHandle, VmRunState, VmSpec } from '../types.js';
import { connectUnixWhenReady } from '../unix.js';
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
  /** Copies the console socket into the bounded console log; absent for a qemu of an older hob. */
  readonly consoleReader?: ConsoleReader | undefined;
}

/** Generous upper bound for streaming guest RAM to or from disk. */
export function migrationTimeoutMs(memoryMiB: number): number {
  return 60_000 + memoryMiB * 200;
}

/** A running qemu process driven over QMP. Created by QemuDriver. */
export class QemuVm implements VmHandle {
  readonly kind = 'qemu' as const;
  readonly spec: VmSpec;
  readonly pid: number;
  readonly exited: Promise<VmExit>;
  readonly consoleLogPath: string;
  private agent: net.Socket | undefined;
  private released = false;

  constructor(private readonly init: QemuVmInit) {
    this.spec = init.spec;
    this.pid = init.pid;
    this.consoleLogPath = init.paths.consoleLog;
    // The QMP socket closes when qemu exits: look at the process right away.
    init.qmp.on('close', () => init.watch.poke());
    this.exited = init.watch.exited.then(async (exit) => {
      init.qmp.close();
      this.agent?.destroy();
      await init.consoleReader?.finish();
      await this.cleanupRunDir();
      return exit;
    });
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

  async snapshot(dir: string): Promise<void> {
    this.usable();
    const { status } = await this.init.qmp.execute('query-status', undefined);
    if (mapQemuRunState(status) !== 'paused') {
      throw new ConflictError(`VM ${this.spec.id} must be paused for a snapshot (it is ${status})`);
    }
    // A second snapshot without pause() in between: re-arm here (see rearmAfterSnapshot).
    if (status === 'postmigrate') await this.rearmAfterSnapshot();
    const entries = await readdir(dir);
    if (entries.length > 0) throw new ConflictError(`snapshot dir ${dir} is not empty`);
    const bytes = await saveMigrationToFile(this.init.qmp, {
      socketPath: this.init.paths.migrationSocket,
      file: join(dir, QEMU_MEMORY_FILE),
      timeoutMs: migrationTimeoutMs(this.spec.memoryMiB),
      gone: () => this.init.watch.hasExited,
      what: `snapshot of ${this.spec.id}`,
    });
    await writeSnapshotMeta(dir, {
      format: 1,
      kind: 'qemu',
      vmmVersion: this.init.version,
      arch: this.init.arch,
      ...metaShape(this.spec),
      createdAt: new Date().toISOString(),
      qemu: { machine: this.init.machine, accel: this.init.accel, memoryFile: QEMU_MEMORY_FILE, memoryFileBytes: bytes },
    });
  }

  async stop(opts?: { graceMs?: number }): Promise<VmExit> {
    if (this.init.watch.hasExited) return this.exited;
    const graceMs = opts?.graceMs ?? 10_000;
    try {
      const { status } = await this.init.qmp.execute('query-status', undefined, 5_000);
      // A paused guest cannot see the power button; in-migrate/prelaunch ones never booted on.
      if (status === 'paused' || status === 'postmigrate' || status === 'io-error') {
        await this.init.qmp.execute('cont', undefined, 5_000);
      }
      if (status !== 'inmigrate' && status !== 'prelaunch') {
        await this.init.qmp.execute('system_powerdown', undefined, 5_000);
        if (await this.init.watch.waitFor(graceMs)) return this.exited;
      }
    } catch {
      // QMP gone or refusing: fall through to the kill.
    }
    return this.kill();
  }

  async kill(): Promise<VmExit> {
    if (!this.init.watch.hasExited && (await isAlive(this.init.watch.id))) {
      signalProcess(this.pid, 'SIGKILL');
    }
    // SIGKILL cannot be ignored; the loop only covers a process stuck in the kernel (D state).
    while (!(await this.init.watch.waitFor(5_000))) {
      if (this.released) throw new VmmError(`VM ${this.spec.id}: handle released while killing`);
    }
    return this.exited;
  }

  async openAgentStream(): Promise<Duplex> {
    this.usable();
    this.agent?.destroy();
    this.agent = undefined;
    const sock = await connectUnixWhenReady(this.init.paths.agentSocket, {
      timeoutMs: 5_000,
      gone: () => this.init.watch.hasExited,
      what: `agent channel of ${this.spec.id}`,
    });
    this.agent = sock;
    sock.once('close', () => {
      if (this.agent === sock) this.agent = undefined;
    });
    return sock;
  }

  release(): void {
    this.released = true;
    this.init.watch.dispose();
    this.init.qmp.removeAllListeners('close');
    this.init.qmp.close();
    this.agent?.destroy();
    // The VM keeps running and drops its console output until the next hobd re-attaches.
    void this.init.consoleReader?.stop();
  }

  private usable(): void {
    if (this.released) throw new VmmError(`VM ${this.spec.id}: handle was released`);
    if (this.init.watch.hasExited) throw new VmmError(`VM ${this.spec.id}: qemu has exited`);
  }

  /** Removes sockets and the pid file, unless a new qemu already took over the runDir. */
  private async cleanupRunDir(): Promise<void> {
    const pidNow = await readPidFile(this.init.paths.pidFile);
    if (pidNow !== null && pidNow !== this.pid) return;
    await removeEntries(this.spec.runDir, qemuTransientFiles()).catch(() => undefined);
  }
}
