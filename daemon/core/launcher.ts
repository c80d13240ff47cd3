/**
 * Launching sandbox VMs (docs/architecture.md §4, §7): booting, resuming from
 * a memory image, the VmSpec, the sandbox's network around the VMM's life,
 * and watching for a VMM that exits on its own. The caller holds the
 * sandbox's lock; a started VM is registered in the context's live map.
 */
import { rm } from 'node:fs/promises';
import { allocateNetSlot, appendEvent, getSandbox, setSandboxState, type Sandbox as SandboxRow } from '../db/index.js';
import { NotFoundError } from '../errors.js';
import { guestCmdlineArgs, netSpecFor, renderPolicyFile, transitSlotCount } from '../net/index.js';
import type { MemoryImage } from '../storage/index.js';
import type { VmSpec } from '../vmm/types.js';
import { recordBootTimeline } from './boot-timeline.js';
import { crashPoint } from './crash-point.js';
import { CLOCK_DEADLINE_MS, withDeadline } from './deadline.js';
import { LiveVm } from './live-vm.js';
import { publishPolicyToGuest } from './network.js';
import { emit } from './progress.js';
import { networkPolicyOf } from './row-config.js';
import { freshRow, type SandboxContext } from './sandbox-context.js';
import type { ProgressSink } from './types.js';
import { vmSpecFor, type VmNet } from './vm-spec.js';

export class VmLauncher {
  constructor(private readonly ctx: SandboxContext) {}

  /**
   * Makes a sandbox run (lock held): resumes a paused VM, wakes a hibernated
   * sandbox from its memory image, boots a stopped or errored one. Records
   * the outcome in the row: running, or error (and rethrows).
   */
  async start(row: SandboxRow, progress: ProgressSink): Promise<LiveVm> {
    const { db, driver } = this.ctx.deps;
    const live = this.ctx.live.get(row.id);
    try {
      let vm: LiveVm;
      if (live && row.state === 'paused') {
        emit(progress, 'info', 'Resuming the paused VM...');
        await live.handle.resume();
        crashPoint('wake.resumed');
        // A clock that cannot be set is logged, not fatal: the guest's memory lives only in this VMM.
        await withDeadline((async () => (await live.agent()).setClock(Date.now()))(), CLOCK_DEADLINE_MS, 'the guest agent (clock.set)')
          .catch((err: Error) => this.ctx.log(`hob: setting the clock of ${row.name}: ${err.message}`));
        // A policy change made while it was paused reaches the guest's copy now (not waited for).
        void this.publishPolicy(row, live);
        await this.configureSecrets(row, live);
        vm = live;
      } else if (live) {
        vm = live;
      } else if (row.state === 'hibernated') {
        vm = await this.wakeFromMemory(row, progress);
      } else {
        emit(progress, 'info', `Booting VM (${row.cpus} vCPU, ${row.memoryMiB} MiB, ${driver.kind})...`);
        vm = await this.boot(row);
      }
      setSandboxState(db, row.id, 'running', { error: null });
      emit(progress, 'complete', `Sandbox ${row.name} is running`);
      return vm;
    } catch (err) {
      setSandboxState(db, row.id, 'error', { error: `start failed: ${(err as Error).message}` });
      emit(progress, 'error', (err as Error).message);
      throw err;
    }
  }

  /** Boots the sandbox's VM from its volume; its boot timeline is recorded afterwards (not waited for). */
  async boot(row: SandboxRow): Promise<LiveVm> {
    const vm = await this.launch(row, (spec) => LiveVm.boot(this.ctx.deps.driver, spec));
    void recordBootTimeline(this.ctx.deps.db, this.ctx.deps.driver.kind, row.id, vm, this.ctx.log);
    return vm;
  }

  /**
   * Starts a VM from the sandbox's memory image and lets it run on (see LiveVm.resume).
   * `guestPolicyFile`: the policy file the image's guest is known to hold (a warm template's).
   */
  resume(row: SandboxRow, memory: MemoryImage, options: { guestPolicyFile?: string | undefined } = {}): Promise<LiveVm> {
    return this.launch(row, (spec) => LiveVm.resume(this.ctx.deps.driver, spec, memory.dir), options.guestPolicyFile);
  }

  /** Removes the sandbox's network once its VMM is gone. Failures are logged: reconcile retries them. */
  async releaseNetwork(id: string): Promise<void> {
    await this.ctx.deps.network?.teardown(id).catch((err: Error) => this.ctx.log(`hob: removing the network of ${id}: ${err.message}`));
  }

  /**
   * Tells the guest its egress policy (read-only file), unless the guest is known to hold that
   * file already (`guestHas`). Best effort: the policy is enforced outside the guest anyway.
   */
  async publishPolicy(row: SandboxRow, vm: LiveVm, guestHas?: string): Promise<void> {
    if (!this.ctx.deps.network) return;
    try {
      const policy = networkPolicyOf(freshRow(this.ctx.deps.db, row));
      if (guestHas !== undefined && renderPolicyFile(policy) === guestHas) return;
      await publishPolicyToGuest(await vm.agent(), policy);
    } catch (err) {
      this.ctx.log(`hob: writing the network policy into ${row.name}: ${(err as Error).message}`);
    }
  }

  /** Registers a VM adopted at start-up. */
  adopt(id: string, vm: LiveVm): void {
    this.ctx.live.set(id, vm);
    this.watchExit(id, vm);
  }

