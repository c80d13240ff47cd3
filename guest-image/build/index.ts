/** Public API of the guest image builder. */
export { buildImage, imageFileNames, imagePaths } from './build-image.js';
export { resolveCacheRoot, defaultCacheRoot } from './cache.js';
export { ImageBuildError } from './errors.js';
export { imageManifestSchema, readManifest, type ImageManifest } from './manifest.js';
export { formatProgress } from './progress.js';
export {
  buildPhases,
  imageVariants,
  type BuildOptions,
  type BuildPhase,
  type BuildProgress,
  type BuildResult,
  type GuestArch,
  type GuestImagePaths,
  type ImageVariant,
  type ProgressListener,
} from './types.js';
