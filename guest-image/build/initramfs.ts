/**
 * Our own tiny initramfs: the tree's static busybox, the virtio modules (and
 * whatever they depend on) uncompressed, a load-order file and /init
 * (guest-image/build/initramfs/init). gzip-compressed newc cpio; Debian's cloud
 * kernels have CONFIG_RD_GZIP=y (and RD_ZSTD/RD_XZ).
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { writeCpio, type CpioEntry } from './cpio.js';
import { ImageBuildError } from './errors.js';
import { initramfsModules, loadOrder, readModule, readModuleIndex } from './modules.js';
import { sourcePaths } from './paths.js';

/** busybox applets /init calls (symlinks in /bin; the debug shell installs the rest). */
const initApplets = [
  'sh', 'cat', 'cttyhack', 'echo', 'findfs', 'insmod', 'ln', 'mkdir', 'mount', 'poweroff', 'setsid', 'sleep',
  'switch_root',
];

export interface InitramfsResult {
  /** The compressed archive. */
  readonly data: Buffer;
  /** Module names in load order. */
  readonly modules: readonly string[];
}

/** Finds the first of `candidates` (relative to the tree) that exists. */
function inTree(tree: string, candidates: readonly string[]): string {
  for (const c of candidates) {
    const p = path.join(tree, c);
    if (existsSync(p)) return p;
  }
  throw new ImageBuildError(`none of ${candidates.join(', ')} exists in the tree`);
}

/**
 * Builds the initramfs from the unpacked tree for kernel `kernelVersion`.
 * Throws ImageBuildError if busybox, modules.dep or a required module is missing.
 */
export async function buildInitramfs(tree: string, kernelVersion: string): Promise<InitramfsResult> {
  const modulesDir = inTree(tree, [`usr/lib/modules/${kernelVersion}`, `lib/modules/${kernelVersion}`]);
  // busybox-static's binary: no loader or libraries needed inside the initramfs.
  const busybox = await readFile(inTree(tree, ['usr/bin/busybox', 'bin/busybox']));
  const init = await readFile(sourcePaths.initramfsInit);
  const order = loadOrder(await readModuleIndex(modulesDir), initramfsModules);

  const entries: CpioEntry[] = [
    ...['bin', 'dev', 'lib', 'lib/modules', 'newroot', 'proc', 'sys'].map(
      (p): CpioEntry => ({ type: 'dir', path: p, mode: 0o755 }),
    ),
    // The kernel opens /dev/console for /init before any devtmpfs exists.
    { type: 'chardev', path: 'dev/console', mode: 0o600, major: 5, minor: 1 },
    { type: 'chardev', path: 'dev/null', mode: 0o666, major: 1, minor: 3 },
    { type: 'file', path: 'bin/busybox', mode: 0o755, data: busybox },
    ...initApplets.map((a): CpioEntry => ({ type: 'symlink', path: `bin/${a}`, target: 'busybox' })),
    { type: 'file', path: 'init', mode: 0o755, data: init },
    {
      type: 'file',
      path: 'lib/modules/load-order',
      mode: 0o644,
      data: Buffer.from(order.map((m) => `${m.name}\n`).join('')),
    },
  ];
  for (const m of order) {
    entries.push({ type: 'file', path: `lib/modules/${m.name}.ko`, mode: 0o644, data: await readModule(modulesDir, m.relPath) });
  }
  return { data: gzipSync(writeCpio(entries), { level: 9 }), modules: order.map((m) => m.name) };
}
