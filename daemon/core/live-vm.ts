/**
 * A running sandbox as the manager holds it: the VMM handle plus the agent
 * connection, which is re-opened on demand if it drops while the VM lives.
 */
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { AgentClient, waitForAgent } from '../agent/index.js';
import { AgentError } from '../errors.js';
import { RESEED_SEED_BYTES } from '../protocol/index.js';
import type { VmHandle, VmmDriver, VmSpec } from '../vmm/types.js';
import { CLOCK_DEADLINE_MS, RESEED_DEADLINE_MS, SHUTDOWN_DEADLINE_MS, SYNC_DEADLINE_MS, withDeadline } from './deadline.js';

/** How long a booting guest may take to answer. TCG boots take 10-60 s on 2 cores, and several boot at once. */
export const BOOT_AGENT_TIMEOUT_MS = 300_000;
/** How long to wait for the agent of a VM that is already up (reconnects, adopted VMs). */
export const RECONNECT_AGENT_TIMEOUT_MS = 15_000;
/** How long a guest resumed from a memory snapshot may take to answer (its agent reconnects; TCG is slow). */
export const RESUME_AGENT_TIMEOUT_MS = 60_000;

/** Gives the guest's kernel fresh host entropy, within its deadline (docs/architecture.md §18). */
export function reseedGuestRandom(agent: AgentClient): Promise<'ioctl' | 'write'> {
  return withDeadline(agent.reseedRandom(randomBytes(RESEED_SEED_BYTES)), RESEED_DEADLINE_MS, 'the guest agent (random.reseed)');
}

export class LiveVm {
  /** How the guest took fresh entropy after a memory restore (undefined: booted, or an agent without random.reseed). */
  reseedMethod: 'ioctl' | 'write' | undefined;
  /** hobd's clock around a boot (epoch ms): the VMM started, the agent answered. Undefined for resumed and adopted VMs. */
  booted: { readonly vmmStartMs: number; readonly agentReadyMs: number } | undefined;
  /** Set when hob itself stops or kills the VM, so the exit is not reported as a crash. */
  expectingExit = false;
  private agentClient: AgentClient | undefined;
  private connecting: Promise<AgentClient> | undefined;

  private constructor(readonly handle: VmHandle) {}

  /** Boots a VM and waits for its agent. On failure the VMM process is killed. */
  static async boot(driver: VmmDriver, spec: VmSpec): Promise<LiveVm> {
    await mkdir(spec.runDir, { recursive: true, mode: 0o700 });
    const vmmStartMs = Date.now();
    const handle = await driver.start(spec);
    const vm = new LiveVm(handle);
    try {
      await vm.agent(BOOT_AGENT_TIMEOUT_MS);
      vm.booted = { vmmStartMs, agentReadyMs: Date.now() };
      return vm;
    } catch (err) {
      vm.expectingExit = true;
      await handle.kill().catch(() => undefined);
      throw err;
    }
  }

  /**
   * Starts a VM from a memory snapshot and lets it run on: the processes in the
   * guest continue where they were. The guest clock is set to now (it stood still
   * while the snapshot slept). On failure the VMM process is killed.
   */
  static async resume(driver: VmmDriver, spec: VmSpec, snapshotDir: string): Promise<LiveVm> {
    await mkdir(spec.runDir, { recursive: true, mode: 0o700 });
    const handle = await driver.restore(spec, snapshotDir);
    const vm = new LiveVm(handle);
    try {
      await handle.resume();
      const agent = await vm.agent(RESUME_AGENT_TIMEOUT_MS);
      // First of all: every copy of one snapshot shares its random state (docs/architecture.md §18).
      if (agent.supports('random.reseed')) {
        vm.reseedMethod = await reseedGuestRandom(agent);
      }
      // An agent that connects but then does not answer is as broken as one that never connects.
      await withDeadline(agent.setClock(Date.now()), CLOCK_DEADLINE_MS, 'the guest agent (clock.set)');
      return vm;
    } catch (err) {
      vm.expectingExit = true;
      await handle.kill().catch(() => undefined);
      throw err;
    }
  }

  /** Wraps a VMM process found at start-up. */
  static adopted(handle: VmHandle): LiveVm {
    return new LiveVm(handle);
  }

  /** The agent connection, (re)connecting if needed. Concurrent callers share one attempt. */
  async agent(timeoutMs = RECONNECT_AGENT_TIMEOUT_MS): Promise<AgentClient> {
    if (this.agentClient && !this.agentClient.isClosed) return this.agentClient;
    if (!this.connecting) {
      this.connecting = waitForAgent(() => this.handle.openAgentStream(), { timeoutMs })
        .then((client) => {
          this.agentClient = client;
          return client;
        })
        .finally(() => {
          this.connecting = undefined;
        });
    }
    try {
      return await this.connecting;
    } catch (err) {
      throw new AgentError(`cannot reach the guest agent of ${this.handle.spec.id}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** The agent connection if it is open now; never connects (stats must not wait for a guest). */
  get connectedAgent(): AgentClient | undefined {
    return this.agentClient && !this.agentClient.isClosed ? this.agentClient : undefined;
  }

  /** Closes the agent connection without touching the VM. */
  detach(): void {
    this.agentClient?.close();
    this.agentClient = undefined;
  }

  /** Drops every connection to the VM and leaves it running (hobd shutdown; the next hobd adopts it). */
  release(): void {
    this.detach();
    this.handle.release();
  }

  /**
   * Stops the guest within graceMs, whatever the guest does: sync and power off
   * through the agent (each call with its deadline), then wait for the VMM to
   * exit. An agent that does not answer gets the VMM's power button for the rest
   * of the grace time instead; a VMM still there at the end is killed.
   */
  async stop(graceMs: number): Promise<void> {
    this.expectingExit = true;
    const until = Date.now() + graceMs;
    const left = (): number => Math.max(0, until - Date.now());
    const client = this.agentClient && !this.agentClient.isClosed ? this.agentClient : undefined;
    let agentAnswered = false;
    if (client) {
      try {
        await withDeadline(client.sync(), Math.min(SYNC_DEADLINE_MS, left()), 'the guest agent (sync)');
        await withDeadline(client.shutdown(), Math.min(SHUTDOWN_DEADLINE_MS, left()), 'the guest agent (shutdown)');
        agentAnswered = true;
      } catch {
        // Going down already, wrecked, or not answering: the VMM stop below decides.
      }
    }
    if (agentAnswered) {
      const exited = await Promise.race([
        this.handle.exited.then(() => true),
        new Promise<boolean>((resolve) => setTimeout(() => resolve(false), left()).unref()),
      ]);
      if (!exited) await this.handle.kill();
    } else {
      await this.handle.stop({ graceMs: left() });
    }
    this.detach();
  }

  async kill(): Promise<void> {
    this.expectingExit = true;
    this.detach();
    await this.handle.kill();
  }
}
