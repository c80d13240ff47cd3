/**
 * Guest images as sandboxes use them: their names (DNS labels) and how they
 * are built. Their volumes belong to storage (storage/image-volumes.ts).
 */
import * as z from 'zod';
import type { HobConfig } from '../config.js';
import { BadRequestError, ConflictError, NotFoundError } from '../errors.js';
import { ImageVolumes, type ImageVolume, type Pool } from '../storage/index.js';
import { hostArch } from '../vmm/arch.js';
import { requireRunnableArch } from '../vmm/guest-arch.js';
import type { GuestArch, VmmKind } from '../vmm/types.js';
import { ImageNameSchema } from './names.js';
import type { Templates } from './templates.js';
import { emit } from './progress.js';
import type { ProgressSink } from './types.js';

export type ImageInfo = ImageVolume;

export async function imageExists(images: ImageVolumes, name: string): Promise<boolean> {
  return ImageNameSchema.safeParse(name).success && images.exists(name);
}

const ManifestArchSchema = z.object({ arch: z.enum(['x86_64', 'aarch64']) });

/** The image's architecture from its manifest; null if the manifest is unreadable or has none. */
export async function imageArch(images: Pick<ImageVolumes, 'manifest'>, name: string): Promise<GuestArch | null> {
  const parsed = ManifestArchSchema.safeParse(await images.manifest(name));
  return parsed.success ? parsed.data.arch : null;
}

/**
 * Refuses, with ForeignArchError (400), an image of another architecture than the host's
 * unless the driver is qemu and `vmm.allowForeignArch` is set (docs/architecture.md §4).
 * An image without a readable arch passes: the driver checks the kernel itself at boot.
 */
export async function requireImageRunsHere(
  images: Pick<ImageVolumes, 'manifest'>,
  config: { readonly vmm: Pick<HobConfig['vmm'], 'allowForeignArch'> },
  driver: VmmKind,
  name: string,
): Promise<void> {
  const arch = await imageArch(images, name);
  if (arch === null) return;
  requireRunnableArch(`image "${name}"`, arch, { hostArch: hostArch(), driver, allowForeignArch: config.vmm.allowForeignArch });
}

/**
 * Imports a built image directory (guest-image/build output) as image `name`;
 * a crash never leaves a half image under the real name (see ImageVolumes.import).
 * @throws ConflictError if the image exists (unless replace); BadRequestError for a bad name or missing files.
 */
export async function importImage(pool: Pool, name: string, sourceDir: string, opts: { replace?: boolean } = {}): Promise<ImageInfo> {
  if (!ImageNameSchema.safeParse(name).success) throw new BadRequestError(`"${name}" is not a valid image name`);
  return new ImageVolumes(pool).import(name, sourceDir, opts);
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
  /** Warm templates: one is built after each import and removed with its image. */
  readonly templates?: Pick<Templates, 'ensure' | 'imageRemoved'>;
}

/** The ImageService over a pool. */
export class PoolImageService implements ImageService {
  /** Names with a build in flight (one build per name at a time). */
  private readonly building = new Set<string>();
  private readonly builder: ImageBuilder;

  private readonly images: ImageVolumes;
  private readonly templates: PoolImageServiceOptions['templates'];

  constructor(pool: Pool, options: PoolImageServiceOptions = {}) {
    this.images = new ImageVolumes(pool);
    this.builder = options.builder ?? defaultBuilder(options.cacheDir);
    this.templates = options.templates;
  }

  list(): Promise<ImageInfo[]> {
    return this.images.list((name) => ImageNameSchema.safeParse(name).success);
  }

  async build(request: ImageBuildRequest, progress: ProgressSink = () => undefined): Promise<ImageInfo> {
    const { name, variant } = request;
    if (!ImageNameSchema.safeParse(name).success) throw new BadRequestError(`"${name}" is not a valid image name (a-z, 0-9 and "-", at most 63)`);
    if (!(IMAGE_VARIANTS as readonly string[]).includes(variant)) throw new BadRequestError(`unknown variant "${variant}" (one of ${IMAGE_VARIANTS.join(', ')})`);
    if (this.building.has(name)) throw new ConflictError(`an image named "${name}" is being built already`);
    if (!request.replace && (await imageExists(this.images, name))) {
      throw new ConflictError(`an image named "${name}" exists (remove it first, or build with replace)`);
    }
    this.building.add(name);
    try {
      const say = (data: string): void => emit(progress, 'info', data);
      say(`Building the ${variant} image...`);
      const built = await this.builder(variant, (line) => say(line));
      say(`Importing ${built.dir} as image ${name}...`);
      const imported = await this.images.import(name, built.dir, { replace: request.replace ?? false });
      // In the background: its progress shows in `hob templates ls` and events.
      this.templates?.ensure(name);
      return imported;
    } finally {
      this.building.delete(name);
    }
  }

  async remove(name: string): Promise<void> {
    if (!(await imageExists(this.images, name))) throw new NotFoundError(`no image named "${name}"`);
    await this.images.remove(name);
    await this.templates?.imageRemoved(name);
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
