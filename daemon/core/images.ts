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
import type { HobConfig } from '../config.js';
import { BadRequestError, ConflictError, NotFoundError } from '../errors.js';
import { hostArch } from '../vmm/arch.js';
import { requireRunnableArch } from '../vmm/guest-arch.js';
import type { GuestArch, VmmKind } from '../vmm/types.js';
import type { Pool } from '../storage/index.js';
import { IMAGE_FILES } from './layout.js';
import { ImageNameSchema } from './names.js';
import type { ProgressSink } from './types.js';

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

const ManifestArchSchema = z.object({ arch: z.enum(['x86_64', 'aarch64']) });

/** The image's architecture from its manifest.json; null if the manifest is unreadable or has none. */
export async function imageArch(pool: Pick<Pool, 'imagePath'>, name: string): Promise<GuestArch | null> {
  const parsed = ManifestArchSchema.safeParse(await readManifest(join(pool.imagePath(name), IMAGE_FILES.manifest)));
  return parsed.success ? parsed.data.arch : null;
}

/**
 * Refuses, with ForeignArchError (400), an image of another architecture than the host's
 * unless the driver is qemu and `vmm.allowForeignArch` is set (docs/architecture.md §4).
 * An image without a readable arch passes: the driver checks the kernel itself at boot.
 */
export async function requireImageRunsHere(
  pool: Pick<Pool, 'imagePath'>,
  config: { readonly vmm: Pick<HobConfig['vmm'], 'allowForeignArch'> },
  driver: VmmKind,
  name: string,
): Promise<void> {
  const arch = await imageArch(pool, name);
  if (arch === null) return;
  requireRunnableArch(`image "${name}"`, arch, { hostArch: hostArch(), driver, allowForeignArch: config.vmm.allowForeignArch });
}

async function readManifest(path: string): Promise<Record<string, unknown> | null> {
  try {
    const parsed = ManifestSchema.safeParse(JSON.parse(await readFile(path, 'utf8')));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------- ImageService

/** Package sets the builder knows (guest-image/build `ImageVariant`). */
export const IMAGE_VARIANTS = ['minimal', 'dev'] as const;
export type ImageVariantName = (typeof IMAGE_VARIANTS)[number];

export interface ImageBuildRequest {
  /** Name of the image in the pool (a DNS label, like sandbox names). */
  readonly name: string;
  /** Package set to build. */
  readonly variant: ImageVariantName;
  /** Replace an existing image of that name (sandboxes made from the old one keep working: they are snapshots). */
  readonly replace?: boolean;
}

/**
 * Image management as the API offers it (`/v1/images`).
 *
 * Failure modes:
 * - `build`: BadRequestError (bad name or variant); ConflictError (the name
 *   exists and `replace` is not set, or a build of the same name is under
 *   way); ImageBuildError (the builder failed: not root, a tool missing,
 *   mirror unreachable...); PoolFullError while importing. Progress events
 *   are reported only once the build really started, so every error of the
 *   request itself happens before the first event.
 * - `remove`: NotFoundError.
 */
export interface ImageService {
  /** Images in the pool, by name. */
  list(): Promise<ImageInfo[]>;
  /** Builds the variant with guest-image/build (reusing its cache) and imports it as `name`. */
  build(request: ImageBuildRequest, progress?: ProgressSink): Promise<ImageInfo>;
  /** Deletes an image. Sandboxes created from it are unaffected. */
  remove(name: string): Promise<void>;
}

/** Builds an image directory; resolves with the directory holding kernel, initramfs.img, rootfs.img, manifest.json. */
export type ImageBuilder = (variant: ImageVariantName, onLine: (line: string) => void) => Promise<{ readonly dir: string }>;

export interface PoolImageServiceOptions {
  /** Cache root of the builder (default: its own default, $HOB_IMAGE_CACHE or /var/cache/hob/guest-images). */
  readonly cacheDir?: string;
  /**
   * How images are built. Default: guest-image/build's buildImage, imported
   * on first use (it pulls in esbuild and friends, which hobd does not need
   * otherwise).
   */
  readonly builder?: ImageBuilder;
}

/** The ImageService over a pool. */
export class PoolImageService implements ImageService {
  /** Names with a build in flight (one build per name at a time). */
  private readonly building = new Set<string>();
  private readonly builder: ImageBuilder;

  constructor(
    private readonly pool: Pool,
    options: PoolImageServiceOptions = {},
  ) {
    this.builder = options.builder ?? defaultBuilder(options.cacheDir);
  }

  list(): Promise<ImageInfo[]> {
    return listImages(this.pool);
  }

  async build(request: ImageBuildRequest, progress: ProgressSink = () => undefined): Promise<ImageInfo> {
    const { name, variant } = request;
    if (!ImageNameSchema.safeParse(name).success) throw new BadRequestError(`"${name}" is not a valid image name (a-z, 0-9 and "-", at most 63)`);
    if (!(IMAGE_VARIANTS as readonly string[]).includes(variant)) throw new BadRequestError(`unknown variant "${variant}" (one of ${IMAGE_VARIANTS.join(', ')})`);
    if (this.building.has(name)) throw new ConflictError(`an image named "${name}" is being built already`);
    if (!request.replace && (await imageExists(this.pool, name))) {
      throw new ConflictError(`an image named "${name}" exists (remove it first, or build with replace)`);
    }
    this.building.add(name);
    try {
      const say = (data: string): void => progress({ type: 'info', data, time: new Date().toISOString() });
      say(`Building the ${variant} image...`);
      const built = await this.builder(variant, (line) => say(line));
      say(`Importing ${built.dir} as image ${name}...`);
      return await importImage(this.pool, name, built.dir, { replace: request.replace ?? false });
    } finally {
      this.building.delete(name);
    }
  }

  remove(name: string): Promise<void> {
    return removeImage(this.pool, name);
  }
}

/**
 * guest-image/build's buildImage, reporting phase lines and the warnings among
 * tool output (the full tool output is thousands of lines of mmdebstrap).
 */
function defaultBuilder(cacheDir: string | undefined): ImageBuilder {
  return async (variant, onLine) => {
    const { buildImage, formatProgress } = await import('../../guest-image/build/index.js');
    const result = await buildImage({ variant, ...(cacheDir !== undefined ? { cacheDir } : {}) }, (event) => {
      if (event.kind !== 'log' || /^(warning|waiting)/.test(event.message)) onLine(formatProgress(event).trim());
    });
    return { dir: result.paths.dir };
  };
}
