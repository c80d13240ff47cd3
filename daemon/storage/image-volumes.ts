/**
 * Image volumes (docs/architecture.md §3): `images/<name>/` read-only
 * subvolumes holding the files guest-image/build writes (see IMAGE_FILES).
 * A sandbox volume is a writable snapshot of one (SandboxVolumes).
 * Names are checked by the caller (a DNS label); here they only have to be
 * safe single path components (else BadRequestError, as everywhere in Pool).
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import * as z from 'zod';
import { BadRequestError, ConflictError } from '../errors.js';
import type { Pool } from './pool.js';
import { IMAGE_FILES, IMPORT_STAGING_PREFIX } from './volume-layout.js';

export interface ImageVolume {
  readonly name: string;
  /** What manifest.json says (variant, arch, kernel, versions...), or null if unreadable. */
  readonly manifest: Readonly<Record<string, unknown>> | null;
}

const ManifestSchema = z.record(z.string(), z.unknown());

export class ImageVolumes {
  constructor(private readonly pool: Pool) {}

  async exists(name: string): Promise<boolean> {
    const path = this.pool.imagePath(name);
    return (await this.pool.exists(path)) && (await this.pool.isSubvolume(path));
  }

  /**
   * Imports a built image directory as `images/<name>`. Files are copied
   * sparse into a staging subvolume which is made read-only and then renamed
   * into place, so a crash never leaves a half image under the real name
   * (`cleanStaging` removes the staging one).
   * @throws ConflictError if the image exists (unless replace); BadRequestError if a file is missing.
   */
  async import(name: string, sourceDir: string, opts: { replace?: boolean } = {}): Promise<ImageVolume> {
    const target = this.pool.imagePath(name);
    if ((await this.pool.exists(target)) && !opts.replace) throw new ConflictError(`an image named "${name}" exists`);
    for (const file of Object.values(IMAGE_FILES)) {
      if (!(await stat(join(sourceDir, file)).then((s) => s.isFile(), () => false))) {
        throw new BadRequestError(`${sourceDir} is not a built image: ${file} is missing`);
      }
    }
    const staging = this.pool.imagePath(`${IMPORT_STAGING_PREFIX}${name}_${randomBytes(4).toString('hex')}`);
    await this.pool.createSubvolume(staging);
    try {
      for (const file of Object.values(IMAGE_FILES)) {
        await execa('cp', ['--sparse=always', '--reflink=auto', '--no-target-directory', '--', join(sourceDir, file), join(staging, file)]);
      }
      await this.pool.setReadOnly(staging, true);
      if (await this.pool.exists(target)) await this.pool.trash(target);
      await this.pool.move(staging, target);
    } catch (err) {
      await this.pool.delete(staging).catch(() => undefined);
      throw err;
    }
    return { name, manifest: await readManifest(join(target, IMAGE_FILES.manifest)) };
  }

  /** Deletes staging subvolumes left by an import that a crash interrupted. */
  async cleanStaging(): Promise<void> {
    for (const entry of await this.pool.list('images')) {
      if (entry.name.startsWith(IMPORT_STAGING_PREFIX)) await this.pool.trash(entry.path);
    }
  }

  /** What the image's manifest.json says; null if it is missing or unreadable. */
  manifest(name: string): Promise<Readonly<Record<string, unknown>> | null> {
    return readManifest(join(this.pool.imagePath(name), IMAGE_FILES.manifest));
  }

  /**
   * What identifies this image's content: a hash of its manifest and of the size, mtime and
   * inode of each file. A rebuilt or re-imported image gets another one (the files are new).
   * Null if the image is missing.
   */
  async fingerprint(name: string): Promise<string | null> {
    const dir = this.pool.imagePath(name);
    const hash = createHash('sha256');
    try {
      for (const file of Object.values(IMAGE_FILES)) {
        const s = await stat(join(dir, file), { bigint: true });
        hash.update(`${file}:${s.size}:${s.mtimeNs}:${s.ino}\n`);
      }
      hash.update(await readFile(join(dir, IMAGE_FILES.manifest)));
    } catch {
      return null;
    }
    return hash.digest('hex');
  }

  /** Image volumes whose name `accept`s, by name. */
  async list(accept: (name: string) => boolean): Promise<ImageVolume[]> {
    const out: ImageVolume[] = [];
    for (const entry of await this.pool.list('images')) {
      if (!entry.subvolume || !accept(entry.name)) continue;
      out.push({ name: entry.name, manifest: await readManifest(join(entry.path, IMAGE_FILES.manifest)) });
    }
    return out;
  }

  /** Moves an image to the trash; sandboxes made from it are unaffected. Returns false if there was none. */
  remove(name: string): Promise<boolean> {
    return this.pool.trash(this.pool.imagePath(name));
  }
}

async function readManifest(path: string): Promise<Record<string, unknown> | null> {
  try {
    const parsed = ManifestSchema.safeParse(JSON.parse(await readFile(path, 'utf8')));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}
