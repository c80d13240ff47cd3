/**
 * The guest image for tests: the `minimal` variant, built through the image
 * cache ($HOB_IMAGE_CACHE or /var/cache/hob/guest-images), so only the first
 * run on a machine pays for the Debian tree (a few minutes) and later runs
 * reuse it, rebuilding the image itself (tens of seconds) only when the agent,
 * the init scripts or the builder changed.
 *
 * test/global-setup.ts calls this once before the tests; a test file calling
 * it again finds the image in the cache within a second.
 *
 * Needs root, mmdebstrap and e2fsprogs; throws ImageBuildError (with the
 * reason) otherwise. Callers that can do without the image should check
 * `imageBuildUnavailable()` and skip.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { buildImage, type GuestArch, type GuestImagePaths, type ProgressListener } from '../../guest-image/build/index.js';

export type { GuestImagePaths };

let pending: Promise<GuestImagePaths> | undefined;

/** Builds or reuses the minimal test image. The result is memoised per process. */
export function ensureTestImage(onProgress?: ProgressListener): Promise<GuestImagePaths> {
  pending ??= buildImage({ variant: 'minimal' }, onProgress).then((r) => r.paths);
  return pending;
}

const crossPending = new Map<GuestArch, Promise<GuestImagePaths>>();

/**
 * Builds or reuses the minimal image of `arch` (another architecture than the host's:
 * a cross build, see guest-image/build/build-image.ts), through the same cache.
 * Memoised per process and arch. Check `crossArchUnavailable(arch)` first.
 */
export function ensureCrossTestImage(arch: GuestArch, onProgress?: ProgressListener): Promise<GuestImagePaths> {
  let p = crossPending.get(arch);
  if (!p) {
    p = buildImage({ variant: 'minimal', arch }, onProgress).then((r) => r.paths);
    crossPending.set(arch, p);
  }
  return p;
}

/**
 * Why an `arch` guest cannot be built and booted here (for a skip message), or null:
 * qemu-system-<arch> must be on PATH and qemu-user-static's binfmt definition and
 * interpreter installed (install.sh --ci installs both), besides imageBuildUnavailable().
 */
export function crossArchUnavailable(arch: GuestArch): string | null {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin'].filter(Boolean);
  const qemu = `qemu-system-${arch}`;
  if (!dirs.some((d) => existsSync(path.join(d, qemu)))) {
    return `${qemu} is not installed (apt-get install ${arch === 'aarch64' ? 'qemu-system-arm' : 'qemu-system-x86'}, or install.sh --ci)`;
  }
  const conf = `/usr/lib/binfmt.d/qemu-${arch}.conf`;
  if (!existsSync(conf) || !existsSync(`/usr/libexec/qemu-binfmt/${arch}-binfmt-P`)) {
    return `qemu-user-static is not installed (${conf} and its interpreter; apt-get install qemu-user-static, or install.sh --ci)`;
  }
  return imageBuildUnavailable();
}

/**
 * Why the image cannot be built on this machine (for a skip message), or null
 * if it can. Checks only the cheap preconditions: root and the tools.
 */
export function imageBuildUnavailable(): string | null {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'building the guest image needs root';
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin'].filter(Boolean);
  for (const tool of ['mmdebstrap', 'mkfs.ext4', 'debugfs']) {
    if (!dirs.some((d) => existsSync(path.join(d, tool)))) return `building the guest image needs ${tool} (not on PATH)`;
  }
  return null;
}

/**
 * Why a test daemon with real VMs cannot run here (for a skip message), or undefined if it
 * can: hobd needs root (pool, netns, taps), loop devices, and a guest image it can build.
 */
export function vmDaemonUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'root (hobd: pool, netns, taps)';
  if (!existsSync('/dev/loop-control')) return 'loop devices';
  return imageBuildUnavailable() ?? undefined;
}
