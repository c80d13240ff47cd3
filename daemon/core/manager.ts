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
 *
 * It is the facade: it owns the locks, the live VMs and the in-flight starts
 * (SandboxContext) and delegates the work to its parts: launcher.ts (starting
 * VMs, their network), provisioning.ts (create from an image, destroy),
 * checkpointing.ts (checkpoint, restore, fork, diff), sleep.ts and
 * schedules.ts (sleep, the idle policy, automatic checkpoints).
 */
import type { AgentClient } from '../agent/index.js';
import { appendEvent, getSandbox, getSandboxByName, listSandboxes, setSandboxState, updateSandbox, type Sandbox as SandboxRow } from '../db/index.js';
import { BadRequestError, ConflictError, NotFoundError } from '../errors.js';
import { parsePolicy, type NetworkPolicy } from '../net/index.js';
import { lastBootTimeline } from './boot-timeline.js';
import { checkpointName, toCheckpointInfo } from './checkpoint-info.js';
import { CheckpointStore } from './checkpoint-store.js';
import { Checkpointing } from './checkpointing.js';
import { crashPoint } from './crash-point.js';
import { GuestApiRelay, type SandboxGuestApiHandler } from './guest-api.js';
import { GuestKeepAwake } from './guest-keep-awake.js';
import { GuestTasks } from './guest-tasks.js';
import { checkHealth, type SandboxHealth } from './health.js';
import { IdleTracker } from './idle.js';
import { CheckpointInputSchema, CreateInputSchema, configWithPatch, formatZodError, parseGuestPath } from './input-schemas.js';
import { VmLauncher } from './launcher.js';
import type { LiveVm } from './live-vm.js';
import { KeyedLock } from './lock.js';
import { SandboxNameSchema } from './names.js';
import { emit } from './progress.js';
import { SandboxProvisioning } from './provisioning.js';
import { SpareSandboxes } from './spares.js';
import { defaultSize, resize, type ResizeInput } from './resources.js';
import { networkPolicyOf, toSandbox } from './row-config.js';
import { freshRow, type ManagerDeps, type SandboxContext } from './sandbox-context.js';
import { Schedules } from './schedules.js';
import { SandboxSleep } from './sleep.js';
import type {
  CheckpointInfo,
  CheckpointInput,
  CreateSandboxInput,
  DiffInput,
  DiffResult,
  ForkInput,
  ProgressSink,
  Sandbox,
  SandboxService,
  UpdateSandboxInput,
} from './types.js';
import type { VmNet } from './vm-spec.js';

export type { ManagerDeps } from './sandbox-context.js';

/** A live VM as the stats sampler sees it. */
export interface LiveProcess {
  readonly id: string;
  /** The VMM's pid on the host. */
  readonly pid: number;
  /** The agent, if connected now. */
  readonly agent: AgentClient | undefined;
}
export { MIN_FREE_FOR_CREATE_BYTES } from './free-space.js';

