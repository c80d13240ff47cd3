/**
 * The sandbox manager: owns the lifecycle of every sandbox (docs/architecture.md §7).
 *
 * Rules it keeps:
 * - One lifecycle operation at a time per sandbox (KeyedLock; a second one
 *   gets ConflictError = 409). Starts caused by a guest request (exec, fs, ...)
 *   are coalesced: concurrent callers share one boot.
 * - The database says what the disk should look like. Every step that leaves
 *   something on disk is preceded by a state the start-up reconcile
 *   (reconcile.ts) knows how to finish or undo: `creating` rows are undone,
 *   `destroying` rows are finished.
 * - It knows nothing of a VMM driver's details: it builds a VmSpec and talks
 *   to VmmDriver / VmHandle and to the agent.
 */
import { mkdir, rm, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { AgentClient } from '../agent/index.js';
import type { HobConfig } from '../config.js';
import {
  allocateNetSlot,
  appendEvent,
  deleteSandbox,
  getSandbox,
  getSandboxByName,
  insertSandbox,
  listSandboxes,
  setSandboxState,
  updateSandbox,
  type HobDb,
  type Sandbox as SandboxRow,
} from '../db/index.js';
import { BadRequestError, ConflictError, NotFoundError, PoolFullError } from '../errors.js';
import { diffExt4Images, fileDiffExt4Images } from '../storage/ext4-diff.js';
import type { Pool, PoolPath } from '../storage/index.js';
import type { VmmDriver, VmSpec } from '../vmm/types.js';
import { guestCmdlineArgs, netSpecFor, parsePolicy, transitSlotCount, type NetworkPolicy } from '../net/index.js';
import { checkpointName, toCheckpointInfo } from './checkpoint-info.js';
import { CheckpointStore, DEFAULT_AUTO_KEEP } from './checkpoint-store.js';
import { applyIdentity, machineIdFor } from './identity.js';
import { imageExists, requireImageRunsHere } from './images.js';
import { DISK_FILE, IMAGE_FILES, MEMORY_DIR, restoreStagingName, sandboxPaths, vmSpecFor, type VmNet } from './layout.js';
import { LiveVm } from './live-vm.js';
import { KeyedLock } from './lock.js';
import { ImageNameSchema, SandboxNameSchema } from './names.js';
import type { SessionRegistry } from './sessions.js';
import { publishPolicyToGuest, type SandboxNetworking } from './network.js';
import { AutoCheckpointSchema, autoCheckpointOf, idleOverrideOf, keepAwakeUntilOf, networkPolicyOf, toSandbox } from './row-config.js';
import { IdleOverrideSchema, IdleTracker, effectiveIdle } from './idle.js';
import { GuestKeepAwake } from './guest-keep-awake.js';
import { withQuiescedDisk } from './quiesce.js';
import { CLOCK_DEADLINE_MS, withDeadline } from './deadline.js';
import { crashPoint } from './crash-point.js';
import type {
  CheckpointInfo,
  CheckpointInput,
  CreateSandboxInput,
  DiffResult,
  DiffInput,
  ForkInput,
  ProgressSink,
  Sandbox,
  SandboxService,
  UpdateSandboxInput,
} from './types.js';
import type { Checkpoint, SandboxExtraConfig } from '../db/index.js';

export interface ManagerDeps {
  readonly db: HobDb;
  readonly pool: Pool;
  readonly driver: VmmDriver;
  readonly config: HobConfig;
  /** Exec sessions: ended when their sandbox stops or goes away. */
  readonly sessions: SessionRegistry;
  /** Diagnostics; default console.error. */
  readonly log?: (message: string) => void;
  /**
   * Sandbox networking (net/). Absent: VMs get no network device (hobd without root,
   * `network.enabled: false`, tests of other parts).
   */
  readonly network?: SandboxNetworking | undefined;
}

/**
 * A create needs at least this much free pool space: the guest writes at boot
 * (logs, the grown filesystem's metadata), and a VMM whose disk hits ENOSPC
 * pauses the guest instead of failing, so the create would hang until timeout.
 */
export const MIN_FREE_FOR_CREATE_BYTES = 512 * 1024 ** 2;

/** How long a guest gets to power off cleanly before its VMM is killed. */
const STOP_GRACE_MS = 15_000;
const GiB = 1024 ** 3;

const CreateInputSchema = z.object({
  name: SandboxNameSchema,
  image: ImageNameSchema.optional(),
  cpus: z.number().int().min(1).max(64).optional(),
  memoryMiB: z.number().int().min(256).max(256 * 1024).optional(),
  diskBytes: z.number().int().min(1 * GiB).max(16 * 1024 * GiB).optional(),
  labels: z.array(z.string().min(1).max(63)).max(64).optional(),
  environment: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name'), z.string().max(32 * 1024)).optional(),
  urlAuth: z.enum(['private', 'public']).optional(),
  from: z.object({ sandbox: SandboxNameSchema, checkpoint: z.string().min(1).max(64) }).optional(),
});

const CheckpointInputSchema = z.object({
  comment: z.string().max(1024, 'comment: at most 1024 characters').optional(),
  memory: z.boolean().optional(),
});

const GuestPathSchema = z.string().max(4096).startsWith('/', 'must be an absolute guest path').refine((p) => !p.includes('\0'), 'must not contain NUL');

/** How often the automatic-checkpoint schedule is looked at. */
const AUTO_CHECKPOINT_TICK_MS = 30_000;
/** How often the idle policy looks at running and paused sandboxes. */
const IDLE_TICK_MS = 1_000;
/** Longest keep-awake hold: a week. */
const MAX_KEEP_AWAKE_SECONDS = 7 * 86_400;

export class SandboxManager implements SandboxService {
  private readonly locks = new KeyedLock();
  /** Running sandboxes by id. */
  private readonly live = new Map<string, LiveVm>();
  /** In-flight boots by id, shared by concurrent callers. */
  private readonly booting = new Map<string, Promise<LiveVm>>();
  private readonly log: (message: string) => void;
  private readonly checkpoints: CheckpointStore;
  private autoTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly idle = new IdleTracker();
  /** Keep-awake holds taken inside guests become the sandbox's hold. */
  private readonly guestKeepAwake = new GuestKeepAwake((name, seconds) => this.keepAwake(name, seconds), (m) => this.log(m));

  constructor(private readonly deps: ManagerDeps) {
    this.log = deps.log ?? ((m) => console.error(m));
    this.checkpoints = new CheckpointStore(deps.db, deps.pool);
    // Attaching, detaching and ending sessions, and requests holding the sandbox, are activity.
    deps.sessions.on('change', (name) => {
      const row = getSandboxByName(deps.db, name);
      if (row) this.idle.touch(row.id);
    });
  }

  list(): Sandbox[] {
    return listSandboxes(this.deps.db).map(toSandbox);
  }

  get(name: string): Sandbox {
    return toSandbox(this.row(name));
  }

  async create(input: CreateSandboxInput, progress: ProgressSink = () => {}): Promise<Sandbox> {
    const parsed = CreateInputSchema.safeParse(input);
    if (!parsed.success) throw new BadRequestError(formatZodError(parsed.error));
    const req = parsed.data;
    if (req.from) {
      if (req.image) throw new BadRequestError('give either an image or a checkpoint to start from, not both');
      const source = this.row(req.from.sandbox);
      const cp = this.checkpoints.find(source, req.from.checkpoint);
      const { from: _from, image: _image, ...rest } = req;
      return this.forkInto(source, cp, rest, progress);
    }
    const { db, pool, config, driver } = this.deps;
    const defaults = config.sandboxDefaults;
    const image = req.image ?? defaults.image;
    if (!(await imageExists(pool, image))) {
      throw new BadRequestError(`there is no image named "${image}" (build one with: hob images build ${image === 'minimal' ? '--variant minimal ' : ''}${image})`);
    }
    await requireImageRunsHere(pool, config, driver.kind, image);
    await this.requireCreateSpace();
    // The row comes first, in state `creating`: if hobd dies from here on, reconcile undoes the rest.
    const row = insertSandbox(db, {
      name: req.name,
      state: 'creating',
      image,
      cpus: req.cpus ?? defaults.cpus,
      memoryMiB: req.memoryMiB ?? defaults.memoryMiB,
      diskBytes: req.diskBytes ?? defaults.diskGiB * GiB,
      vmm: driver.kind,
      urlAuth: req.urlAuth ?? 'private',
      labels: [...(req.labels ?? [])],
      environment: req.environment ?? {},
    });
    return this.locks.run(row.id, 'create', async () => {
      const paths = sandboxPaths(pool, config, row.id);
      try {
        emit(progress, 'info', `Creating disk from image ${image}...`);
        await pool.snapshot(pool.imagePath(image), pool.sandboxPath(row.id));
        await pool.move(pool.path('sandboxes', row.id, IMAGE_FILES.rootfs), pool.path('sandboxes', row.id, DISK_FILE));
        // Sparse growth: costs nothing until the guest writes; the guest grows its filesystem at boot.
        await truncate(paths.disk, row.diskBytes);
        crashPoint('create.disk');
        emit(progress, 'info', `Booting VM (${row.cpus} vCPU, ${row.memoryMiB} MiB, ${driver.kind})...`);
        await this.boot(row);
        crashPoint('create.booted');
        const running = setSandboxState(db, row.id, 'running', { error: null });
        emit(progress, 'complete', `Sandbox ${row.name} is running`);
        return toSandbox(running);
      } catch (err) {
        emit(progress, 'error', (err as Error).message);
        await this.undoCreate(row).catch((cleanupErr: Error) => this.log(`hob: cleanup after failed create of ${row.name}: ${cleanupErr.message}`));
        throw err;
      }
    });
  }

  async update(name: string, patch: UpdateSandboxInput): Promise<Sandbox> {
    const row = this.row(name);
    const labels = patch.labels ? [...patch.labels] : undefined;
    let config: SandboxExtraConfig | undefined;
    if (patch.autoCheckpoint !== undefined) {
      const { autoCheckpoint: _old, ...rest } = row.config;
      if (patch.autoCheckpoint === null) config = rest;
      else {
        const parsed = AutoCheckpointSchema.safeParse(patch.autoCheckpoint);
        if (!parsed.success) throw new BadRequestError(`autoCheckpoint: ${formatZodError(parsed.error)}`);
        config = { ...rest, autoCheckpoint: parsed.data };
      }
    }
    if (patch.idle !== undefined) {
      const { idle: _old, ...rest } = config ?? row.config;
      if (patch.idle === null) config = rest;
      else {
        const parsed = IdleOverrideSchema.safeParse(patch.idle);
        if (!parsed.success) throw new BadRequestError(`idle: ${formatZodError(parsed.error)}`);
        config = { ...rest, idle: parsed.data };
      }
    }
    return toSandbox(updateSandbox(this.deps.db, row.id, {
      ...(labels ? { labels } : {}),
      ...(patch.urlAuth ? { urlAuth: patch.urlAuth } : {}),
      ...(config ? { config } : {}),
    }));
  }

  async start(name: string, progress: ProgressSink = () => {}): Promise<Sandbox> {
    const row = this.row(name);
    await this.ensureRunning(row, progress);
    return this.get(name);
  }

  async stop(name: string): Promise<Sandbox> {
    const row = this.row(name);
    return this.locks.run(row.id, 'stop', async () => {
      const vm = this.live.get(row.id);
      const current = this.fresh(row);
      this.deps.sessions.endSandbox(row.name, 'the sandbox is stopping');
      if (vm) {
        // A paused guest cannot shut itself down: let it run for its last moments.
        if (current.state === 'paused') await vm.handle.resume().catch(() => undefined);
        await vm.stop(STOP_GRACE_MS);
        this.live.delete(row.id);
      }
      await this.releaseNetwork(row.id);
      // A hibernated sandbox's memory image is dropped: stopped means no memory state.
      await this.deps.pool.delete(this.deps.pool.path('sandboxes', row.id, MEMORY_DIR));
      if (current.state === 'stopped') return toSandbox(current);
      return toSandbox(setSandboxState(this.deps.db, row.id, 'stopped'));
    });
  }

  async remove(name: string): Promise<void> {
    const row = this.row(name);
    await this.locks.run(row.id, 'remove', async () => {
      setSandboxState(this.deps.db, row.id, 'destroying');
      crashPoint('rm.destroying');
      await this.destroy(row);
    });
  }

  async agent(name: string): Promise<AgentClient> {
    const row = this.row(name);
    this.idle.touch(row.id);
    const vm = await this.ensureRunning(row, () => {});
    return vm.agent();
  }

  // ---------------------------------------------------------------- sleep

  async sleep(name: string, opts: { hibernate?: boolean } = {}): Promise<Sandbox> {
    const row = this.row(name);
    await this.locks.run(row.id, opts.hibernate ? 'hibernate' : 'sleep', async () => {
      const current = this.fresh(row);
      const vm = this.live.get(row.id);
      if (current.state === 'hibernated' || (current.state === 'paused' && !opts.hibernate)) return;
      if (!vm || (current.state !== 'running' && current.state !== 'paused')) {
        throw new ConflictError(`sandbox ${row.name} is ${current.state}: only a running sandbox can go to sleep`);
      }
      await this.pauseNow(current, vm);
      if (opts.hibernate) await this.hibernateNow(current, vm);
    });
    return this.get(name);
  }

  async wake(name: string, progress: ProgressSink = () => {}): Promise<Sandbox> {
    const row = this.row(name);
    this.idle.touch(row.id);
    await this.ensureRunning(row, progress);
    return this.get(name);
  }

  async keepAwake(name: string, seconds: number | null): Promise<Sandbox> {
    const row = this.row(name);
    if (seconds !== null && (!Number.isInteger(seconds) || seconds < 1 || seconds > MAX_KEEP_AWAKE_SECONDS)) {
      throw new BadRequestError(`keep-awake time: 1 to ${MAX_KEEP_AWAKE_SECONDS} seconds`);
    }
    const { keepAwakeUntil: _old, ...rest } = row.config;
    updateSandbox(this.deps.db, row.id, { config: seconds === null ? rest : { ...rest, keepAwakeUntil: Date.now() + seconds * 1000 } });
    if (seconds !== null) await this.wake(name);
    return this.get(name);
  }

  // ---------------------------------------------------------------- network policy

  networkPolicy(name: string): NetworkPolicy {
    return networkPolicyOf(this.row(name));
  }

  async setNetworkPolicy(name: string, policy: unknown): Promise<NetworkPolicy> {
    const row = this.row(name);
    const valid = parsePolicy(policy);
    // Stored first: whatever happens next, the next start applies it.
    const updated = updateSandbox(this.deps.db, row.id, { config: { ...row.config, networkPolicy: valid } });
    if (this.deps.network && (await this.deps.network.setPolicy(row.id, valid))) {
      const vm = this.live.get(row.id);
      if (vm && updated.state === 'running') await this.publishPolicy(updated, vm);
    }
    appendEvent(this.deps.db, { sandboxId: row.id, type: 'network-policy', data: { rules: valid.rules.length } });
    return valid;
  }

  // ---------------------------------------------------------------- checkpoints

  async checkpoint(name: string, input: CheckpointInput, progress: ProgressSink = () => {}): Promise<CheckpointInfo> {
    const parsed = CheckpointInputSchema.safeParse(input);
    if (!parsed.success) throw new BadRequestError(formatZodError(parsed.error));
    const row = this.row(name);
    return this.locks.run(row.id, 'checkpoint', async () => {
      const cp = await this.takeCheckpoint(this.fresh(row), { comment: parsed.data.comment ?? '', auto: false, memory: parsed.data.memory ?? false }, progress);
      emit(progress, 'complete', `Checkpoint ${checkpointName(cp)} created`);
      return toCheckpointInfo(cp, row.name);
    });
  }

  async listCheckpoints(name: string, opts: { includeAuto?: boolean } = {}): Promise<CheckpointInfo[]> {
    const row = this.row(name);
    const rows = this.checkpoints.list(row).filter((c) => opts.includeAuto || !c.auto);
    return Promise.all(rows.map(async (c) => toCheckpointInfo(c, row.name, await this.checkpoints.measure(c))));
  }

  async getCheckpoint(name: string, ref: string): Promise<CheckpointInfo> {
    const row = this.row(name);
    const cp = this.checkpoints.find(row, ref);
    return toCheckpointInfo(cp, row.name, await this.checkpoints.measure(cp));
  }

  async deleteCheckpoint(name: string, ref: string): Promise<void> {
    const row = this.row(name);
    const cp = this.checkpoints.find(row, ref);
    await this.locks.run(row.id, 'checkpoint delete', () => this.checkpoints.remove(cp));
  }

  async restore(name: string, ref: string, progress: ProgressSink = () => {}): Promise<Sandbox> {
    const row = this.row(name);
    const cp = this.checkpoints.find(row, ref);
    const target = checkpointName(cp);
    return this.locks.run(row.id, 'restore', async () => {
      const current = this.fresh(row);
      if (current.state === 'creating' || current.state === 'destroying') throw new ConflictError(`sandbox ${row.name} is ${current.state}`);
      emit(progress, 'info', 'Keeping the current state as an automatic checkpoint...');
      const before = await this.takeCheckpoint(current, { comment: `before restore to ${target}`, auto: true, memory: false }, progress);
      emit(progress, 'info', `Current state saved as ${checkpointName(before)}`);
      crashPoint('restore.kept');
      this.deps.sessions.endSandbox(row.name, `the sandbox is being restored to ${target}`);
      const vm = this.live.get(row.id);
      if (vm) {
        emit(progress, 'info', 'Stopping the VM...');
        await vm.kill();
        this.live.delete(row.id);
      }
      crashPoint('restore.vm-killed');
      emit(progress, 'info', `Restoring the disk of ${target}...`);
      await this.checkpoints.swapIn(current, cp);
      setSandboxState(this.deps.db, row.id, 'stopped', { error: null });
      crashPoint('restore.swapped');
      appendEvent(this.deps.db, { sandboxId: row.id, type: 'restore', data: { checkpoint: target, kind: cp.kind, saved: checkpointName(before) } });
      await this.runRestored(current, cp.kind === 'live', progress);
      // Never the checkpoint just restored (it may be the oldest automatic one) nor the one just kept.
      await this.pruneAutoCheckpoints(current, [cp.id, before.id]);
      emit(progress, 'complete', `Restored to ${target}`);
      return this.get(name);
    });
  }

  async fork(source: string, input: ForkInput, progress: ProgressSink = () => {}): Promise<Sandbox> {
    const name = SandboxNameSchema.safeParse(input.name);
    if (!name.success) throw new BadRequestError(`name: ${formatZodError(name.error)}`);
    const src = this.row(source);
    const cp = input.from === undefined ? undefined : this.checkpoints.find(src, input.from);
    return this.forkInto(src, cp, { name: name.data }, progress);
  }

  async diff(name: string, input: DiffInput): Promise<DiffResult> {
    const path = input.path === undefined ? undefined : this.guestPath(input.path);
    return this.withDiffImages(name, input, (older, newer, scratchDir) => diffExt4Images(older, newer, { scratchDir, ...(path ? { path } : {}) }));
  }

  async fileDiff(name: string, input: DiffInput & { readonly path: string }): Promise<string> {
    const path = this.guestPath(input.path);
    return this.withDiffImages(name, input, (older, newer, scratchDir) => fileDiffExt4Images(older, newer, path, { scratchDir }));
  }

  /** Starts the automatic-checkpoint schedule (hobd calls it once it is up). */
  startSchedules(): void {
    if (this.autoTimer) return;
    this.autoTimer = setInterval(() => void this.runAutoCheckpoints(), AUTO_CHECKPOINT_TICK_MS);
    this.autoTimer.unref();
    let ticking = false;
    this.idleTimer = setInterval(() => {
      if (ticking) return;
      ticking = true;
      void this.runIdlePolicy().finally(() => (ticking = false));
    }, IDLE_TICK_MS);
    this.idleTimer.unref();
  }

  stopSchedules(): void {
    clearInterval(this.autoTimer);
    clearInterval(this.idleTimer);
    this.autoTimer = undefined;
    this.idleTimer = undefined;
  }

  /** Closes agent connections and forgets VMs without stopping them: they keep running and are adopted at the next start. */
  detachAll(): void {
    const vms = [...this.live.values()];
    this.live.clear();
    for (const vm of vms) vm.release();
  }

  // ---------------------------------------------------------------- used by reconcile

  /**
   * @internal After adopting VMs at start-up: removes every sandbox network whose VM is not
   * running (hobd died before tearing it down), and re-attaches the adopted ones (their
   * resolver and rules; the tap the VMM holds is left alone).
   */
  async reconcileNetworks(): Promise<string[]> {
    const network = this.deps.network;
    if (!network) return [];
    const removed = await network.reconcile(this.live.keys());
    for (const id of this.live.keys()) {
      const row = getSandbox(this.deps.db, id);
      if (!row) continue;
      try {
        await this.attachNetwork(row);
      } catch (err) {
        this.log(`hob: reconcile: the network of ${row.name}: ${(err as Error).message}`);
      }
    }
    return removed;
  }

  /**
   * @internal The network part of the VmSpec of a VM to adopt at start-up: the same device
   * its VMM was started with, so that a live checkpoint of the adopted VM records its tap.
   */
  adoptedNet(id: string): VmNet | undefined {
    if (!this.deps.network) return undefined;
    return { netSpec: netSpecFor(this.deps.config.network.netnsPrefix, id), cmdlineArgs: guestCmdlineArgs() };
  }

  /** @internal Registers a VM adopted at start-up. */
  adopt(id: string, vm: LiveVm): void {
    this.live.set(id, vm);
    this.watchExit(id, vm);
  }

  /** @internal Removes every trace of a sandbox (VM, run dir, subvolume, checkpoints, row). Idempotent. */
  async destroy(row: SandboxRow): Promise<void> {
    const { pool, config, db } = this.deps;
    this.deps.sessions.removeSandbox(row.name, 'the sandbox was removed');
    const vm = this.live.get(row.id);
    if (vm) {
      await vm.kill();
      this.live.delete(row.id);
    }
    crashPoint('rm.vm-killed');
    await this.releaseNetwork(row.id);
    await pool.trash(pool.sandboxPath(row.id));
    await pool.trash(pool.path('sandboxes', restoreStagingName(row.id)));
    await pool.trash(pool.checkpointsDir(row.id));
    await rm(sandboxPaths(pool, config, row.id).runDir, { recursive: true, force: true });
    deleteSandbox(db, row.id);
  }

  // ---------------------------------------------------------------- internals

  private row(name: string): SandboxRow {
    if (!SandboxNameSchema.safeParse(name).success) throw new NotFoundError(`no sandbox named "${name}"`);
    const row = getSandboxByName(this.deps.db, name);
    if (!row) throw new NotFoundError(`no sandbox named "${name}"`);
    return row;
  }

  /** @throws PoolFullError when the pool is too full for a new sandbox (see MIN_FREE_FOR_CREATE_BYTES). */
  private async requireCreateSpace(): Promise<void> {
    const { freeBytes } = await this.deps.pool.usage();
    if (freeBytes < MIN_FREE_FOR_CREATE_BYTES) {
      throw new PoolFullError(`the pool has ${Math.floor(freeBytes / 1024 ** 2)} MiB free; a new sandbox needs at least ${MIN_FREE_FOR_CREATE_BYTES / 1024 ** 2} MiB (remove sandboxes, checkpoints or images, or grow the pool)`);
    }
  }

  /** The row as the database has it now (a caller's copy may predate the lock). */
  private fresh(row: SandboxRow): SandboxRow {
    const now = getSandbox(this.deps.db, row.id);
    if (!now) throw new NotFoundError(`no sandbox named "${row.name}"`);
    return now;
  }

  private guestPath(path: string): string {
    const parsed = GuestPathSchema.safeParse(path);
    if (!parsed.success) throw new BadRequestError(`path: ${formatZodError(parsed.error)}`);
    return parsed.data;
  }

  /**
   * Takes a checkpoint under the sandbox's lock (the caller holds it). A running
   * guest is frozen (or paused) around the snapshot; a stopped one needs nothing.
   */
  private async takeCheckpoint(row: SandboxRow, opts: { comment: string; auto: boolean; memory: boolean }, progress: ProgressSink): Promise<Checkpoint> {
    if (row.state === 'creating' || row.state === 'destroying') throw new ConflictError(`sandbox ${row.name} is ${row.state}`);
    const vm = this.live.get(row.id);
    // Every refusal comes before the first progress line, so that the API can still answer with its status.
    if (opts.memory) {
      if (!vm || row.state !== 'running') throw new ConflictError(`a checkpoint with memory needs a running sandbox; ${row.name} is ${row.state}`);
      await this.checkpoints.requireSpace('a checkpoint with memory', row.memoryMiB * 1024 ** 2);
      emit(progress, 'info', 'Creating checkpoint...');
      return this.checkpoints.takeLive(row, vm.handle, opts, (text) => emit(progress, 'info', text));
    }
    await this.checkpoints.requireSpace('a checkpoint');
    emit(progress, 'info', 'Creating checkpoint...');
    // A paused guest cannot freeze, and its VMM flushed the disk when it paused; a hibernated one has no VM.
    if (!vm || row.state === 'paused') {
      emit(progress, 'info', 'Saving filesystem state...');
      return this.checkpoints.take(row, { ...opts, kind: 'disk' });
    }
    return withQuiescedDisk(vm, async () => {
      crashPoint('checkpoint.quiesced');
      emit(progress, 'info', 'Saving filesystem state...');
      return this.checkpoints.take(row, { ...opts, kind: 'disk' });
    }, {
      onQuiesced: (method) => emit(progress, 'info', method === 'freeze' ? 'Guest filesystem frozen' : 'The guest agent did not answer: VM paused instead'),
      log: this.log,
    });
  }

  /**
   * Brings a sandbox whose subvolume was just replaced back to life: resumes its memory snapshot, or boots it.
   * `settle`: record the outcome in the row (running, or error); a fork leaves its row `creating`
   * until it is complete, so that a crash before then undoes it.
   */
  private async runRestored(row: SandboxRow, hasMemory: boolean, progress: ProgressSink, settle = true): Promise<void> {
    const memoryDir = this.deps.pool.path('sandboxes', row.id, MEMORY_DIR);
    try {
      if (hasMemory) {
        emit(progress, 'info', 'Resuming the VM from memory...');
        await this.resume(row, memoryDir);
      } else {
        emit(progress, 'info', `Booting VM (${row.cpus} vCPU, ${row.memoryMiB} MiB, ${this.deps.driver.kind})...`);
        await this.deps.pool.delete(memoryDir);
        await this.boot(row);
      }
      if (settle) setSandboxState(this.deps.db, row.id, 'running', { error: null });
    } catch (err) {
      if (settle) setSandboxState(this.deps.db, row.id, 'error', { error: `start after restore failed: ${(err as Error).message}` });
      throw err;
    } finally {
      // The memory image served its purpose; the checkpoint keeps its own copy.
      if (this.live.has(row.id)) await this.deps.pool.delete(memoryDir).catch(() => undefined);
    }
  }

  /**
   * A new sandbox from `source`'s current disk (cp undefined) or from one of its
   * checkpoints. Live checkpoints resume with their memory and get their new
   * identity through the agent; everything else boots with it.
   */
  private async forkInto(source: SandboxRow, cp: Checkpoint | undefined, req: Omit<z.infer<typeof CreateInputSchema>, 'from' | 'image'>, progress: ProgressSink): Promise<Sandbox> {
    const { db, pool, config } = this.deps;
    if (cp?.kind === 'live' && ((req.cpus !== undefined && req.cpus !== source.cpus) || (req.memoryMiB !== undefined && req.memoryMiB !== source.memoryMiB))) {
      throw new BadRequestError(`${checkpointName(cp)} holds memory: a sandbox made from it keeps ${source.cpus} vCPU and ${source.memoryMiB} MiB`);
    }
    if (req.diskBytes !== undefined && req.diskBytes < source.diskBytes) {
      throw new BadRequestError(`the disk cannot be smaller than the source's (${source.diskBytes} bytes)`);
    }
    await this.requireCreateSpace();
    const row = insertSandbox(db, {
      name: req.name,
      state: 'creating',
      image: source.image,
      cpus: req.cpus ?? source.cpus,
      memoryMiB: req.memoryMiB ?? source.memoryMiB,
      diskBytes: req.diskBytes ?? source.diskBytes,
      vmm: this.deps.driver.kind,
      urlAuth: req.urlAuth ?? 'private',
      labels: [...(req.labels ?? source.labels)],
      environment: req.environment ?? source.environment,
      // A fork is as restricted as its source.
      config: {
        forkedFrom: { sandbox: source.name, checkpoint: cp ? checkpointName(cp) : null },
        ...(source.config['networkPolicy'] !== undefined ? { networkPolicy: source.config['networkPolicy'] } : {}),
      },
    });
    return this.locks.run(row.id, 'create', async () => {
      const newPath = pool.sandboxPath(row.id);
      try {
        if (cp) {
          emit(progress, 'info', `Creating disk from ${source.name} ${checkpointName(cp)}...`);
          await pool.snapshot(this.checkpoints.path(cp), newPath);
        } else {
          emit(progress, 'info', `Creating disk from the current state of ${source.name}...`);
          await this.locks.run(source.id, 'fork', () => this.snapshotCurrent(source, newPath));
        }
        if (row.diskBytes > source.diskBytes) await truncate(join(newPath, DISK_FILE), row.diskBytes);
        crashPoint('fork.disk');
        // The row stays `creating` until the fork is complete (its identity included): a crash undoes it.
        if (cp?.kind === 'live') {
          await this.runRestored(row, true, progress, false);
          crashPoint('fork.live-resumed');
          emit(progress, 'info', 'Giving the fork its own identity...');
          const vm = this.live.get(row.id);
          if (vm) await applyIdentity(await vm.agent(), { hostname: row.name, machineId: machineIdFor(row.id) });
        } else {
          await this.runRestored(row, false, progress, false);
          crashPoint('fork.booted');
        }
        setSandboxState(db, row.id, 'running', { error: null });
        appendEvent(db, { sandboxId: row.id, type: 'fork', data: { from: source.name, checkpoint: cp ? checkpointName(cp) : null } });
        emit(progress, 'complete', `Sandbox ${row.name} is running`);
        return this.get(row.name);
      } catch (err) {
        emit(progress, 'error', (err as Error).message);
        await this.undoCreate(row).catch((cleanupErr: Error) => this.log(`hob: cleanup after failed fork ${row.name}: ${cleanupErr.message}`));
        throw err;
      }
    });
  }

  /** A writable snapshot of a sandbox's current subvolume at `dst`, the guest held still meanwhile. */
  private async snapshotCurrent(source: SandboxRow, dst: PoolPath): Promise<void> {
    const vm = this.live.get(source.id);
    const snap = (): Promise<void> => this.deps.pool.snapshot(this.deps.pool.sandboxPath(source.id), dst);
    if (!vm) return snap();
    return withQuiescedDisk(vm, snap, { log: this.log });
  }

  /** Runs `work` on the two disk images a diff compares; a current state is snapshotted (quiesced) for the duration. */
  private async withDiffImages<T>(name: string, input: DiffInput, work: (older: string, newer: string, scratchDir: string) => Promise<T>): Promise<T> {
    const row = this.row(name);
    const older = this.checkpoints.find(row, input.from);
    const scratchDir = join(this.deps.config.runDir, 'diff');
    if (input.to !== undefined) {
      const newer = this.checkpoints.find(row, input.to);
      return work(this.checkpoints.diskPath(older), this.checkpoints.diskPath(newer), scratchDir);
    }
    const current = await this.locks.run(row.id, 'diff', async () => {
      const vm = this.live.get(row.id);
      const snap = () => this.checkpoints.snapshotForReading(row);
      return vm ? withQuiescedDisk(vm, snap, { log: this.log }) : snap();
    });
    try {
      return await work(this.checkpoints.diskPath(older), current.disk, scratchDir);
    } finally {
      await this.deps.pool.trash(current.path).catch((err: Error) => this.log(`hob: removing a diff snapshot: ${err.message}`));
    }
  }

  private async pruneAutoCheckpoints(row: SandboxRow, protect: readonly string[]): Promise<void> {
    const keep = autoCheckpointOf(this.fresh(row))?.keep ?? DEFAULT_AUTO_KEEP;
    await this.checkpoints.pruneAuto(row, keep, protect).catch((err: Error) => this.log(`hob: pruning automatic checkpoints of ${row.name}: ${err.message}`));
  }

  /** One tick of the schedule: running sandboxes whose last automatic checkpoint is older than their interval get one. */
  private async runAutoCheckpoints(): Promise<void> {
    for (const row of listSandboxes(this.deps.db)) {
      const policy = autoCheckpointOf(row);
      if (!policy || row.state !== 'running' || !this.live.has(row.id)) continue;
      const last = this.checkpoints.list(row).filter((c) => c.auto).at(-1);
      if (last && Date.now() - last.createdAt.getTime() < policy.intervalMinutes * 60_000) continue;
      try {
        await this.locks.run(
          row.id,
          'automatic checkpoint',
          async () => {
            const cp = await this.takeCheckpoint(this.fresh(row), { comment: 'automatic', auto: true, memory: false }, () => {});
            await this.checkpoints.pruneAuto(row, policy.keep);
            return cp;
          },
          { background: true },
        );
      } catch (err) {
        // Busy (409) is normal: the next tick tries again.
        if (!(err instanceof ConflictError)) this.log(`hob: automatic checkpoint of ${row.name}: ${(err as Error).message}`);
      }
    }
  }

  /**
   * Makes a sandbox run: resumes a paused one, wakes a hibernated one from its
   * memory image, boots a stopped or errored one, or joins such a start in
   * progress (concurrent callers share one). Waits for an idle pause or
   * hibernate in progress rather than conflicting with it.
   */
  private async ensureRunning(row: SandboxRow, progress: ProgressSink): Promise<LiveVm> {
    for (;;) {
      const inFlight = this.booting.get(row.id);
      if (inFlight) return inFlight;
      const current = this.fresh(row);
      const live = this.live.get(row.id);
      if (live && current.state === 'running') return live;
      if (current.state === 'creating' || current.state === 'destroying') {
        throw new ConflictError(`sandbox ${row.name} is ${current.state}`);
      }
      const holder = this.locks.holder(row.id);
      if (holder === 'sleep' || holder === 'idle pause' || holder === 'hibernate' || holder === 'idle hibernate') {
        await this.locks.released(row.id);
        continue;
      }
      const start = this.locks.run(row.id, 'start', () => this.startLocked(current, progress));
      this.booting.set(row.id, start);
      try {
        return await start;
      } finally {
        this.booting.delete(row.id);
        this.idle.touch(row.id);
      }
    }
  }

  private async startLocked(row: SandboxRow, progress: ProgressSink): Promise<LiveVm> {
    const live = this.live.get(row.id);
    try {
      let vm: LiveVm;
      if (live && row.state === 'paused') {
        emit(progress, 'info', 'Resuming the paused VM...');
        await live.handle.resume();
        crashPoint('wake.resumed');
        // A clock that cannot be set is logged, not fatal: the guest's memory lives only in this VMM.
        await withDeadline((async () => (await live.agent()).setClock(Date.now()))(), CLOCK_DEADLINE_MS, 'the guest agent (clock.set)')
          .catch((err: Error) => this.log(`hob: setting the clock of ${row.name}: ${err.message}`));
        // A policy change made while it was paused reaches the guest's copy now (not waited for).
        void this.publishPolicy(row, live);
        vm = live;
      } else if (live) {
        vm = live;
      } else if (row.state === 'hibernated') {
        vm = await this.wakeFromMemory(row, progress);
      } else {
        emit(progress, 'info', `Booting VM (${row.cpus} vCPU, ${row.memoryMiB} MiB, ${this.deps.driver.kind})...`);
        vm = await this.boot(row);
      }
      setSandboxState(this.deps.db, row.id, 'running', { error: null });
      emit(progress, 'complete', `Sandbox ${row.name} is running`);
      return vm;
    } catch (err) {
      setSandboxState(this.deps.db, row.id, 'error', { error: `start failed: ${(err as Error).message}` });
      emit(progress, 'error', (err as Error).message);
      throw err;
    }
  }

  /** Resumes a hibernated sandbox from its memory image; if that fails, boots it cold (the memory is lost, the disk is not). */
  private async wakeFromMemory(row: SandboxRow, progress: ProgressSink): Promise<LiveVm> {
    const memoryDir = this.deps.pool.path('sandboxes', row.id, MEMORY_DIR);
    emit(progress, 'info', 'Waking the VM from its memory image...');
    let vm: LiveVm;
    try {
      vm = await this.resume(row, memoryDir);
      crashPoint('wake.memory-resumed');
    } catch (err) {
      this.log(`hob: waking ${row.name} from memory failed (${(err as Error).message}); booting it instead`);
      appendEvent(this.deps.db, { sandboxId: row.id, type: 'wake-failed', data: { error: (err as Error).message } });
      emit(progress, 'info', 'The memory image could not be resumed: booting instead...');
      vm = await this.boot(row);
    }
    await this.deps.pool.delete(memoryDir).catch((err: Error) => this.log(`hob: removing the memory image of ${row.name}: ${err.message}`));
    return vm;
  }

  /** Pauses a running VM (lock held). */
  private async pauseNow(row: SandboxRow, vm: LiveVm): Promise<void> {
    if (row.state === 'paused') return;
    await vm.handle.pause();
    crashPoint('sleep.paused');
    setSandboxState(this.deps.db, row.id, 'paused');
  }

  /** Saves a paused VM's memory into its subvolume and ends the VMM process (lock held). */
  private async hibernateNow(row: SandboxRow, vm: LiveVm): Promise<void> {
    const memoryDir = this.deps.pool.path('sandboxes', row.id, MEMORY_DIR);
    await this.deps.pool.delete(memoryDir);
    await this.checkpoints.requireSpace('hibernating', row.memoryMiB * 1024 ** 2);
    await mkdir(memoryDir, { mode: 0o700 });
    try {
      await vm.handle.snapshot(memoryDir);
    } catch (err) {
      await this.deps.pool.delete(memoryDir).catch(() => undefined);
      throw err;
    }
    crashPoint('hibernate.memory-saved');
    // The row first: from here on the memory image is the sandbox's state, and a hobd that
    // dies before the kill below leaves a VMM that reconcile may kill (its memory is saved).
    setSandboxState(this.deps.db, row.id, 'hibernated');
    crashPoint('hibernate.row-written');
    this.deps.sessions.endSandbox(row.name, 'the sandbox is hibernating');
    await vm.kill();
    this.live.delete(row.id);
    await this.releaseNetwork(row.id);
  }

  /** One look at every live sandbox: pause the ones idle long enough, hibernate the ones idle longer. */
  private async runIdlePolicy(): Promise<void> {
    const now = Date.now();
    for (const row of listSandboxes(this.deps.db)) {
      if (row.state !== 'running' && row.state !== 'paused') continue;
      const vm = this.live.get(row.id);
      if (!vm) continue;
      if (row.state === 'running') this.guestKeepAwake.follow(row.name, vm);
      const activity = this.deps.sessions.activity(row.name);
      const busy = activity.attachedClients + activity.runningSessions + activity.holds > 0
        || this.locks.holder(row.id) !== undefined
        || this.booting.has(row.id)
        || keepAwakeUntilOf(row, now) !== undefined;
      if (busy) {
        this.idle.touch(row.id, now);
        continue;
      }
      const settings = effectiveIdle(this.deps.config.idle, idleOverrideOf(row));
      const idleMs = this.idle.idleFor(row.id, row.stateSince.getTime(), now);
      const hibernate = settings.hibernateAfterSeconds > 0 && idleMs >= settings.hibernateAfterSeconds * 1000;
      const pause = row.state === 'running' && settings.pauseAfterSeconds > 0 && idleMs >= settings.pauseAfterSeconds * 1000;
      if (!hibernate && !pause) continue;
      try {
        await this.locks.run(
          row.id,
          hibernate ? 'idle hibernate' : 'idle pause',
          async () => {
            const current = this.fresh(row);
            if (current.state !== 'running' && current.state !== 'paused') return;
            await this.pauseNow(current, vm);
            if (hibernate) await this.hibernateNow(this.fresh(row), vm);
          },
          { background: true },
        );
        appendEvent(this.deps.db, { sandboxId: row.id, type: 'idle', data: { to: hibernate ? 'hibernated' : 'paused', idleSeconds: Math.round(idleMs / 1000) } });
      } catch (err) {
        if (!(err instanceof ConflictError)) this.log(`hob: idle policy for ${row.name}: ${(err as Error).message}`);
      }
    }
  }

  private boot(row: SandboxRow): Promise<LiveVm> {
    return this.launch(row, (spec) => LiveVm.boot(this.deps.driver, spec));
  }

  /** Starts a VM from the memory image in `memoryDir` and lets it run on (see LiveVm.resume). */
  private resume(row: SandboxRow, memoryDir: string): Promise<LiveVm> {
    return this.launch(row, (spec) => LiveVm.resume(this.deps.driver, spec, memoryDir));
  }

  /**
   * Sets up the sandbox's network, runs `start` on a clean run dir and registers the VM;
   * the network is removed again when the start fails.
   */
  private async launch(row: SandboxRow, start: (spec: VmSpec) => Promise<LiveVm>): Promise<LiveVm> {
    const spec = await this.vmSpec(row);
    let vm: LiveVm;
    try {
      await rm(spec.runDir, { recursive: true, force: true });
      vm = await start(spec);
    } catch (err) {
      await this.releaseNetwork(row.id);
      throw err;
    }
    this.live.set(row.id, vm);
    this.watchExit(row.id, vm);
    await this.publishPolicy(row, vm);
    return vm;
  }

  /** The VmSpec of a VM about to start, with its network set up (when hobd has networking). */
  private async vmSpec(row: SandboxRow): Promise<VmSpec> {
    return vmSpecFor(this.deps.pool, this.deps.config, row, await this.attachNetwork(row));
  }

  /** Creates (or re-attaches to) the sandbox's network with its slot and policy. */
  private async attachNetwork(row: SandboxRow): Promise<VmNet | undefined> {
    const network = this.deps.network;
    if (!network) return undefined;
    const slot = allocateNetSlot(this.deps.db, row.id, transitSlotCount(this.deps.config.network.transitRange));
    return network.setup(row.id, slot, networkPolicyOf(this.fresh(row)));
  }

  /** Removes the sandbox's network once its VMM is gone. Failures are logged: reconcile retries them. */
  private async releaseNetwork(id: string): Promise<void> {
    await this.deps.network?.teardown(id).catch((err: Error) => this.log(`hob: removing the network of ${id}: ${err.message}`));
  }

  /** Tells the guest its egress policy (read-only file). Best effort: the policy is enforced outside the guest anyway. */
  private async publishPolicy(row: SandboxRow, vm: LiveVm): Promise<void> {
    if (!this.deps.network) return;
    try {
      await publishPolicyToGuest(await vm.agent(), networkPolicyOf(this.fresh(row)));
    } catch (err) {
      this.log(`hob: writing the network policy into ${row.name}: ${(err as Error).message}`);
    }
  }

  /** Marks the sandbox stopped (with the reason) when its VMM exits without hob asking. */
  private watchExit(id: string, vm: LiveVm): void {
    void vm.handle.exited.then((exit) => {
      if (this.live.get(id) !== vm) return;
      this.live.delete(id);
      vm.detach();
      if (vm.expectingExit) return;
      // Queued before anything can start it again (SandboxNetwork orders calls per sandbox).
      void this.releaseNetwork(id);
      const row = getSandbox(this.deps.db, id);
      if (row) this.deps.sessions.endSandbox(row.name, 'the VM stopped');
      const how = exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
      try {
        // A guest that powers itself off ends up stopped, a VMM that dies in error.
        const clean = exit.code === 0;
        setSandboxState(this.deps.db, id, clean ? 'stopped' : 'error', { error: clean ? null : `the VMM exited unexpectedly (${how})` });
        appendEvent(this.deps.db, { sandboxId: id, type: 'vmm-exit', data: { code: exit.code, signal: exit.signal } });
      } catch (err) {
        if (!(err instanceof NotFoundError)) this.log(`hob: recording the exit of ${id}: ${(err as Error).message}`);
      }
    });
  }

  private async undoCreate(row: SandboxRow): Promise<void> {
    await this.destroy(row);
  }
}

function emit(progress: ProgressSink, type: 'info' | 'error' | 'complete', data: string): void {
  progress({ type, data, time: new Date().toISOString() });
}

function formatZodError(error: z.ZodError): string {
  return error.issues.map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message)).join('; ');
}

