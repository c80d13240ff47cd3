/**
 * Guest images in the pool: `images/<name>/` read-only subvolumes holding the
 * files guest-image/build writes (kernel, initramfs.img, rootfs.img,
 * manifest.json). A sandbox is a writable snapshot of one.
 */
import { randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { z } from 'zod';
import { BadRequestError, ConflictError, NotFoundError } from '../errors.js';
import type { Pool } from '../storage/index.js';
import { IMAGE_FILES } from './layout.js';
import { ImageNameSchema } from './names.js';

export interface ImageInfo {
  readonly name: string;
  /** What manifest.json says (variant, arch, kernel, versions...), or null if unreadable. */
  readonly manifest: Readonly<Record<string, unknown>> | null;
}

export async function imageExists(pool: Pool, name: string): Promise<boolean> {
  if (!ImageNameSchema.safeParse(name).success) return false;
  const path = pool.imagePath(name);
  return (await pool.exists(path)) && (await pool.isSubvolume(path));
}

/**
 * Imports a built image directory (guest-image/build output) as `images/<name>`.
 * Files are copied sparse into a temporary subvolume which is made read-only and
 * then renamed into place, so a crash never leaves a half image under the real name.
 * @throws ConflictError if the image exists (unless replace); BadRequestError for a bad name or missing files.
 */
export async function importImage(pool: Pool, name: string, sourceDir: string, opts: { replace?: boolean } = {}): Promise<ImageInfo> {
  if (!ImageNameSchema.safeParse(name).success) throw new BadRequestError(`"${name}" is not a valid image name`);
  const target = pool.imagePath(name);
  if ((await pool.exists(target)) && !opts.replace) throw new ConflictError(`an image named "${name}" exists`);
  for (const file of Object.values(IMAGE_FILES)) {
    if (!(await stat(join(sourceDir, file)).then((s) => s.isFile(), () => false))) {
      throw new BadRequestError(`${sourceDir} is not a built image: ${file} is missing`);
    }
  }
  // "_" cannot start an image name, so a staging subvolume is never listed as an image.
  const staging = pool.imagePath(`_import_${name}_${randomBytes(4).toString('hex')}`);
  await pool.createSubvolume(staging);
  try {
    for (const file of Object.values(IMAGE_FILES)) {
      await execa('cp', ['--sparse=always', '--reflink=auto', '--no-target-directory', '--', join(sourceDir, file), join(staging, file)]);
    }
    await pool.setReadOnly(staging, true);
    if (await pool.exists(target)) await pool.trash(target);
    await pool.move(staging, target);
  } catch (err) {
    await pool.delete(staging).catch(() => undefined);
    throw err;
  }
  return { name, manifest: await readManifest(join(target, IMAGE_FILES.manifest)) };
}

/** Deletes staging subvolumes left by an import that a crash interrupted. */
export async function cleanImageStaging(pool: Pool): Promise<void> {
  for (const entry of await pool.list('images')) {
    if (entry.name.startsWith('_import_')) await pool.trash(entry.path);
  }
}

const ManifestSchema = z.record(z.string(), z.unknown());

export async function listImages(pool: Pool): Promise<ImageInfo[]> {
  const out: ImageInfo[] = [];
  for (const entry of await pool.list('images')) {
    if (!entry.subvolume || !ImageNameSchema.safeParse(entry.name).success) continue;
    out.push({ name: entry.name, manifest: await readManifest(join(entry.path, IMAGE_FILES.manifest)) });
  }
  return out;
}

export async function removeImage(pool: Pool, name: string): Promise<void> {
  if (!(await imageExists(pool, name))) throw new NotFoundError(`no image named "${name}"`);
  await pool.trash(pool.imagePath(name));
}

async function readManifest(path: string): Promise<Record<string, unknown> | null> {
  try {
    const parsed = ManifestSchema.safeParse(JSON.parse(await readFile(path, 'utf8')));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}
