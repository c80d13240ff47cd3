/**
 * Checkpoints as operations (docs/architecture.md §3, §7): taking one with the
 * guest held still, restoring one (the present kept first), forking a new
 * sandbox from a checkpoint or the current disk, diffing two states, and
 * pruning automatic checkpoints. CheckpointStore keeps volumes and rows in
 * step; this module decides what the VM does meanwhile. Methods marked "lock
 * held" expect the sandbox's lock taken by the caller; fork and diff take the
 * locks they need themselves.
 */
import { join } from 'node:path';
import { appendEvent, insertSandbox, setSandboxState, type Checkpoint, type Sandbox as SandboxRow } from '../db/index.js';
import { BadRequestError, ConflictError } from '../errors.js';
import { diffExt4Images, fileDiffExt4Images } from '../storage/ext4-diff.js';
import { checkpointName } from './checkpoint-info.js';
import { DEFAULT_AUTO_KEEP } from './checkpoint-store.js';
import { crashPoint } from './crash-point.js';
import { requireCreateSpace } from './free-space.js';
import { applyIdentity, machineIdFor } from './identity.js';
import type { NewSandboxSettings } from './input-schemas.js';
import type { VmLauncher } from './launcher.js';
import { emit } from './progress.js';
import { withQuiescedDisk } from './quiesce.js';
import { autoCheckpointOf, toSandbox } from './row-config.js';
import { freshRow, type SandboxContext } from './sandbox-context.js';
import type { DiffInput, DiffResult, ProgressSink, Sandbox } from './types.js';

/** What a checkpoint is taken with. */
export interface CheckpointRequest {
  readonly comment: string;
  /** Made by hob itself (schedule, before a restore): pruned beyond the sandbox's keep. */
  readonly auto: boolean;
  /** With the VM's memory (a live checkpoint): needs a running sandbox. */
  readonly memory: boolean;
  /** The VM is killed right after (a restore): a disk checkpoint leaves the guest frozen (quiesce.ts `leaveHeld`). */
  readonly vmEndsNext?: boolean;
}

export class Checkpointing {
  constructor(
    private readonly ctx: SandboxContext,
    private readonly launcher: VmLauncher,
    /** Removes every trace of a sandbox whose create or fork failed. */
    private readonly undoCreate: (row: SandboxRow) => Promise<void>,
  ) {}

  /**
   * Takes a checkpoint (lock held). A running guest is frozen (or paused)
   * around the snapshot; a stopped one needs nothing.
   * @throws ConflictError (wrong state), PoolFullError; every refusal comes before the first progress line.
   */
  async take(row: SandboxRow, opts: CheckpointRequest, progress: ProgressSink): Promise<Checkpoint> {
    const { checkpoints } = this.ctx;
    if (row.state === 'creating' || row.state === 'destroying') throw new ConflictError(`sandbox ${row.name} is ${row.state}`);
    const vm = this.ctx.live.get(row.id);
    // Every refusal comes before the first progress line, so that the API can still answer with its status.
    if (opts.memory) {
      if (!vm || row.state !== 'running') throw new ConflictError(`a checkpoint with memory needs a running sandbox; ${row.name} is ${row.state}`);
      await checkpoints.requireSpace('a checkpoint with memory', row.memoryMiB * 1024 ** 2);
      emit(progress, 'info', 'Creating checkpoint...');
      return checkpoints.takeLive(row, vm.handle, opts, (text) => emit(progress, 'info', text));
    }
    await checkpoints.requireSpace('a checkpoint');
    emit(progress, 'info', 'Creating checkpoint...');
    // A paused guest cannot freeze, and its VMM flushed the disk when it paused; a hibernated one has no VM.
    if (!vm || row.state === 'paused') {
      emit(progress, 'info', 'Saving filesystem state...');
      return checkpoints.take(row, { ...opts, kind: 'disk' });
    }
    return withQuiescedDisk(vm, async () => {
      crashPoint('checkpoint.quiesced');
      emit(progress, 'info', 'Saving filesystem state...');
      return checkpoints.take(row, { ...opts, kind: 'disk' });
    }, {
      onQuiesced: (method) => emit(progress, 'info', method === 'freeze' ? 'Guest filesystem frozen' : 'The guest agent did not answer: VM paused instead'),
      log: this.ctx.log,
      leaveHeld: opts.vmEndsNext === true,
    });
  }

