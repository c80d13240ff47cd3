/**
 * What every VmHandle shares, whatever the VMM: the process bookkeeping of one VMM
 * process (its exit watch, the kill loop, the agent connection slot, the console
 * reader, releasing without stopping, removing the run dir's transient files after
 * the exit). A driver's handle extends it and adds the VMM's own control channel
 * (QMP, CH's REST API) for state, pause, resume, snapshot and the graceful stop.
 */
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import { VmmError } from '../errors.js';
import type { ConsoleReader } from './console-log.js';
import { isAlive, readPidFile, signalProcess, type ExitWatch } from './process.js';
import { removeEntries } from './run-dir.js';
import type { VmExit, VmSpec } from './types.js';

export interface VmProcessInit {
  readonly spec: VmSpec;
  readonly pid: number;
  readonly watch: ExitWatch;
  /** The VMM's name in messages ("qemu", "cloud-hypervisor"). */
  readonly vmmName: string;
  /** The pid file the VMM (or hob for it) wrote in the run dir. */
  readonly pidFile: string;
  /** Entries of the run dir that belong to the live process and go with it. */
  readonly transientFiles: readonly string[];
  readonly consoleLogPath: string;
  /** Copies the console socket into the bounded console log; absent for a VMM of an older hob. */
  readonly consoleReader?: ConsoleReader | undefined;
  /** Closes the VMM's control channel (called once the process has exited, and on release). */
  readonly closeControl?: () => void;
}

export abstract class VmProcess {
  readonly spec: VmSpec;
  readonly pid: number;
  readonly exited: Promise<VmExit>;
  readonly consoleLogPath: string;
  private agent: net.Socket | undefined;
  /** `agent` was connected by preconnectAgent and not handed out yet. */
  private agentWaiting = false;
  private released = false;

  protected constructor(private readonly proc: VmProcessInit) {
    this.spec = proc.spec;
    this.pid = proc.pid;
    this.consoleLogPath = proc.consoleLogPath;
    this.exited = proc.watch.exited.then(async (exit) => {
      proc.closeControl?.();
      this.agent?.destroy();
      await proc.consoleReader?.finish();
      await this.cleanupRunDir();
      return exit;
    });
  }

  protected get hasExited(): boolean {
    return this.proc.watch.hasExited;
  }

  /** Waits up to `ms` for the process to exit: its exit, or undefined when it still runs. */
  protected waitForExit(ms: number): Promise<VmExit | undefined> {
    return this.proc.watch.waitFor(ms);
  }

  async kill(): Promise<VmExit> {
    if (!this.proc.watch.hasExited && (await isAlive(this.proc.watch.id))) signalProcess(this.pid, 'SIGKILL');
    // SIGKILL cannot be ignored; the loop only covers a process stuck in the kernel (D state).
    while (!(await this.proc.watch.waitFor(5_000))) {
      if (this.released) throw new VmmError(`VM ${this.spec.id}: handle released while killing`);
    }
    return this.exited;
  }

  /**
   * Connects the agent channel now, before the guest runs, for the next openAgentStream to
   * hand out. A restore does this before loading the snapshot (qemu/driver.ts): the guest
   * then finds the host connected as it was when the snapshot was taken, and never sees it
   * leave and come back (virtio-serial would tell it both, on a queue of their own, after
   * the host's first bytes may already have arrived).
   */
  async preconnectAgent(): Promise<void> {
    this.usable();
    const sock = await this.replaceAgentConnection();
    // Until a client takes it; the client's own listeners report errors from then on.
    sock.on('error', () => undefined);
    this.agentWaiting = true;
  }

  async openAgentStream(): Promise<Duplex> {
    this.usable();
    const waiting = this.agentWaiting ? this.agent : undefined;
    this.agentWaiting = false;
    if (waiting && !waiting.destroyed) return waiting;
    return this.replaceAgentConnection();
  }

  /** Closes the agent connection this handle holds, if any, and opens the one that replaces it. */
  private async replaceAgentConnection(): Promise<net.Socket> {
    this.agent?.destroy();
    this.agent = undefined;
    const sock = await this.connectAgent();
    this.agent = sock;
    sock.once('close', () => {
      if (this.agent === sock) this.agent = undefined;
    });
    return sock;
  }

  /** Opens a new connection to the guest agent's channel (virtio-serial socket, vsock). */
  protected abstract connectAgent(): Promise<net.Socket>;

  release(): void {
    this.released = true;
    this.proc.watch.dispose();
    this.proc.closeControl?.();
    this.agent?.destroy();
    // The VM keeps running and drops its console output until the next hobd re-attaches.
    void this.proc.consoleReader?.stop();
  }

  /** @throws VmmError once the handle was released or the process has exited. */
  protected usable(): void {
    if (this.released) throw new VmmError(`VM ${this.spec.id}: handle was released`);
    if (this.proc.watch.hasExited) throw new VmmError(`VM ${this.spec.id}: ${this.proc.vmmName} has exited`);
  }

  /** Removes the transient files, unless a new VMM process already took over the run dir. */
  private async cleanupRunDir(): Promise<void> {
    const pidNow = await readPidFile(this.proc.pidFile);
    if (pidNow !== null && pidNow !== this.pid) return;
    await removeEntries(this.spec.runDir, this.proc.transientFiles).catch(() => undefined);
  }
}
