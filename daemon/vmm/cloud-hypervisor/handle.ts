import { readdir } from 'node:fs/promises';
import type net from 'node:net';
import { ConflictError, VmmError } from '../../errors.js';
import { consoleLogPath, type ConsoleReader } from '../console-log.js';
import type { ExitWatch } from '../process.js';
import { metaShape, writeSnapshotMeta, fsyncDir } from '../snapshot-meta.js';
import type { GuestArch, VmExit, VmHandle, VmRunState, VmSpec } from '../types.js';
import { chVmInfoSchema, type ChApiClient } from './api.js';
import { buildSnapshotConfig } from './bodies.js';
import { VmProcess } from '../vm-process.js';
import { AGENT_VSOCK_PORT, connectVsock } from './vsock.js';

/** Files of a CH VM inside runDir. */
export interface ChPaths {
  readonly apiSocket: string;
  readonly vsockSocket: string;
  /** The serial port's socket (CH listens; hob's ConsoleReader copies it into consoleLog). */
  readonly consoleSocket: string;
  /** The guest's serial output, bounded (console-log.ts). */
  readonly consoleLog: string;
  /** Written by hob (CH has no pid file option). */
  readonly pidFile: string;
  readonly stdoutLog: string;
  readonly stderrLog: string;
  /** Temporary restore source (see restore-source.ts). */
  readonly restoreSource: string;
}

export const CH_SOCKET_NAMES = ['ch.sock', 'vsock.sock', 'console.sock'] as const;
/** Entries of runDir that belong to a live process and go away with it. */
export const CH_TRANSIENT_FILES = [...CH_SOCKET_NAMES, 'ch.pid'];

export function chPaths(runDir: string): ChPaths {
  return {
    apiSocket: `${runDir}/ch.sock`,
    vsockSocket: `${runDir}/vsock.sock`,
    consoleSocket: `${runDir}/console.sock`,
    consoleLog: consoleLogPath(runDir),
    pidFile: `${runDir}/ch.pid`,
    stdoutLog: `${runDir}/ch.stdout.log`,
    stderrLog: `${runDir}/ch.stderr.log`,
    restoreSource: `${runDir}/restore-source`,
  };
}

export function mapChState(s: 'Created' | 'Running' | 'Shutdown' | 'Paused'): VmRunState {
  if (s === 'Running') return 'running';
  if (s === 'Paused') return 'paused';
  return 'stopped';
}

export interface ChVmInit {
  readonly spec: VmSpec;
  readonly pid: number;
  readonly watch: ExitWatch;
  readonly api: ChApiClient;
  readonly paths: ChPaths;
  readonly arch: GuestArch;
  /** Version of the binary this process runs (recorded with snapshots). */
  readonly version: string;
  /** Copies the serial socket into the bounded console log; absent for a CH of an older hob. */
  readonly consoleReader?: ConsoleReader | undefined;
}

/** One cloud-hypervisor process driving one guest. Created by ChDriver. */
export class ChVm extends VmProcess implements VmHandle {
  readonly kind = 'cloud-hypervisor' as const;

  constructor(private readonly init: ChVmInit) {
    super({
      spec: init.spec,
      pid: init.pid,
      watch: init.watch,
      vmmName: 'cloud-hypervisor',
      pidFile: init.paths.pidFile,
      transientFiles: CH_TRANSIENT_FILES,
      consoleLogPath: init.paths.consoleLog,
      consoleReader: init.consoleReader,
    });
  }

  async state(): Promise<VmRunState> {
    this.usable();
    const info = chVmInfoSchema.safeParse((await this.init.api.call('vm.info')).json);
    if (!info.success) throw new VmmError(`VM ${this.spec.id}: unexpected vm.info reply`);
    return mapChState(info.data.state);
  }

  async pause(): Promise<void> {
    if ((await this.state()) === 'paused') return;
    await this.init.api.call('vm.pause');
  }

  async resume(): Promise<void> {
    const s = await this.state();
    if (s === 'running') return;
    if (s === 'stopped') throw new VmmError(`VM ${this.spec.id} is shut down, it cannot resume`);
    await this.init.api.call('vm.resume');
  }

  async snapshot(dir: string): Promise<void> {
    const s = await this.state();
    if (s !== 'paused') throw new ConflictError(`VM ${this.spec.id} must be paused for a snapshot (it is ${s})`);
    if ((await readdir(dir)).length > 0) throw new ConflictError(`snapshot dir ${dir} is not empty`);
    // Writing guest RAM takes a while for large guests.
    await this.init.api.call('vm.snapshot', buildSnapshotConfig(dir), 60_000 + this.spec.memoryMiB * 200);
    await fsyncDir(dir);
    await writeSnapshotMeta(dir, {
      format: 1,
      kind: 'cloud-hypervisor',
      vmmVersion: this.init.version,
      arch: this.init.arch,
      ...metaShape(this.spec),
      createdAt: new Date().toISOString(),
    });
  }

  async stop(opts?: { graceMs?: number }): Promise<VmExit> {
    if (this.hasExited) return this.exited;
    const graceMs = opts?.graceMs ?? 10_000;
    try {
      const s = await this.state();
      if (s === 'paused') await this.init.api.call('vm.resume', undefined, 5_000);
      if (s !== 'stopped') {
        // CH exits by itself once the guest has powered off.
        await this.init.api.call('vm.power-button', undefined, 5_000);
        if (await this.waitForExit(graceMs)) return this.exited;
      } else {
        await this.init.api.call('vmm.shutdown', undefined, 5_000);
        if (await this.waitForExit(2_000)) return this.exited;
      }
    } catch {
      // API gone or refusing: fall through to the kill.
    }
    return this.kill();
  }

  protected connectAgent(): Promise<net.Socket> {
    return connectVsock(this.init.paths.vsockSocket, AGENT_VSOCK_PORT);
  }
}
