/**
 * A sandbox coming into being from an image, and going out of it
 * (docs/architecture.md §7): the row is written first, in state `creating`,
 * so that reconcile undoes a create hobd did not finish; destroying removes
 * every trace (VM, network, volumes, run dir, row) and is what undoes a
 * failed create or fork. Creating from a checkpoint is a fork (checkpointing.ts).
 */
import { rm } from 'node:fs/promises';
import { appendEvent, deleteSandbox, insertSandbox, setSandboxState, type Sandbox as SandboxRow } from '../db/index.js';
import { BadRequestError } from '../errors.js';
import { crashPoint } from './crash-point.js';
import { requireCreateSpace } from './free-space.js';
import { imageExists, requireImageRunsHere } from './images.js';
import type { NewSandboxSettings } from './input-schemas.js';
import type { VmLauncher } from './launcher.js';
import type { LiveVm } from './live-vm.js';
import { emit } from './progress.js';
import { toSandbox } from './row-config.js';
import type { SandboxContext } from './sandbox-context.js';
import type { SpareSandboxes } from './spares.js';
import { resumeFromTemplate } from './template-create.js';
import type { Templates } from './templates.js';
import type { ProgressSink, Sandbox } from './types.js';
import { vmRunDir } from './vm-spec.js';

const GiB = 1024 ** 3;

export class SandboxProvisioning {
  constructor(
    private readonly ctx: SandboxContext,
    private readonly launcher: VmLauncher,
    /** Spare sandboxes (spares.ts): a create takes one over before anything else. Absent: no templates. */
    private readonly spares?: SpareSandboxes | undefined,
  ) {}

  /**
   * A new sandbox with a disk made from `image` (default: the configured one), booted.
   * Takes the new sandbox's lock. @throws BadRequestError (no such image), PoolFullError, ConflictError (name taken).
   */
  async createFromImage(req: NewSandboxSettings, image: string | undefined, progress: ProgressSink): Promise<Sandbox> {
    const { db, volumes, config, driver, images, templates } = this.ctx.deps;
    const defaults = config.sandboxDefaults;
    const imageName = image ?? defaults.image;
    if (!(await imageExists(images, imageName))) {
      throw new BadRequestError(`there is no image named "${imageName}" (build one with: hob images build ${imageName === 'minimal' ? '--variant minimal ' : ''}${imageName})`);
    }
    await requireImageRunsHere(images, config, driver.kind, imageName);
    await requireCreateSpace(volumes);
    const cpus = req.cpus ?? defaults.cpus;
    const memoryMiB = req.memoryMiB ?? defaults.memoryMiB;
    const diskBytes = req.diskBytes ?? defaults.diskGiB * GiB;
    const urlAuth = req.urlAuth ?? 'private';
    const labels = [...(req.labels ?? [])];
    const environment = req.environment ?? {};
    if (this.spares && !req.cold) {
      const claim = { name: req.name, urlAuth, labels, environment, diskBytes };
      const claimed = await this.spares.claim(imageName, { cpus, memoryMiB, diskBytes }, claim, req.secrets ?? [], progress);
      if (claimed) {
        emit(progress, 'complete', `Sandbox ${claimed.name} is running`);
        return toSandbox(claimed);
      }
    }
    // The row comes first, in state `creating`: if hobd dies from here on, reconcile undoes the rest.
    const row = insertSandbox(db, {
      name: req.name,
      state: 'creating',
      image: imageName,
      cpus,
      memoryMiB,
      diskBytes,
      vmm: driver.kind,
      urlAuth,
      labels,
      environment,
    });
    return this.ctx.locks.run(row.id, 'create', async () => {
      try {
        // Before the VM runs, warm or cold: the launcher gives the guest its secrets configuration
        // (placeholders, CA) as part of every boot and resume.
        if (req.secrets?.length) this.ctx.deps.secrets?.grantAll(row.id, req.secrets);
        const warm = templates && !req.cold ? await this.fromTemplate(templates, row, progress) : undefined;
        if (warm) {
          const running = setSandboxState(db, row.id, 'running', { error: null });
          appendEvent(db, { sandboxId: row.id, type: 'create', data: { image: imageName, from: 'template', reseed: warm.reseedMethod ?? null } });
          emit(progress, 'complete', `Sandbox ${row.name} is running`);
          return toSandbox(running);
        }
        emit(progress, 'info', `Creating disk from image ${imageName}...`);
        await volumes.createFromImage(row.id, imageName, row.diskBytes);
        crashPoint('create.disk');
        emit(progress, 'info', `Booting VM (${row.cpus} vCPU, ${row.memoryMiB} MiB, ${driver.kind})...`);
        await this.launcher.boot(row);
        crashPoint('create.booted');
        const running = setSandboxState(db, row.id, 'running', { error: null });
        appendEvent(db, { sandboxId: row.id, type: 'create', data: { image: imageName, from: 'image' } });
        emit(progress, 'complete', `Sandbox ${row.name} is running`);
        return toSandbox(running);
      } catch (err) {
        emit(progress, 'error', (err as Error).message);
        await this.destroy(row).catch((cleanupErr: Error) => this.ctx.log(`hob: cleanup after failed create of ${row.name}: ${cleanupErr.message}`));
        throw err;
      }
    });
  }

  /**
   * Tries the warm template of the row's image (docs/architecture.md §17). Returns undefined, with
   * the reason in the progress (and an event when a template failed), when the create must boot.
   */
  private async fromTemplate(templates: Templates, row: SandboxRow, progress: ProgressSink): Promise<LiveVm | undefined> {
    const pick = await templates.pick(row.image, { cpus: row.cpus, memoryMiB: row.memoryMiB, diskBytes: row.diskBytes });
    if (!pick.use) {
      if (templates.enabled) emit(progress, 'info', `No warm start: ${pick.reason}`);
      return undefined;
    }
    try {
      return await resumeFromTemplate(this.ctx, this.launcher, templates, row, pick.meta, progress);
    } catch (err) {
      const message = (err as Error).message;
      this.ctx.log(`hob: creating ${row.name} from the template of ${row.image} failed (${message}); booting it instead`);
      appendEvent(this.ctx.deps.db, { sandboxId: row.id, type: 'template-fallback', data: { image: row.image, error: message.slice(0, 2000) } });
      emit(progress, 'info', `The warm template could not be used (${message.split('\n')[0]?.slice(0, 300)}): booting instead...`);
      await templates.discard(row.image, message);
      return undefined;
    }
  }

  /** Removes every trace of a sandbox (VM, run dir, volumes, checkpoints, row). Idempotent. */
  async destroy(row: SandboxRow): Promise<void> {
    const { volumes, config, db, sessions } = this.ctx.deps;
    sessions.removeSandbox(row.name, 'the sandbox was removed');
    const vm = this.ctx.live.get(row.id);
    if (vm) {
      await vm.kill();
      this.ctx.live.delete(row.id);
    }
    crashPoint('rm.vm-killed');
    await this.launcher.releaseNetwork(row.id);
    await volumes.trashSandbox(row.id);
    await rm(vmRunDir(config, row.id), { recursive: true, force: true });
    deleteSandbox(db, row.id);
    await this.ctx.deps.secrets?.forget(row.id).catch((err: Error) => this.ctx.log(`hob: removing the secret proxy CA of ${row.name}: ${err.message}`));
  }
}
