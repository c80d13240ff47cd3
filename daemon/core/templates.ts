/**
 * Warm templates (docs/architecture.md §17): for each image, a VM of the default shape booted
 * once, its agent up, kept as disk + memory (storage/template-volumes.ts), so that a create
 * resumes a copy of it instead of booting (core/template-create.ts). This module builds them
 * in the background (one at a time), says whether one may serve a create, lists and removes
 * them. A template records a key: the image's content, the VMM and its version, the network
 * device and the shape. Anything that changes it makes the template stale: never used,
 * rebuilt. Builds are crash safe: they happen in a staging volume that only a complete build
 * renames into place; a VMM, namespace or staging volume left by a crash is removed at the
 * next start (reconcile kills orphan VMMs and networks, `start` the staging volumes).
 */
import { createHash, randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import * as z from 'zod';
import type { HobConfig } from '../config.js';
import { appendEvent, type HobDb } from '../db/index.js';
import { NotFoundError } from '../errors.js';
import { UNRESTRICTED_POLICY } from '../net/index.js';
import type { ImageVolumes, TemplateVolumes } from '../storage/index.js';
import type { VmmDriver, VmmKind, VmSpec } from '../vmm/types.js';
import { crashPoint } from './crash-point.js';
import { machineIdFor } from './identity.js';
import { requireImageRunsHere } from './images.js';
import { LiveVm, reseedGuestRandom } from './live-vm.js';
import { ImageNameSchema } from './names.js';
import type { SandboxNetworking } from './network.js';
import { warmUpTemplateAgent } from './template-warmup.js';
import { vmRunDir } from './vm-spec.js';

/** Format of template.json and of the key; bump it when what a template holds changes. */
const TEMPLATE_FORMAT = 2;
const GiB = 1024 ** 3;
/** A failed build is retried by a create no sooner than this. */
const RETRY_AFTER_MS = 10 * 60_000;

export const TemplateMetaSchema = z.object({
  format: z.literal(TEMPLATE_FORMAT),
  image: z.string(),
  key: z.string(),
  vmm: z.enum(['qemu', 'cloud-hypervisor']),
  vmmVersion: z.string(),
  cpus: z.number().int().positive(),
  memoryMiB: z.number().int().positive(),
  diskBytes: z.number().int().positive(),
  /** Its memory: a file a create maps (read as the guest touches it), or a stream read whole (docs/architecture.md §26). */
  memory: z.enum(['mapped', 'stream']),
  builtAt: z.string(),
  /** How long the template VM took from VMM start to its agent's answer. */
  bootMs: z.number().nonnegative(),
  /** The network policy file its guest holds (template-warmup.ts); a clone with the same policy does not write it again. */
  guestPolicyFile: z.string().max(1024 * 1024).optional(),
});
export type TemplateMeta = z.infer<typeof TemplateMetaSchema>;

/** The VM shape a template is built for, and a create asks for. */
export interface TemplateShape {
  readonly cpus: number;
  readonly memoryMiB: number;
  readonly diskBytes: number;
}

export type TemplateState = 'ready' | 'stale' | 'building' | 'failed' | 'broken';

export interface TemplateInfo {
  readonly image: string;
  /** ready: serves creates of its shape; stale: its key no longer matches (rebuilt when enabled); building; failed: the last build failed; broken: unreadable. */
  readonly state: TemplateState;
  readonly cpus: number | null;
  readonly memoryMiB: number | null;
  readonly diskBytes: number | null;
  readonly builtAt: string | null;
  /** How its memory is kept (docs/architecture.md §26), and how long its VM took to boot. */
  readonly memory: 'mapped' | 'stream' | null;
  readonly bootMs: number | null;
  /** While building: the current step. After a failure: the error. */
  readonly detail: string | null;
  /** Its spare sandbox (spares.ts). */
  readonly spare: 'ready' | 'preparing' | 'none';
}

/** What templates need of their spares (spares.ts). */
export interface TemplateSpares {
  /** `image`'s template may have changed: found current or built by `ensure`, removed, discarded. */
  refresh(image: string): void;
  /** Its spare's state, for `list`. */
  state(image: string): TemplateInfo['spare'];
}

/** Whether a create may resume the template; if not, why (said in the create's progress). */
export type TemplatePick =
  | { readonly use: true; readonly image: string; readonly meta: TemplateMeta }
  | { readonly use: false; readonly reason: string };

export interface TemplateDeps {
  readonly db: HobDb;
  readonly templates: TemplateVolumes;
  readonly images: ImageVolumes;
  readonly driver: VmmDriver;
  readonly config: HobConfig;
  readonly network?: SandboxNetworking | undefined;
  readonly log: (message: string) => void;
}

/** What the API uses of templates (`/v1/templates`, the images list). */
export type TemplateService = Pick<Templates, 'list' | 'remove' | 'ensure'>;

export class Templates {
  /** Images whose build runs or waits, with its current step. */
  private readonly building = new Map<string, string>();
  /** The last failed build per image. */
  private readonly failed = new Map<string, { message: string; at: number }>();
  /** Builds run one after the other (each boots a VM). */
  private queue: Promise<void> = Promise.resolve();
  /** Bumped by remove(): a build that started before does not commit. */
  private readonly generation = new Map<string, number>();
  private vmmVersion: Promise<string> | undefined;
  private spares: TemplateSpares | undefined;

  constructor(private readonly deps: TemplateDeps) {}

  /** The spares (spares.ts) follow the templates: told of every change, asked for `list`. */
  attachSpares(spares: TemplateSpares): void {
    this.spares = spares;
  }

  private changed(image: string): void {
    this.spares?.refresh(image);
  }

  get enabled(): boolean {
    return this.deps.config.templates.enabled;
  }

  /** How new templates keep their memory: mapped where the driver can (docs/architecture.md §26). */
  memoryMode(): 'mapped' | 'stream' {
    return this.deps.config.templates.memory === 'mapped' && this.deps.driver.mappedMemory ? 'mapped' : 'stream';
  }

  /** The shape templates are built in: hobd's sandboxDefaults. */
  defaultShape(): TemplateShape {
    const d = this.deps.config.sandboxDefaults;
    return { cpus: d.cpus, memoryMiB: d.memoryMiB, diskBytes: d.diskGiB * GiB };
  }

  /** At start-up (after reconcile): removes interrupted builds, then builds what is missing or stale. */
  async start(): Promise<void> {
    const removed = await this.deps.templates.cleanStaging();
    if (removed.length > 0) this.deps.log(`hob: templates: removed interrupted builds ${removed.join(', ')}`);
    if (!this.enabled) return;
    for (const image of await this.deps.images.list((name) => ImageNameSchema.safeParse(name).success)) this.ensure(image.name);
  }

  /**
   * Queues a build of `image`'s template unless a valid one of the default shape exists or a
   * build is under way. Returns at once; progress shows in `list()` and events. No-op when off.
   */
  ensure(image: string): void {
    if (!this.enabled || this.building.has(image)) return;
    this.building.set(image, 'waiting for another build');
    const generation = this.generation.get(image) ?? 0;
    this.queue = this.queue.then(async () => {
      try {
        if ((this.generation.get(image) ?? 0) !== generation) return;
        if (!(await this.isCurrent(image))) {
          await this.build(image, generation);
          this.failed.delete(image);
        }
        this.changed(image);
      } catch (err) {
        const message = (err as Error).message;
        this.failed.set(image, { message, at: Date.now() });
        this.deps.log(`hob: building the template of ${image} failed: ${message}`);
        appendEvent(this.deps.db, { type: 'template', data: { image, phase: 'failed', error: message.slice(0, 2000) } });
      } finally {
        this.building.delete(image);
      }
    });
  }

  /** Resolves once every queued build has ended (tests, shutdown). */
  async idle(): Promise<void> {
    for (;;) {
      const q = this.queue;
      await q;
      if (q === this.queue) return;
    }
  }

  /**
   * Whether a create of `shape` from `image` may resume its template. A missing or stale
   * template is queued for a build, unless `opts.build` is false (the spares only look: a
   * template the user removed must stay removed). Never throws.
   */
  async pick(image: string, shape: TemplateShape, opts: { readonly build?: boolean } = {}): Promise<TemplatePick> {
    const build = opts.build !== false;
    if (!this.enabled) return { use: false, reason: 'warm templates are off' };
    try {
      const vol = await this.deps.templates.get(image);
      if (!vol) {
        if (this.building.has(image)) return { use: false, reason: `the template of ${image} is still being built` };
        // A failed build is tried again by a later create, at most every RETRY_AFTER_MS.
        const failed = this.failed.get(image);
        if (build && (!failed || Date.now() - failed.at > RETRY_AFTER_MS)) this.ensure(image);
        return { use: false, reason: `image ${image} has no template${failed ? ` (its last build failed: ${failed.message.slice(0, 200)})` : ''}` };
      }
      const parsed = TemplateMetaSchema.safeParse(vol.meta);
      if (!parsed.success) return { use: false, reason: `the template of ${image} is unreadable` };
      const meta = parsed.data;
      if (meta.cpus !== shape.cpus || meta.memoryMiB !== shape.memoryMiB) {
        return { use: false, reason: `the template of ${image} has ${meta.cpus} vCPU and ${meta.memoryMiB} MiB, not ${shape.cpus} and ${shape.memoryMiB}` };
      }
      if (shape.diskBytes < meta.diskBytes) return { use: false, reason: `the template of ${image} has a larger disk than asked for` };
      if (meta.key !== (await this.key(image, meta))) {
        if (build) this.ensure(image);
        return { use: false, reason: `the template of ${image} is stale (the image, the VMM or hob's settings changed)` };
      }
      return { use: true, image, meta };
    } catch (err) {
      return { use: false, reason: `the template of ${image} could not be checked: ${(err as Error).message}` };
    }
  }

  /**
   * A template that failed to serve a create is removed (and rebuilt when enabled), so that
   * the next create does not try it again.
   */
  async discard(image: string, reason: string): Promise<void> {
    appendEvent(this.deps.db, { type: 'template', data: { image, phase: 'discarded', reason: reason.slice(0, 2000) } });
    await this.deps.templates.remove(image).catch((err: Error) => this.deps.log(`hob: removing the template of ${image}: ${err.message}`));
    this.changed(image);
    this.ensure(image);
  }

  async list(): Promise<TemplateInfo[]> {
    const out = new Map<string, Omit<TemplateInfo, 'spare'>>();
    for (const vol of await this.deps.templates.list()) {
      const parsed = TemplateMetaSchema.safeParse(vol.meta);
      if (!parsed.success) {
        out.set(vol.image, { image: vol.image, state: 'broken', cpus: null, memoryMiB: null, diskBytes: null, builtAt: null, memory: null, bootMs: null, detail: null });
        continue;
      }
      const m = parsed.data;
      const current = m.key === (await this.key(vol.image, m).catch(() => ''));
      out.set(vol.image, { image: vol.image, state: current ? 'ready' : 'stale', cpus: m.cpus, memoryMiB: m.memoryMiB, diskBytes: m.diskBytes, builtAt: m.builtAt, memory: m.memory, bootMs: m.bootMs, detail: null });
    }
    for (const [image, error] of this.failed) {
      if (!out.has(image)) out.set(image, { image, state: 'failed', cpus: null, memoryMiB: null, diskBytes: null, builtAt: null, memory: null, bootMs: null, detail: error.message });
    }
    for (const [image, step] of this.building) {
      const prev = out.get(image);
      out.set(image, { image, state: 'building', cpus: prev?.cpus ?? null, memoryMiB: prev?.memoryMiB ?? null, diskBytes: prev?.diskBytes ?? null, builtAt: prev?.builtAt ?? null, memory: prev?.memory ?? null, bootMs: prev?.bootMs ?? null, detail: step });
    }
    return [...out.values()].map((t) => ({ ...t, spare: this.spares?.state(t.image) ?? 'none' })).sort((a, b) => a.image.localeCompare(b.image));
  }

  /** What identifies `image`'s template files as they are now (TemplateVolumes.stamp); null: none. */
  stamp(image: string): Promise<string | null> {
    return this.deps.templates.stamp(image);
  }

  /** Makes sandbox `sandboxId`'s volume a copy of `image`'s template (template-create.ts). */
  copyInto(image: string, sandboxId: string): Promise<void> {
    return this.deps.templates.sandboxFrom(image, sandboxId);
  }

  /** Removes `image`'s template (a build under way does not commit). @throws NotFoundError if there is none. */
  async remove(image: string): Promise<void> {
    this.generation.set(image, (this.generation.get(image) ?? 0) + 1);
    const removed = await this.deps.templates.remove(image);
    this.failed.delete(image);
    this.changed(image);
    if (!removed) throw new NotFoundError(`image ${image} has no template`);
    appendEvent(this.deps.db, { type: 'template', data: { image, phase: 'removed' } });
  }

  /** The image was removed: so is its template, quietly if it had none. */
  async imageRemoved(image: string): Promise<void> {
    await this.remove(image).catch((err: unknown) => {
      if (!(err instanceof NotFoundError)) this.deps.log(`hob: removing the template of ${image}: ${(err as Error).message}`);
    });
  }

  private async isCurrent(image: string): Promise<boolean> {
    const vol = await this.deps.templates.get(image);
    const parsed = TemplateMetaSchema.safeParse(vol?.meta);
    if (!parsed.success) return false;
    const want = this.defaultShape();
    const m = parsed.data;
    return m.cpus === want.cpus && m.memoryMiB === want.memoryMiB && m.diskBytes === want.diskBytes && m.key === (await this.key(image, m));
  }

  /**
   * The key of a template of `image` in `shape` with this hobd: what must not change for a
   * copy of it to be a correct sandbox. The agent's version and the kernel are in the image.
   */
  private async key(image: string, shape: TemplateShape): Promise<string> {
    const fingerprint = await this.deps.images.fingerprint(image);
    if (fingerprint === null) throw new NotFoundError(`no image named "${image}"`);
    const parts = {
      format: TEMPLATE_FORMAT,
      image: fingerprint,
      vmm: this.deps.driver.kind,
      vmmVersion: await this.version(),
      network: this.deps.network !== undefined,
      memory: this.memoryMode(),
      cpus: shape.cpus,
      memoryMiB: shape.memoryMiB,
      diskBytes: shape.diskBytes,
    };
    return createHash('sha256').update(JSON.stringify(parts)).digest('hex');
  }

  /** The VMM's version, asked once per hobd (a VMM upgraded under a running hobd is caught by the restore's own checks). */
  private version(): Promise<string> {
    this.vmmVersion ??= this.deps.driver.version().catch((err: unknown) => {
      this.vmmVersion = undefined;
      throw err;
    });
    return this.vmmVersion;
  }

  /** Boots a template VM of the default shape and keeps its disk and memory. */
  private async build(image: string, generation: number): Promise<void> {
    const { db, templates, driver, config, network } = this.deps;
    const shape = this.defaultShape();
    const memoryMode = this.memoryMode();
    const step = (text: string): void => {
      this.building.set(image, text);
    };
    await requireImageRunsHere(this.deps.images, config, driver.kind, image);
    step('creating the disk');
    appendEvent(db, { type: 'template', data: { image, phase: 'building', cpus: shape.cpus, memoryMiB: shape.memoryMiB } });
    const key = await this.key(image, shape);
    const build = await templates.beginBuild(image, shape.diskBytes);
    // An id of its own: the VMM's run dir and namespace are the orphans reconcile removes after a crash.
    const id = `tpl${randomBytes(4).toString('hex')}`;
    const runDir = vmRunDir(config, id);
    let vm: LiveVm | undefined;
    try {
      const net = network ? await network.setupIsolated(id) : undefined;
      const identity = { hostname: 'hob-template', machineId: machineIdFor(id) };
      const cmdline = `root=/dev/vda rw hob.hostname=${identity.hostname} hob.machine_id=${identity.machineId}`;
      const spec: VmSpec = {
        id,
        runDir,
        kernelPath: build.bootFiles.kernel,
        initramfsPath: build.bootFiles.initramfs,
        cmdline: net ? `${cmdline} ${net.cmdlineArgs}` : cmdline,
        disks: [{ id: 'root', path: build.bootFiles.disk }],
        cpus: shape.cpus,
        memoryMiB: shape.memoryMiB,
        ...(net ? { net: net.netSpec } : {}),
        // Its RAM in a file of the memory image from the start: the snapshot then holds device state only.
        ...(memoryMode === 'mapped' ? { memoryFile: build.ramFile } : {}),
      };
      await build.memory.create();
      step(`booting (${shape.cpus} vCPU, ${shape.memoryMiB} MiB, ${driver.kind})`);
      const started = Date.now();
      vm = await LiveVm.boot(driver, spec);
      const bootMs = Date.now() - started;
      crashPoint('template.booted');
      // The first reseed starts the agent's kernel helper (guest-image/agent/handlers/kernel-helper.ts):
      // running in the snapshot, it spares every clone that process start.
      const agent = await vm.agent();
      if (agent.supports('random.reseed')) await reseedGuestRandom(agent);
      step('warming up its agent');
      const warm = await warmUpTemplateAgent(agent, identity, network ? UNRESTRICTED_POLICY : undefined);
      for (const failure of warm.failed) this.deps.log(`hob: template of ${image}: warm-up step failed (clones only lose its saving): ${failure}`);
      step('saving its memory');
      // No guest sync needed: memory and disk are saved at one instant (the VMM flushed the
      // disk when it paused), so the guest's dirty pages travel in the memory image.
      await vm.handle.pause();
      await vm.handle.snapshot(build.memory.dir);
      await vm.kill();
      vm = undefined;
      crashPoint('template.saved');
      if ((this.generation.get(image) ?? 0) !== generation) throw new Error('the template was removed while it was built');
      const meta: TemplateMeta = {
        format: TEMPLATE_FORMAT, image, key, vmm: driver.kind as VmmKind, vmmVersion: await this.version(),
        ...shape, memory: memoryMode, builtAt: new Date().toISOString(), bootMs,
        guestPolicyFile: warm.guestPolicyFile,
      };
      await build.commit(meta, () => crashPoint('template.committing'));
      // A remove that ran while this build was committing found nothing to remove: undo the commit.
      if ((this.generation.get(image) ?? 0) !== generation) {
        await templates.remove(image);
        throw new Error('the template was removed while it was built');
      }
      crashPoint('template.committed');
      appendEvent(db, { type: 'template', data: { image, phase: 'ready', bootMs } });
      this.deps.log(`hob: template of ${image} ready (${shape.cpus} vCPU, ${shape.memoryMiB} MiB; booted in ${bootMs} ms)`);
    } catch (err) {
      await vm?.kill().catch(() => undefined);
      await build.discard().catch((e: Error) => this.deps.log(`hob: removing a template build of ${image}: ${e.message}`));
      throw err;
    } finally {
      await network?.teardown(id).catch((e: Error) => this.deps.log(`hob: removing the network of template VM ${id}: ${e.message}`));
      await rm(runDir, { recursive: true, force: true }).catch(() => undefined);
    }
  }
}
