/**
 * The btrfs storage pool (docs/architecture.md §3). Core speaks to it in
 * volumes: sandbox-volumes.ts (sandboxes, checkpoints, restore, fork, memory
 * images, free space) and image-volumes.ts. pool.ts has the subvolume
 * operations and their failure modes, paths.ts the areas and naming rules.
 */
export { Pool, type PoolEntry, type PoolOptions } from './pool.js';
export { AREAS, SAFE_NAME, assertSafeName, type Area, type PoolPath } from './paths.js';
export { DEFAULT_MOUNT_OPTIONS, isOnBtrfs, type PoolKind } from './mount.js';
export { isNoSpace } from './errors.js';
export type { PoolUsage, UsageMode } from './usage.js';
export { SandboxVolumes, type BootFiles, type CheckpointVolume, type RestoreOutcome, type StrayVolume } from './sandbox-volumes.js';
export { ImageVolumes, type ImageVolume } from './image-volumes.js';
export { MemoryImage } from './memory-image.js';
export { TemplateVolumes, type TemplateBuild, type TemplateVolume } from './template-volumes.js';
