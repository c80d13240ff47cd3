/**
 * Where a sandbox's files are, and the VmSpec that boots it. The sandbox
 * subvolume is a writable snapshot of its image, so it carries its own kernel
 * and initramfs: deleting or rebuilding the image never breaks a sandbox.
 */
import { join } from 'node:path';
import type { HobConfig } from '../config.js';
import type { Sandbox as SandboxRow } from '../db/index.js';
import type { Pool } from '../storage/index.js';
import type { NetSpec, VmSpec } from '../vmm/types.js';
import { machineIdFor } from './identity.js';

/** Files of an image subvolume (as written by guest-image/build) and of a sandbox subvolume. */
export const IMAGE_FILES = {
  kernel: 'kernel',
  initramfs: 'initramfs.img',
  rootfs: 'rootfs.img',
  manifest: 'manifest.json',
} as const;

/** The sandbox's disk: the image's rootfs.img renamed and grown (sparse) to the sandbox's disk size. */
export const DISK_FILE = 'disk.img';

/**
 * Directory inside a sandbox subvolume holding a VMM memory snapshot. It exists
 * in the subvolume only while a live checkpoint is taken (so the read-only
 * checkpoint snapshot carries it) and while a hibernated sandbox sleeps.
 */
export const MEMORY_DIR = 'memory';

/**
 * `sandboxes/<id>.restore`: where a restore builds the new subvolume before it
 * swaps it in. Reconcile finishes a swap that a crash interrupted.
 */
export function restoreStagingName(id: string): string {
  return `${id}.restore`;
}

export interface SandboxPaths {
  readonly subvolume: string;
  readonly disk: string;
  readonly kernel: string;
  readonly initramfs: string;
  /** Volatile directory of the VMM process (sockets, pid file, console log). */
  readonly runDir: string;
}

export function sandboxPaths(pool: Pool, config: HobConfig, id: string): SandboxPaths {
  const subvolume = pool.sandboxPath(id);
  return {
    subvolume,
    disk: join(subvolume, DISK_FILE),
    kernel: join(subvolume, IMAGE_FILES.kernel),
    initramfs: join(subvolume, IMAGE_FILES.initramfs),
    runDir: vmRunDir(config, id),
  };
}

/** `<runDir>/vms/<id>`: short on purpose, unix socket paths are limited to 107 bytes. */
export function vmRunDir(config: HobConfig, id: string): string {
  return join(config.runDir, 'vms', id);
}

/** A sandbox VM's network device and the guest's addresses (from SandboxNetwork.setup). */
export interface VmNet {
  readonly netSpec: NetSpec;
  /** Kernel command line arguments telling the guest's init its address, gateway and DNS. */
  readonly cmdlineArgs: string;
}

/**
 * The VmSpec of a sandbox. Without `net` the VM has no network device (hobd runs
 * without sandbox networking). A VM resumed from a memory snapshot must get the
 * same devices it was saved with, so every start of a sandbox passes the same kind.
 */
export function vmSpecFor(pool: Pool, config: HobConfig, row: SandboxRow, net?: VmNet): VmSpec {
  const paths = sandboxPaths(pool, config, row.id);
  const cmdline = `root=/dev/vda rw hob.hostname=${row.name} hob.machine_id=${machineIdFor(row.id)}`;
  return {
    id: row.id,
    runDir: paths.runDir,
    kernelPath: paths.kernel,
    initramfsPath: paths.initramfs,
    cmdline: net ? `${cmdline} ${net.cmdlineArgs}` : cmdline,
    disks: [{ id: 'root', path: paths.disk }],
    cpus: row.cpus,
    memoryMiB: row.memoryMiB,
    ...(net ? { net: net.netSpec } : {}),
  };
}
