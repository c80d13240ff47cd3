/**
 * The ext4 image diff lives in storage/ext4/ (see its index.ts); this module
 * re-exports it for the callers that import it from here (core).
 */
export {
  BINARY_PROBE, ImageUnreadableError, MAX_DIFF_ENTRIES, MAX_DIFF_FILE,
  cleanupExt4Scratch, diffExt4Images, fileDiffExt4Images,
  type DiffEntry, type DiffResult, type Ext4DiffOptions,
} from './ext4/index.js';