  /**
   * Restores `cp` into the sandbox (lock held): keeps the present as an
   * automatic checkpoint, kills the VM, swaps the volume, then resumes the
   * checkpoint's memory or boots.
   * @throws ConflictError (creating or destroying), PoolFullError (nothing changed yet).
   */
  async restore(current: SandboxRow, cp: Checkpoint, progress: ProgressSink): Promise<void> {
    const { db, sessions } = this.ctx.deps;
    const target = checkpointName(cp);
    if (current.state === 'creating' || current.state === 'destroying') throw new ConflictError(`sandbox ${current.name} is ${current.state}`);
    emit(progress, 'info', 'Keeping the current state as an automatic checkpoint...');
    const before = await this.take(current, { comment: `before restore to ${target}`, auto: true, memory: false, vmEndsNext: true }, progress);
    emit(progress, 'info', `Current state saved as ${checkpointName(before)}`);
    crashPoint('restore.kept');
    sessions.endSandbox(current.name, `the sandbox is being restored to ${target}`);
    const vm = this.ctx.live.get(current.id);
    if (vm) {
      emit(progress, 'info', 'Stopping the VM...');
      await vm.kill();
      this.ctx.live.delete(current.id);
    }
    crashPoint('restore.vm-killed');
    emit(progress, 'info', `Restoring the disk of ${target}...`);
    const volume = await this.ctx.checkpoints.restoreVolume(current, cp);
    if (!volume.inPlace) this.ctx.log(`hob: restore of ${current.name}: the checkpoint's volume was swapped in (${volume.reason}); its files start cold in the host's page cache`);
    setSandboxState(db, current.id, 'stopped', { error: null });
    crashPoint('restore.disk-restored');
    const disk = volume.inPlace ? { disk: 'in-place', changed_bytes: volume.changedBytes } : { disk: 'swapped' };
    appendEvent(db, { sandboxId: current.id, type: 'restore', data: { checkpoint: target, kind: cp.kind, saved: checkpointName(before), ...disk } });
    await this.runRestored(current, cp.kind === 'live', progress);
    // Never the checkpoint just restored (it may be the oldest automatic one) nor the one just kept.
    await this.pruneAuto(current, [cp.id, before.id]);
    emit(progress, 'complete', `Restored to ${target}`);
  }

  /**
   * A new sandbox from `source`'s current disk (cp undefined) or from one of its
   * checkpoints. Live checkpoints resume with their memory and get their new
   * identity through the agent; everything else boots with it. Takes the new
   * sandbox's lock, and the source's while its current disk is snapshotted.
   * @throws BadRequestError (a live checkpoint with another shape, a smaller disk), PoolFullError, ConflictError (name taken).
   */
  async fork(source: SandboxRow, cp: Checkpoint | undefined, req: NewSandboxSettings, progress: ProgressSink): Promise<Sandbox> {
    const { db, volumes, driver } = this.ctx.deps;
    if (cp?.kind === 'live' && ((req.cpus !== undefined && req.cpus !== source.cpus) || (req.memoryMiB !== undefined && req.memoryMiB !== source.memoryMiB))) {
      throw new BadRequestError(`${checkpointName(cp)} holds memory: a sandbox made from it keeps ${source.cpus} vCPU and ${source.memoryMiB} MiB`);
    }
    if (req.diskBytes !== undefined && req.diskBytes < source.diskBytes) {
      throw new BadRequestError(`the disk cannot be smaller than the source's (${source.diskBytes} bytes)`);
    }
    await requireCreateSpace(volumes);
    const row = insertSandbox(db, {
      name: req.name,
      state: 'creating',
      image: source.image,
      cpus: req.cpus ?? source.cpus,
      memoryMiB: req.memoryMiB ?? source.memoryMiB,
      diskBytes: req.diskBytes ?? source.diskBytes,
      vmm: driver.kind,
      urlAuth: req.urlAuth ?? 'private',
      labels: [...(req.labels ?? source.labels)],
      environment: req.environment ?? source.environment,
      // A fork is as restricted as its source.
      config: {
        forkedFrom: { sandbox: source.name, checkpoint: cp ? checkpointName(cp) : null },
        ...(source.config['networkPolicy'] !== undefined ? { networkPolicy: source.config['networkPolicy'] } : {}),
      },
    });
    return this.ctx.locks.run(row.id, 'create', async () => {
      try {
        if (cp) {
          emit(progress, 'info', `Creating disk from ${source.name} ${checkpointName(cp)}...`);
          await volumes.fork(row.id, { checkpoint: cp });
        } else {
          emit(progress, 'info', `Creating disk from the current state of ${source.name}...`);
          await this.ctx.locks.run(source.id, 'fork', () => this.snapshotCurrent(source, row.id));
        }
        if (row.diskBytes > source.diskBytes) await volumes.growDisk(row.id, row.diskBytes);
        crashPoint('fork.disk');
        // The row stays `creating` until the fork is complete (its identity included): a crash undoes it.
        if (cp?.kind === 'live') {
          await this.runRestored(row, true, progress, false);
          crashPoint('fork.live-resumed');
          emit(progress, 'info', 'Giving the fork its own identity...');
          const vm = this.ctx.live.get(row.id);
          if (vm) await applyIdentity(await vm.agent(), { hostname: row.name, machineId: machineIdFor(row.id) });
        } else {
          await this.runRestored(row, false, progress, false);
          crashPoint('fork.booted');
        }
        setSandboxState(db, row.id, 'running', { error: null });
        appendEvent(db, { sandboxId: row.id, type: 'fork', data: { from: source.name, checkpoint: cp ? checkpointName(cp) : null } });
        emit(progress, 'complete', `Sandbox ${row.name} is running`);
        return toSandbox(freshRow(db, row));
      } catch (err) {
        emit(progress, 'error', (err as Error).message);
        await this.undoCreate(row).catch((cleanupErr: Error) => this.ctx.log(`hob: cleanup after failed fork ${row.name}: ${cleanupErr.message}`));
        throw err;
      }
    });
  }

