/**
 * The sandbox manager: owns the lifecycle of every sandbox (design section 7).
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
import { rm, truncate } from 'node:fs/promises';
import { z } from 'zod';
import type { AgentClient } from '../agent/index.js';
import type { HobConfig } from '../config.js';
import {
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
import type { Pool } from '../storage/index.js';
import type { VmmDriver } from '../vmm/types.js';
import { imageExists } from './images.js';
import { DISK_FILE, IMAGE_FILES, sandboxPaths, vmSpecFor } from './layout.js';
import { LiveVm } from './live-vm.js';
import { KeyedLock } from './lock.js';
import { ImageNameSchema, SandboxNameSchema } from './names.js';
import type { SessionRegistry } from './sessions.js';
import { toSandbox } from './present.js';
import type { CreateSandboxInput, ProgressSink, Sandbox, SandboxService, UpdateSandboxInput } from './types.js';

export interface ManagerDeps {
  readonly db: HobDb;
  readonly pool: Pool;
  readonly driver: VmmDriver;
  readonly config: HobConfig;
  /** Exec sessions: ended when their sandbox stops or goes away. */
  readonly sessions: SessionRegistry;
  /** Diagnostics; default console.error. */
  readonly log?: (message: string) => void;
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
});

export class SandboxManager implements SandboxService {
  private readonly locks = new KeyedLock();
  /** Running sandboxes by id. */
  private readonly live = new Map<string, LiveVm>();
  /** In-flight boots by id, shared by concurrent callers. */
  private readonly booting = new Map<string, Promise<LiveVm>>();
  private readonly log: (message: string) => void;

  constructor(private readonly deps: ManagerDeps) {
    this.log = deps.log ?? ((m) => console.error(m));
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
    const { db, pool, config, driver } = this.deps;
    const defaults = config.sandboxDefaults;
    const image = req.image ?? defaults.image;
    if (!(await imageExists(pool, image))) {
      throw new BadRequestError(`there is no image named "${image}" (build one with: hob images build ${image === 'minimal' ? '--variant minimal ' : ''}${image})`);
    }
    const { freeBytes } = await pool.usage();
    if (freeBytes < MIN_FREE_FOR_CREATE_BYTES) {
      throw new PoolFullError(`the pool has ${Math.floor(freeBytes / 1024 ** 2)} MiB free; a new sandbox needs at least ${MIN_FREE_FOR_CREATE_BYTES / 1024 ** 2} MiB (remove sandboxes, checkpoints or images, or grow the pool)`);
    }
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
        emit(progress, 'info', `Booting VM (${row.cpus} vCPU, ${row.memoryMiB} MiB, ${driver.kind})...`);
        await this.boot(row);
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
    return toSandbox(updateSandbox(this.deps.db, row.id, {
      ...(labels ? { labels } : {}),
      ...(patch.urlAuth ? { urlAuth: patch.urlAuth } : {}),
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
      this.deps.sessions.endSandbox(row.name, 'the sandbox is stopping');
      if (vm) {
        await vm.stop(STOP_GRACE_MS);
        this.live.delete(row.id);
      }
      if (row.state === 'stopped') return toSandbox(row);
      return toSandbox(setSandboxState(this.deps.db, row.id, 'stopped'));
    });
  }

  async remove(name: string): Promise<void> {
    const row = this.row(name);
    await this.locks.run(row.id, 'remove', async () => {
      setSandboxState(this.deps.db, row.id, 'destroying');
      await this.destroy(row);
    });
  }

  async agent(name: string): Promise<AgentClient> {
    const row = this.row(name);
    const vm = this.live.get(row.id) ?? (await this.ensureRunning(row, () => {}));
    return vm.agent();
  }

  /** Closes agent connections and forgets VMs without stopping them: they keep running and are adopted at the next start. */
  detachAll(): void {
    const vms = [...this.live.values()];
    this.live.clear();
    for (const vm of vms) vm.release();
  }

  // ---------------------------------------------------------------- used by reconcile

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
    await pool.trash(pool.sandboxPath(row.id));
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

  /** Boots a sandbox that is stopped or errored, or joins a boot in progress. */
  private async ensureRunning(row: SandboxRow, progress: ProgressSink): Promise<LiveVm> {
    const live = this.live.get(row.id);
    if (live) return live;
    const inFlight = this.booting.get(row.id);
    if (inFlight) return inFlight;
    if (row.state === 'creating' || row.state === 'destroying') {
      throw new ConflictError(`sandbox ${row.name} is ${row.state}`);
    }
    const boot = this.locks.run(row.id, 'start', async () => {
      emit(progress, 'info', `Booting VM (${row.cpus} vCPU, ${row.memoryMiB} MiB, ${this.deps.driver.kind})...`);
      try {
        const vm = await this.boot(row);
        setSandboxState(this.deps.db, row.id, 'running', { error: null });
        emit(progress, 'complete', `Sandbox ${row.name} is running`);
        return vm;
      } catch (err) {
        setSandboxState(this.deps.db, row.id, 'error', { error: `boot failed: ${(err as Error).message}` });
        emit(progress, 'error', (err as Error).message);
        throw err;
      }
    });
    this.booting.set(row.id, boot);
    try {
      return await boot;
    } finally {
      this.booting.delete(row.id);
    }
  }

  private async boot(row: SandboxRow): Promise<LiveVm> {
    const spec = vmSpecFor(this.deps.pool, this.deps.config, row);
    await rm(spec.runDir, { recursive: true, force: true });
    const vm = await LiveVm.boot(this.deps.driver, spec);
    this.live.set(row.id, vm);
    this.watchExit(row.id, vm);
    return vm;
  }

  /** Marks the sandbox stopped (with the reason) when its VMM exits without hob asking. */
  private watchExit(id: string, vm: LiveVm): void {
    void vm.handle.exited.then((exit) => {
      if (this.live.get(id) !== vm) return;
      this.live.delete(id);
      vm.detach();
      if (vm.expectingExit) return;
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

