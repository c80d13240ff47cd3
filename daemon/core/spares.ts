/**
 * Spare sandboxes (docs/architecture.md §31). For each image whose warm template is current,
 * hob keeps one sandbox resumed from the template ahead of any create, paused. The next
 * create of the template's shape takes it over: the row gets the create's name and settings,
 * the VM continues, the guest gets the clock and its own identity (and a larger disk when
 * asked). Starting a VMM and resuming memory, and under TCG translating the guest's code
 * anew, were done before anyone asked; then a new spare is made in the background.
 *
 * A spare is a row with `spare` set: no list, lookup by name or event listing shows it
 * (db/sandboxes.ts), so the idle policy, the schedules and stats never see it. Its random
 * state is its own (the resume reseeded it from the host), so a claim needs no reseed.
 * A spare whose template changed or went is removed; reconcile removes every spare at
 * start-up (an older hobd's may be of another template).
 */
import { appendEvent, claimSpare, deleteSandbox, getSandbox, insertSandbox, newId, setSandboxState, type Sandbox as SandboxRow, type SpareClaim } from '../db/index.js';
import { ConflictError } from '../errors.js';
import { crashPoint } from './crash-point.js';
import { CLOCK_DEADLINE_MS, withDeadline } from './deadline.js';
import type { VmLauncher } from './launcher.js';
import type { LiveVm } from './live-vm.js';
import { emit } from './progress.js';
import type { SandboxContext } from './sandbox-context.js';
import type { GrantRequest } from './secrets.js';
import { makeItsOwn, resumeTemplateCopy, undoTemplateCopy } from './template-create.js';
import type { TemplateInfo, TemplateMeta, Templates, TemplateShape, TemplateSpares } from './templates.js';
import type { ProgressSink } from './types.js';

interface Spare {
  readonly id: string;
  /** The key of the template it was resumed from (templates.ts): a spare of another key is stale. */
  readonly key: string;
  /** Its template's files when it was made (Templates.stamp): a template rebuilt or changed since makes it stale. */
  readonly stamp: string;
}

export class SpareSandboxes implements TemplateSpares {
  /** Ready spares by image. */
  private readonly ready = new Map<string, Spare>();
  /** Images whose spare is being made. */
  private readonly making = new Map<string, Promise<void>>();

  constructor(
    private readonly ctx: SandboxContext,
    private readonly launcher: VmLauncher,
    private readonly templates: Templates,
    private readonly destroy: (row: SandboxRow) => Promise<void>,
  ) {
    templates.attachSpares(this);
  }

  get enabled(): boolean {
    return this.templates.enabled && this.ctx.deps.config.templates.spares;
  }

  /** What `hob templates ls` shows of `image`'s spare. */
  state(image: string): TemplateInfo['spare'] {
    return this.ready.has(image) ? 'ready' : this.making.has(image) ? 'preparing' : 'none';
  }

  /**
   * `image`'s template may have changed: a spare of another template goes, and a new one is
   * made if the template serves creates and there is none. Returns at once.
   */
  refresh(image: string): void {
    const spare = this.ready.get(image);
    void (async () => {
      if (spare && !(await this.isCurrent(image, spare))) {
        this.ready.delete(image);
        await this.remove(spare.id);
      }
      this.replenish(image);
    })();
  }

  /**
   * Takes `image`'s spare over for a create of `shape` and continues its VM, the row's lock
   * held; returns the row, now `running`, with a `create` event. Undefined (with the reason in the progress when there was a spare) when no spare
   * can serve it: the create then goes on as before, and the spare that failed is gone.
   * @throws ConflictError when `claim.name` is taken (the spare stays a spare).
   */
  async claim(image: string, shape: TemplateShape, claim: SpareClaim, grants: readonly GrantRequest[], progress: ProgressSink): Promise<SandboxRow | undefined> {
    const spare = this.ready.get(image);
    if (!spare) return undefined;
    const pick = await this.templates.pick(image, shape, { build: false });
    // Another shape: the spare waits for a create of its own.
    if (!pick.use) return undefined;
    if (!(await this.isOf(image, pick.meta, spare))) {
      this.refresh(image);
      return undefined;
    }
    if (this.ready.get(image) !== spare) return undefined;
    if (!this.ctx.live.has(spare.id)) {
      // Its VMM died while it waited (launcher.ts marked the row): not worth a claim.
      this.ready.delete(image);
      void this.remove(spare.id).then(() => this.replenish(image));
      return undefined;
    }
    this.ready.delete(image);
    let row: SandboxRow;
    try {
      row = claimSpare(this.ctx.deps.db, spare.id, claim);
    } catch (err) {
      if (err instanceof ConflictError) this.ready.set(image, spare);
      else void this.remove(spare.id);
      throw err;
    }
    try {
      return await this.ctx.locks.run(row.id, 'create', async () => {
        crashPoint('create.spare-claimed');
        try {
          return await this.continueClaimed(row, pick.meta, grants, progress);
        } catch (err) {
          const message = (err as Error).message;
          this.ctx.log(`hob: the spare sandbox for ${row.name} could not be used (${message}); going on without it`);
          emit(progress, 'info', `The spare sandbox could not be used (${message.split('\n')[0]?.slice(0, 300)}): going on without it...`);
          await this.destroy(row).catch((e: Error) => this.ctx.log(`hob: removing the spare sandbox ${row.id}: ${e.message}`));
          return undefined;
        }
      });
    } finally {
      // After the claim, not during it: making the next spare competes for the same cores.
      this.replenish(image);
    }
  }

