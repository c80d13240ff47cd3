/**
 * What lies inside the pool's volumes (docs/architecture.md §3). Only
 * storage names these: core speaks of volumes, never of the files in them.
 */

/** Files of an image volume, as guest-image/build writes them. */
export const IMAGE_FILES = {
  kernel: 'kernel',
  initramfs: 'initramfs.img',
  rootfs: 'rootfs.img',
  manifest: 'manifest.json',
} as const;

/**
 * The sandbox's disk: the image's rootfs.img renamed and grown (sparse) to the
 * sandbox's disk size. The sandbox volume keeps the image's kernel and
 * initramfs too, so deleting or rebuilding the image never breaks a sandbox.
 */
export const DISK_FILE = 'disk.img';

/**
 * Directory inside a sandbox volume holding a VMM memory image. It exists only
 * while a live checkpoint is taken (so the read-only checkpoint carries it)
 * and while a hibernated sandbox sleeps.
 */
export const MEMORY_DIR = 'memory';

/**
 * A template's guest RAM as a plain file inside its MEMORY_DIR (docs/architecture.md §26),
 * when the VMM maps it (VmSpec.memoryFile); absent when the memory image is a stream only.
 */
export const GUEST_RAM_FILE = 'guest-ram';

/** `sandboxes/<id>.restore`: where a restore builds the new volume before it swaps it in. */
export function restoreStagingName(sandboxId: string): string {
  return `${sandboxId}.restore`;
}

/** Prefix of an image being imported. "_" cannot start an image name, so one is never listed as an image. */
export const IMPORT_STAGING_PREFIX = '_import_';

/** A template volume's record of what it was built with (core's TemplateMeta), written last. */
export const TEMPLATE_META_FILE = 'template.json';

/** Prefix of a template being built. "_" cannot start an image name, so one is never listed as a template. */
export const TEMPLATE_STAGING_PREFIX = '_build_';
