/**
 * Warm template volumes (docs/architecture.md §17): `templates/<image>/`, a read-only
 * subvolume holding what a sandbox made from it starts with: the disk of a VM booted from the
 * image, its kernel and initramfs, its memory image (MEMORY_DIR) and `template.json` (what it
 * was built with, written last). A build happens in a writable staging volume
 * `templates/_build_<image>_<rand>` that is made read-only and renamed into place once
 * complete, so a crash never leaves a half template under the real name (`cleanStaging`).
 * A sandbox volume made from a template is a writable snapshot of it, like a fork of a live
 * checkpoint. Core gets opaque paths only (boot files, memory image).
 */
import { randomBytes } from 'node:crypto';
import { readdir, readFile, rm, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileDurable } from '../vmm/snapshot-meta.js';
import { MemoryImage } from './memory-image.js';
import type { PoolPath } from './paths.js';
import type { Pool } from './pool.js';
import type { BootFiles } from './sandbox-volumes.js';
import { DISK_FILE, GUEST_RAM_FILE, IMAGE_FILES, MEMORY_DIR, TEMPLATE_META_FILE, TEMPLATE_STAGING_PREFIX } from './volume-layout.js';

/** A template volume found in the pool: its image name and its meta text (null: unreadable). */
export interface TemplateVolume {
  readonly image: string;
  /** template.json as written by `TemplateBuild.commit`; core parses it. Null if missing or unreadable. */
  readonly meta: unknown;
}

/** A template being built: a writable staging volume. `commit` or `discard` it. */
export interface TemplateBuild {
  readonly bootFiles: BootFiles;
  readonly memory: MemoryImage;
  /** Where the template VM keeps its RAM when the VMM maps it (VmSpec.memoryFile): inside `memory`. */
  readonly ramFile: PoolPath;
  /**
   * Writes the meta (durably, last), makes the volume read-only and moves it into place
   * (replacing an older one). `beforeMove` runs just before the move (the crash tests' point).
   */
  commit(meta: unknown, beforeMove?: () => void): Promise<void>;
  /** Removes the staging volume. */
  discard(): Promise<void>;
}

export class TemplateVolumes {
  constructor(private readonly pool: Pool) {}

  /**
   * Starts a template of `image`: a writable snapshot of the image, its rootfs renamed to the
   * disk and grown to `diskBytes`.
   * @throws NotFoundError if there is no such image.
   */
  async beginBuild(image: string, diskBytes: number): Promise<TemplateBuild> {
    const name = `${TEMPLATE_STAGING_PREFIX}${image}_${randomBytes(4).toString('hex')}`;
    const staging = this.pool.path('templates', name);
    await this.pool.snapshot(this.pool.imagePath(image), staging);
    const disk = this.pool.path('templates', name, DISK_FILE);
    try {
      await this.pool.move(this.pool.path('templates', name, IMAGE_FILES.rootfs), disk);
      await truncate(disk, diskBytes);
      await rm(this.pool.path('templates', name, IMAGE_FILES.manifest), { force: true });
    } catch (err) {
      await this.pool.delete(staging).catch(() => undefined);
      throw err;
    }
    const memory = new MemoryImage(this.pool, this.pool.path('templates', name, MEMORY_DIR), `templates/${name}/${MEMORY_DIR}`);
    return {
      bootFiles: {
        disk,
        kernel: this.pool.path('templates', name, IMAGE_FILES.kernel),
        initramfs: this.pool.path('templates', name, IMAGE_FILES.initramfs),
      },
      memory,
      ramFile: this.pool.path('templates', name, MEMORY_DIR, GUEST_RAM_FILE),
      commit: async (meta, beforeMove) => {
        await writeFileDurable(this.pool.path('templates', name, TEMPLATE_META_FILE), `${JSON.stringify(meta, null, 2)}\n`);
        await this.pool.setReadOnly(staging, true);
        beforeMove?.();
        const target = this.pool.path('templates', image);
        if (await this.pool.exists(target)) await this.pool.trash(target);
        await this.pool.move(staging, target);
      },
      discard: async () => {
        await this.pool.delete(staging);
      },
    };
  }

  /** Templates in the pool (staging volumes excluded). */
  async list(): Promise<TemplateVolume[]> {
    const out: TemplateVolume[] = [];
    for (const entry of await this.pool.list('templates')) {
      if (!entry.subvolume || entry.name.startsWith(TEMPLATE_STAGING_PREFIX)) continue;
      out.push({ image: entry.name, meta: await readMeta(join(entry.path, TEMPLATE_META_FILE)) });
    }
    return out;
  }

  /** The template of `image`, or null if there is none. */
  async get(image: string): Promise<TemplateVolume | null> {
    const path = this.pool.path('templates', image);
    if (!(await this.pool.exists(path))) return null;
    return { image, meta: await readMeta(join(path, TEMPLATE_META_FILE)) };
  }

  /**
   * What identifies the files of `image`'s template as they are now (inode, size and change
   * time of its meta and memory image files); null if there is no template. A rebuild, even
   * with the same key, or any change to a file gives another stamp (a spare resumed from the
   * files before is stale: core/spares.ts).
   */
  async stamp(image: string): Promise<string | null> {
    const dir = this.pool.path('templates', image);
    const memoryDir = join(dir, MEMORY_DIR);
    try {
      const names = (await readdir(memoryDir)).sort();
      const files = [join(dir, TEMPLATE_META_FILE), ...names.map((n) => join(memoryDir, n))];
      const parts = await Promise.all(files.map(async (f) => {
        const st = await stat(f, { bigint: true });
        return `${st.ino}:${st.size}:${st.ctimeNs}`;
      }));
      return parts.join(',');
    } catch {
      return null;
    }
  }

  /**
   * Sandbox `sandboxId`'s volume as a writable snapshot of `image`'s template (disk, boot
   * files, memory image), grown to `diskBytes` if that is larger. The template's meta is
   * dropped from the copy. A failure leaves a volume that SandboxVolumes.trashSandbox removes.
   * @throws NotFoundError if the template is gone; ConflictError if the sandbox has a volume.
   */
  async sandboxFrom(image: string, sandboxId: string): Promise<void> {
    await this.pool.snapshot(this.pool.path('templates', image), this.pool.sandboxPath(sandboxId));
    await rm(this.pool.path('sandboxes', sandboxId, TEMPLATE_META_FILE), { force: true });
  }

  /** Moves `image`'s template to the trash. Returns false if there was none. */
  remove(image: string): Promise<boolean> {
    return this.pool.trash(this.pool.path('templates', image));
  }

  /** Removes staging volumes of builds a crash (or a failure) interrupted. Returns their names. */
  async cleanStaging(): Promise<string[]> {
    const removed: string[] = [];
    for (const entry of await this.pool.list('templates')) {
      if (!entry.name.startsWith(TEMPLATE_STAGING_PREFIX)) continue;
      await this.pool.trash(entry.path);
      removed.push(entry.name);
    }
    return removed;
  }

  /** The memory file's path inside a template, for tests that damage it on purpose. */
  memoryDir(image: string): PoolPath {
    return this.pool.path('templates', image, MEMORY_DIR);
  }
}

async function readMeta(path: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as unknown;
  } catch {
    return null;
  }
}
