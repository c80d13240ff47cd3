/**
 * The btrfs storage pool. See pool.ts for the operations and their failure
 * modes, paths.ts for the layout and the naming rules.
 */
export { Pool, type PoolEntry, type PoolOptions } from './pool.js';
export { AREAS, SAFE_NAME, assertSafeName, type Area, type PoolPath } from './paths.js';
export { DEFAULT_MOUNT_OPTIONS, isOnBtrfs, type PoolKind } from './mount.js';
export { isNoSpace } from './errors.js';
export type { PoolUsage, UsageMode } from './usage.js';
