/**
 * Facts about the build host and the target architecture: names per
 * architecture, the host's own, and the tools the build runs.
 */
import { execa } from 'execa';
import type { GuestArch } from './types.js';
import { ImageBuildError } from './errors.js';

/** Architecture-specific names. */
export interface ArchInfo {
  readonly arch: GuestArch;
  /** Debian's name for it. */
  readonly debianArch: 'amd64' | 'arm64';
  /** Debian metapackage that pulls the current cloud kernel. */
  readonly kernelPackage: string;
  /**
   * How the kernel is delivered: x86_64 boots the bzImage directly; aarch64 VMMs
   * need the uncompressed `Image`, so the distro's gzip'd vmlinuz is inflated.
   */
  readonly kernelFormat: 'bzImage' | 'Image';
}

const archTable: Record<GuestArch, ArchInfo> = {
  x86_64: { arch: 'x86_64', debianArch: 'amd64', kernelPackage: 'linux-image-cloud-amd64', kernelFormat: 'bzImage' },
  aarch64: { arch: 'aarch64', debianArch: 'arm64', kernelPackage: 'linux-image-cloud-arm64', kernelFormat: 'Image' },
};

/** The names for `arch`. */
export function archInfo(arch: GuestArch): ArchInfo {
  return archTable[arch];
}

/** The host's architecture. Throws ImageBuildError on anything but x86_64/aarch64. */
export function hostArch(): ArchInfo {
  switch (process.arch) {
    case 'x64':
      return archTable.x86_64;
    case 'arm64':
      return archTable.aarch64;
    default:
      throw new ImageBuildError(`unsupported host architecture ${process.arch} (hob runs on x86_64 and aarch64)`);
  }
}

/** Programs the build runs, with the Debian package that provides each. */
const requiredTools: ReadonlyArray<readonly [string, string]> = [
  ['mmdebstrap', 'mmdebstrap'],
  ['mkfs.ext4', 'e2fsprogs'],
  ['dpkg-query', 'dpkg'],
  ['tar', 'tar'],
  ['cp', 'coreutils'],
];

/** Extra programs of a cross build: mmdebstrap runs arch-test before it uses qemu-user. */
const crossTools: ReadonlyArray<readonly [string, string]> = [['arch-test', 'arch-test']];

/**
 * Checks that the build can run here: root (mmdebstrap in root mode, and the tree's
 * files must keep their owners for mkfs.ext4 -d) and the tools above on PATH, plus
 * the cross tools when `cross`. Throws ImageBuildError naming what is missing.
 */
export async function checkBuildHost(cross = false): Promise<void> {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new ImageBuildError('building a guest image needs root (mmdebstrap, file ownership inside the image)');
  }
  const missing: string[] = [];
  for (const [tool, pkg] of cross ? [...requiredTools, ...crossTools] : requiredTools) {
    const r = await execa('which', [tool], { reject: false });
    if (r.exitCode !== 0) missing.push(`${tool} (apt-get install ${pkg})`);
  }
  if (missing.length > 0) throw new ImageBuildError(`missing build tools: ${missing.join(', ')}`);
}

/** First line of `<tool> --version`, recorded in the manifest; '' if it cannot be run. */
export async function toolVersion(tool: string, args: readonly string[] = ['--version']): Promise<string> {
  const r = await execa(tool, args, { reject: false, all: true });
  return (r.all ?? '').split('\n').find((l) => l.trim() !== '')?.trim() ?? '';
}