/** How long a guest gets to power off cleanly before its VMM is killed. */
const STOP_GRACE_MS = 15_000;
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
  private readonly idle = new IdleTracker();
  private readonly launcher: VmLauncher;
  private readonly provisioning: SandboxProvisioning;
  /** Spare sandboxes of the warm templates (spares.ts); absent without templates. */
  readonly spares: SpareSandboxes | undefined;
  private readonly checkpointing: Checkpointing;
  private readonly sleeping: SandboxSleep;
  private readonly schedules: Schedules;
  private readonly guestApi: GuestApiRelay;
  /** Sprites' tasks asked for inside guests, folded into each sandbox's keep-awake hold. */
  readonly guestTasks: GuestTasks;
  private readonly ctx: SandboxContext;

  constructor(private readonly deps: ManagerDeps) {
    this.log = deps.log ?? ((m) => console.error(m));
    this.checkpoints = new CheckpointStore(deps.db, deps.volumes);
    const ctx: SandboxContext = { deps, log: this.log, locks: this.locks, live: this.live, booting: this.booting, idle: this.idle, checkpoints: this.checkpoints };
    this.ctx = ctx;
    this.launcher = new VmLauncher(ctx);
    this.spares = deps.templates ? new SpareSandboxes(ctx, this.launcher, deps.templates, (row) => this.provisioning.destroy(row)) : undefined;
    this.provisioning = new SandboxProvisioning(ctx, this.launcher, this.spares);
    this.checkpointing = new Checkpointing(ctx, this.launcher, (row) => this.provisioning.destroy(row));
    // Keep-awake holds taken inside guests become the sandbox's hold.
    const guestKeepAwake = new GuestKeepAwake((name, seconds) => this.keepAwake(name, seconds), (m) => this.log(m));
    // The API inside guests (/.sprite/api.sock), relayed by their agents.
    this.guestApi = new GuestApiRelay((id) => this.idle.touch(id), (m) => this.log(m));
    this.guestTasks = new GuestTasks((name, seconds) => this.keepAwake(name, seconds));
    this.sleeping = new SandboxSleep(ctx, this.launcher, guestKeepAwake, this.guestApi);
    this.schedules = new Schedules(ctx, this.sleeping, this.checkpointing);
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
    const row = this.row(name);
    const lastBoot = lastBootTimeline(this.deps.db, row.id);
    return { ...toSandbox(row), ...(lastBoot ? { lastBoot } : {}) };
  }

  async create(input: CreateSandboxInput, progress: ProgressSink = () => {}): Promise<Sandbox> {
    const parsed = CreateInputSchema.safeParse(input);
    if (!parsed.success) throw new BadRequestError(formatZodError(parsed.error));
    const req = parsed.data;
    if (req.secrets?.length) {
      if (!this.deps.secrets) throw new BadRequestError('this hobd has no secrets (it runs without networking)');
      this.deps.secrets.checkGrantable(req.secrets);
    }
    if (req.from) {
      if (req.image) throw new BadRequestError('give either an image or a checkpoint to start from, not both');
      const source = this.row(req.from.sandbox);
      const cp = this.checkpoints.find(source, req.from.checkpoint);
      const { from: _from, image: _image, secrets: grants, ...rest } = req;
      const forked = await this.checkpointing.fork(source, cp, rest, progress);
      // A fork inherits no grant (docs/architecture.md §11); the ones asked for are given to the running fork.
      for (const g of grants ?? []) await this.deps.secrets?.grant(forked.name, g);
      return forked;
    }
    const { from: _from, image, ...settings } = req;
    return this.provisioning.createFromImage(settings, image, progress);
  }

  async update(name: string, patch: UpdateSandboxInput): Promise<Sandbox> {
    const row = this.row(name);
    const labels = patch.labels ? [...patch.labels] : undefined;
    const config = configWithPatch(row.config, patch);
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
      await this.launcher.releaseNetwork(row.id);
      // A hibernated sandbox's memory image is dropped: stopped means no memory state.
      await this.deps.volumes.memory(row.id).remove();
      if (current.state === 'stopped') return toSandbox(current);
      return toSandbox(setSandboxState(this.deps.db, row.id, 'stopped'));
    });
  }

  async remove(name: string): Promise<void> {
    const row = this.row(name);
    await this.locks.run(row.id, 'remove', async () => {
      setSandboxState(this.deps.db, row.id, 'destroying');
      crashPoint('rm.destroying');
      this.guestTasks.forget(row.id);
      await this.destroy(row);
    });
  }

  async check(name: string): Promise<SandboxHealth> {
    const row = this.row(name);
    return checkHealth(this.fresh(row), this.live.get(row.id));
  }

  async restart(name: string, progress: ProgressSink = () => {}): Promise<Sandbox> {
    await this.stop(name);
    return this.start(name, progress);
  }

  async resize(name: string, input: ResizeInput | 'defaults'): Promise<Sandbox> {
    const row = this.row(name);
    return this.locks.run(row.id, 'resize', async () => resize(this.ctx, this.fresh(row), input === 'defaults' ? defaultSize(this.ctx) : input));
  }

  async agent(name: string): Promise<AgentClient> {
    const row = this.row(name);
    this.idle.touch(row.id);
    const vm = await this.ensureRunning(row, () => {});
    return vm.agent();
  }

  /** Answers the requests guests make to their own API (/.sprite/api.sock) with `handler`. */
  serveGuestApi(handler: SandboxGuestApiHandler): void {
    this.guestApi.serve(handler);
  }

  /** The name of the sandbox with id `id`, if it exists (for requests known by their connection). */
  nameOf(id: string): string | undefined {
    return getSandbox(this.deps.db, id)?.name;
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
      await this.sleeping.pause(current, vm);
      if (opts.hibernate) await this.sleeping.hibernate(current, vm);
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

  /** The agent of a sandbox whose VM runs (not paused, not starting), for pushing a change to it; else undefined. */
  async runningAgent(id: string): Promise<AgentClient | undefined> {
    const vm = this.live.get(id);
    const row = getSandbox(this.deps.db, id);
    if (!vm || row?.state !== 'running') return undefined;
    return vm.agent();
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
      if (vm && updated.state === 'running') await this.launcher.publishPolicy(updated, vm);
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
      const cp = await this.checkpointing.take(this.fresh(row), { comment: parsed.data.comment ?? '', auto: false, memory: parsed.data.memory ?? false }, progress);
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
    return this.locks.run(row.id, 'restore', async () => {
      await this.checkpointing.restore(this.fresh(row), cp, progress);
      return this.get(name);
    });
  }

  async fork(source: string, input: ForkInput, progress: ProgressSink = () => {}): Promise<Sandbox> {
    const name = SandboxNameSchema.safeParse(input.name);
    if (!name.success) throw new BadRequestError(`name: ${formatZodError(name.error)}`);
    const src = this.row(source);
    const cp = input.from === undefined ? undefined : this.checkpoints.find(src, input.from);
    return this.checkpointing.fork(src, cp, { name: name.data }, progress);
  }

  async diff(name: string, input: DiffInput): Promise<DiffResult> {
    const path = input.path === undefined ? undefined : parseGuestPath(input.path);
    return this.checkpointing.diff(this.row(name), input, path);
  }

  async fileDiff(name: string, input: DiffInput & { readonly path: string }): Promise<string> {
    const path = parseGuestPath(input.path);
    return this.checkpointing.fileDiff(this.row(name), input, path);
  }

  /** Starts the automatic-checkpoint schedule and the idle policy (hobd calls it once it is up). */
  startSchedules(): void {
    this.schedules.start();
  }

  stopSchedules(): void {
    this.schedules.stop();
  }

  /** Closes agent connections and forgets VMs without stopping them: they keep running and are adopted at the next start. */
  detachAll(): void {
    const vms = [...this.live.values()];
    this.live.clear();
    for (const vm of vms) vm.release();
  }

  /**
   * The VMM process and (when connected) the agent of every live VM, for the stats
   * sampler (core/stats.ts): read without the sandbox lock, never connecting or waking.
   */
  liveProcesses(): LiveProcess[] {
    return [...this.live].map(([id, vm]) => ({ id, pid: vm.handle.pid, agent: vm.connectedAgent }));
  }

  // ---------------------------------------------------------------- used by reconcile

  /** @internal After adopting VMs at start-up: see VmLauncher.reconcileNetworks. */
  reconcileNetworks(): Promise<string[]> {
    return this.launcher.reconcileNetworks();
  }

  /** @internal The network part of the VmSpec of a VM to adopt at start-up: see VmLauncher.adoptedNet. */
  adoptedNet(id: string): VmNet | undefined {
    return this.launcher.adoptedNet(id);
  }

  /** @internal Registers a VM adopted at start-up. */
  adopt(id: string, vm: LiveVm): void {
    this.launcher.adopt(id, vm);
  }

  /** @internal Removes every trace of a sandbox (VM, run dir, volumes, checkpoints, row). Idempotent. */
  destroy(row: SandboxRow): Promise<void> {
    return this.provisioning.destroy(row);
  }

  // ---------------------------------------------------------------- internals

  private row(name: string): SandboxRow {
    if (!SandboxNameSchema.safeParse(name).success) throw new NotFoundError(`no sandbox named "${name}"`);
    const row = getSandboxByName(this.deps.db, name);
    if (!row) throw new NotFoundError(`no sandbox named "${name}"`);
    return row;
  }

  /** The row as the database has it now (a caller's copy may predate the lock). */
  private fresh(row: SandboxRow): SandboxRow {
    return freshRow(this.deps.db, row);
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
      const start = this.locks.run(row.id, 'start', () => this.launcher.start(current, progress));
      this.booting.set(row.id, start);
      try {
        return await start;
      } finally {
        this.booting.delete(row.id);
        this.idle.touch(row.id);
      }
    }
  }
}