  /** What changed between two states of the sandbox's disk (`to` absent: its current state), below `path` if given (checked by parseGuestPath). */
  diff(row: SandboxRow, input: DiffInput, path: string | undefined): Promise<DiffResult> {
    return this.withDiffImages(row, input, (older, newer, scratchDir) => diffExt4Images(older, newer, { scratchDir, ...(path ? { path } : {}) }));
  }

  /** The unified diff of the file at `path` (checked by parseGuestPath) between two states of the sandbox's disk. */
  fileDiff(row: SandboxRow, input: DiffInput, path: string): Promise<string> {
    return this.withDiffImages(row, input, (older, newer, scratchDir) => fileDiffExt4Images(older, newer, path, { scratchDir }));
  }

  /** Deletes automatic checkpoints beyond the sandbox's keep, never one in `protect`. Failures are logged. */
  async pruneAuto(row: SandboxRow, protect: readonly string[]): Promise<void> {
    const keep = autoCheckpointOf(freshRow(this.ctx.deps.db, row))?.keep ?? DEFAULT_AUTO_KEEP;
    await this.ctx.checkpoints.pruneAuto(row, keep, protect).catch((err: Error) => this.ctx.log(`hob: pruning automatic checkpoints of ${row.name}: ${err.message}`));
  }

  /**
   * Brings a sandbox whose volume was just replaced back to life: resumes its memory image, or boots it.
   * `settle`: record the outcome in the row (running, or error); a fork leaves its row `creating`
   * until it is complete, so that a crash before then undoes it.
   */
  private async runRestored(row: SandboxRow, hasMemory: boolean, progress: ProgressSink, settle = true): Promise<void> {
    const { db, volumes, driver } = this.ctx.deps;
    const memory = volumes.memory(row.id);
    try {
      if (hasMemory) {
        emit(progress, 'info', 'Resuming the VM from memory...');
        await this.launcher.resume(row, memory);
      } else {
        emit(progress, 'info', `Booting VM (${row.cpus} vCPU, ${row.memoryMiB} MiB, ${driver.kind})...`);
        await memory.remove();
        await this.launcher.boot(row);
      }
      if (settle) setSandboxState(db, row.id, 'running', { error: null });
    } catch (err) {
      if (settle) setSandboxState(db, row.id, 'error', { error: `start after restore failed: ${(err as Error).message}` });
      throw err;
    } finally {
      // The memory image served its purpose; the checkpoint keeps its own copy.
      if (this.ctx.live.has(row.id)) await memory.remove().catch(() => undefined);
    }
  }

  /** Makes sandbox `forkId`'s volume from `source`'s current one, the guest held still meanwhile. */
  private async snapshotCurrent(source: SandboxRow, forkId: string): Promise<void> {
    const vm = this.ctx.live.get(source.id);
    const snap = (): Promise<void> => this.ctx.deps.volumes.fork(forkId, { sandboxId: source.id });
    if (!vm) return snap();
    return withQuiescedDisk(vm, snap, { log: this.ctx.log });
  }

  /** Runs `work` on the two disk images a diff compares; a current state is snapshotted (quiesced) for the duration. */
  private async withDiffImages<T>(row: SandboxRow, input: DiffInput, work: (older: string, newer: string, scratchDir: string) => Promise<T>): Promise<T> {
    const { checkpoints } = this.ctx;
    const older = checkpoints.find(row, input.from);
    const scratchDir = join(this.ctx.deps.config.runDir, 'diff');
    if (input.to !== undefined) {
      const newer = checkpoints.find(row, input.to);
      return work(checkpoints.disk(older), checkpoints.disk(newer), scratchDir);
    }
    const current = await this.ctx.locks.run(row.id, 'diff', async () => {
      const vm = this.ctx.live.get(row.id);
      const snap = () => checkpoints.snapshotForReading(row);
      return vm ? withQuiescedDisk(vm, snap, { log: this.ctx.log }) : snap();
    });
    try {
      return await work(checkpoints.disk(older), current.disk, scratchDir);
    } finally {
      await current.discard().catch((err: Error) => this.ctx.log(`hob: removing a diff snapshot: ${err.message}`));
    }
  }
}