  /**
   * The network part of the VmSpec of a VM to adopt at start-up: the same device its
   * VMM was started with, so that a live checkpoint of the adopted VM records its tap.
   */
  adoptedNet(id: string): VmNet | undefined {
    if (!this.ctx.deps.network) return undefined;
    return { netSpec: netSpecFor(this.ctx.deps.config.network.netnsPrefix, id), cmdlineArgs: guestCmdlineArgs() };
  }

  /**
   * After adopting VMs at start-up: removes every sandbox network whose VM is not
   * running, and re-attaches the adopted ones (their resolver and rules; the tap the
   * VMM holds is left alone). Returns the ids whose network was removed.
   */
  async reconcileNetworks(): Promise<string[]> {
    const network = this.ctx.deps.network;
    if (!network) return [];
    const removed = await network.reconcile(this.ctx.live.keys());
    for (const id of this.ctx.live.keys()) {
      const row = getSandbox(this.ctx.deps.db, id);
      if (!row) continue;
      try {
        await this.attachNetwork(row);
      } catch (err) {
        this.ctx.log(`hob: reconcile: the network of ${row.name}: ${(err as Error).message}`);
      }
    }
    return removed;
  }

  /** Resumes a hibernated sandbox from its memory image; if that fails, boots it cold (the memory is lost, the disk is not). */
  private async wakeFromMemory(row: SandboxRow, progress: ProgressSink): Promise<LiveVm> {
    const memory = this.ctx.deps.volumes.memory(row.id);
    emit(progress, 'info', 'Waking the VM from its memory image...');
    let vm: LiveVm;
    try {
      vm = await this.resume(row, memory);
      crashPoint('wake.memory-resumed');
    } catch (err) {
      this.ctx.log(`hob: waking ${row.name} from memory failed (${(err as Error).message}); booting it instead`);
      appendEvent(this.ctx.deps.db, { sandboxId: row.id, type: 'wake-failed', data: { error: (err as Error).message } });
      emit(progress, 'info', 'The memory image could not be resumed: booting instead...');
      vm = await this.boot(row);
    }
    await memory.remove().catch((err: Error) => this.ctx.log(`hob: removing the memory image of ${row.name}: ${err.message}`));
    return vm;
  }

  /**
   * Sets up the sandbox's network, runs `start` on a clean run dir and registers the VM;
   * the network is removed again when the start fails.
   */
  private async launch(row: SandboxRow, start: (spec: VmSpec) => Promise<LiveVm>, guestPolicyFile?: string): Promise<LiveVm> {
    const spec = vmSpecFor(this.ctx.deps.volumes, this.ctx.deps.config, row, await this.attachNetwork(row));
    let vm: LiveVm;
    try {
      await rm(spec.runDir, { recursive: true, force: true });
      vm = await start(spec);
    } catch (err) {
      await this.releaseNetwork(row.id);
      throw err;
    }
    this.ctx.live.set(row.id, vm);
    this.watchExit(row.id, vm);
    // Independent, and each mostly waits on the guest: at once (neither ever rejects).
    await Promise.all([this.publishPolicy(row, vm, guestPolicyFile), this.configureSecrets(row, vm)]);
    return vm;
  }

  /**
   * Gives the guest its secrets configuration (docs/architecture.md §11), after every boot
   * and resume: a grant made while it was stopped, paused or hibernated, or a fork's own CA,
   * reaches it before it counts as running. A guest that does not take it is logged: the
   * proxy still works for programs told about the CA some other way.
   */
  async configureSecrets(row: SandboxRow, vm: LiveVm): Promise<void> {
    const secrets = this.ctx.deps.secrets;
    if (!secrets || !this.ctx.deps.network) return;
    try {
      await secrets.configureGuest(row.id, await vm.agent());
    } catch (err) {
      this.ctx.log(`hob: giving ${row.name} its secrets: ${(err as Error).message}`);
    }
  }

  /** Creates (or re-attaches to) the sandbox's network with its slot and policy (when hobd has networking). */
  private async attachNetwork(row: SandboxRow): Promise<VmNet | undefined> {
    const { network, db, config } = this.ctx.deps;
    if (!network) return undefined;
    const slot = allocateNetSlot(db, row.id, transitSlotCount(config.network.transitRange));
    return network.setup(row.id, slot, networkPolicyOf(freshRow(db, row)));
  }

  /** Marks the sandbox stopped (with the reason) when its VMM exits without hob asking. */
  private watchExit(id: string, vm: LiveVm): void {
    const { db, sessions } = this.ctx.deps;
    void vm.handle.exited.then((exit) => {
      if (this.ctx.live.get(id) !== vm) return;
      this.ctx.live.delete(id);
      vm.detach();
      if (vm.expectingExit) return;
      // Queued before anything can start it again (SandboxNetwork orders calls per sandbox).
      void this.releaseNetwork(id);
      const row = getSandbox(db, id);
      if (row) sessions.endSandbox(row.name, 'the VM stopped');
      const how = exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
      try {
        // A guest that powers itself off ends up stopped, a VMM that dies in error.
        const clean = exit.code === 0;
        setSandboxState(db, id, clean ? 'stopped' : 'error', { error: clean ? null : `the VMM exited unexpectedly (${how})` });
        appendEvent(db, { sandboxId: id, type: 'vmm-exit', data: { code: exit.code, signal: exit.signal } });
      } catch (err) {
        if (!(err instanceof NotFoundError)) this.ctx.log(`hob: recording the exit of ${id}: ${(err as Error).message}`);
      }
    });
  }
}