  /** The rest of the claim (lock held): the VM continues, then the clock, the identity, the disk, the secrets; the row is `running`. */
  private async continueClaimed(row: SandboxRow, meta: TemplateMeta, grants: readonly GrantRequest[], progress: ProgressSink): Promise<SandboxRow> {
    const vm = this.ctx.live.get(row.id);
    if (!vm) throw new Error('its VM is gone');
    emit(progress, 'info', `Continuing a spare sandbox resumed from the warm template of image ${meta.image}...`);
    await vm.handle.resume();
    const agent = await vm.agent();
    await withDeadline(agent.setClock(Date.now()), CLOCK_DEADLINE_MS, 'the guest agent (clock.set)');
    await makeItsOwn(this.ctx, vm, row, meta, progress);
    if (grants.length > 0 && this.ctx.deps.secrets) {
      this.ctx.deps.secrets.grantAll(row.id, grants);
      await this.launcher.configureSecrets(row, vm);
    }
    const running = setSandboxState(this.ctx.deps.db, row.id, 'running', { error: null });
    appendEvent(this.ctx.deps.db, { sandboxId: row.id, type: 'create', data: { image: meta.image, from: 'template', spare: true, reseed: vm.reseedMethod ?? null } });
    return running;
  }

  private replenish(image: string): void {
    if (!this.enabled || this.making.has(image) || this.ready.has(image)) return;
    const made = this.make(image)
      .catch((err: Error) => this.ctx.log(`hob: making a spare sandbox of ${image}: ${err.message}`))
      .finally(() => this.making.delete(image));
    this.making.set(image, made);
  }

  /** Resumes a new spare from `image`'s template and pauses it. */
  private async make(image: string): Promise<void> {
    const pick = await this.templates.pick(image, this.templates.defaultShape(), { build: false });
    if (!pick.use) return;
    const { meta } = pick;
    const stamp = await this.templates.stamp(image);
    if (stamp === null) return;
    const { db, driver } = this.ctx.deps;
    const id = newId();
    const row = insertSandbox(db, {
      id, name: `spare-${id}`, spare: true, state: 'creating', image,
      cpus: meta.cpus, memoryMiB: meta.memoryMiB, diskBytes: meta.diskBytes, vmm: driver.kind,
      urlAuth: 'private', labels: [], environment: {},
    });
    await this.ctx.locks.run(row.id, 'spare', async () => {
      let vm: LiveVm | undefined;
      try {
        vm = await resumeTemplateCopy(this.ctx, this.launcher, this.templates, row, meta, () => undefined);
        await vm.handle.pause();
        setSandboxState(db, row.id, 'paused');
      } catch (err) {
        await undoTemplateCopy(this.ctx, this.launcher, row, vm);
        deleteSandbox(db, row.id);
        throw err;
      }
    });
    const spare = { id: row.id, key: meta.key, stamp };
    // The template may have changed while this spare was made (its refresh found none ready).
    if (!(await this.isCurrent(image, spare))) return this.remove(row.id);
    this.ready.set(image, spare);
    this.ctx.log(`hob: spare sandbox of ${image} ready`);
  }

  private async isCurrent(image: string, spare: Spare): Promise<boolean> {
    const pick = await this.templates.pick(image, this.templates.defaultShape(), { build: false });
    return pick.use && (await this.isOf(image, pick.meta, spare));
  }

  /** Whether `spare` was made from the template `meta` describes, with its files as they are now. */
  private async isOf(image: string, meta: TemplateMeta, spare: Spare): Promise<boolean> {
    return meta.key === spare.key && (await this.templates.stamp(image)) === spare.stamp;
  }

  /** Removes one spare (its row may be gone already). Never throws. */
  private async remove(id: string): Promise<void> {
    await this.ctx.locks.run(id, 'remove spare', async () => {
      const row = getSandbox(this.ctx.deps.db, id);
      if (row?.spare) await this.destroy(row);
    }).catch((err: Error) => this.ctx.log(`hob: removing the spare sandbox ${id}: ${err.message}`));
  }
}
