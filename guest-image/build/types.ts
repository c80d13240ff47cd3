/**
 * Public types of the guest image builder. The daemon (images API, install) and
 * the test harness use these; everything else in guest-image/build is internal.
 */
import type { GuestArch } from '../../daemon/vmm/types.js';
import type { ImageManifest } from './manifest.js';

export type { GuestArch };

/**
 * Which package set the image holds.
 * - `minimal`: base system, busybox, kmod, e2fsprogs, iproute2, socat, the agent. For tests.
 * - `dev`: minimal plus a user `hob` (uid 1000, passwordless sudo), bash, git, curl,
 *   build-essential, Python, Debian's nodejs/npm, Claude Code, tmux, jq, ... The default for users.
 */
export type ImageVariant = 'minimal' | 'dev';
export const imageVariants: readonly ImageVariant[] = ['minimal', 'dev'];

/** Where the files of one built image are. All paths are absolute. */
export interface GuestImagePaths {
  /** Directory holding the four files below (and nothing else). */
  readonly dir: string;
  /** x86_64: the distro bzImage as is. aarch64: the uncompressed arm64 `Image`. */
  readonly kernel: string;
  /** gzip-compressed newc cpio: busybox, the virtio modules, /init. */
  readonly initramfs: string;
  /** Raw ext4 filesystem image (sparse). Copy it, then grow the copy to the disk size. */
  readonly rootfs: string;
  /** manifest.json (see ImageManifest). */
  readonly manifest: string;
}

export interface BuildOptions {
  /** Default `minimal`. */
  readonly variant?: ImageVariant;
  /**
   * Architecture of the image. Default: the host's. Another one is a cross build:
   * it needs qemu-user-static (binfmt_misc, registered only while mmdebstrap runs)
   * and the C++ cross compiler for node-pty (see guest-image/build/binfmt.ts and node-pty-cross.ts).
   */
  readonly arch?: GuestArch;
  /**
   * Cache root. Default: $HOB_IMAGE_CACHE, else /var/cache/hob/guest-images.
   * Must be outside the repository; it holds base trees (tarballs) and finished images.
   */
  readonly cacheDir?: string;
  /**
   * If set, the finished image's files are also copied (sparse, reflinked where the
   * filesystem can) into this directory, which is created if missing; the returned
   * paths then point there. Existing files of the same names are replaced.
   */
  readonly outDir?: string;
  /** Rebuild the final image even if the cache holds one with the same key. */
  readonly force?: boolean;
  /** Also rebuild the Debian base tree (for example to pick up security updates). */
  readonly forceBase?: boolean;
  /**
   * Debian mirror for the main archive. Default $HOB_DEBIAN_MIRROR, else
   * http://deb.debian.org/debian. Security updates come from
   * $HOB_DEBIAN_SECURITY_MIRROR, else http://deb.debian.org/debian-security.
   */
  readonly mirror?: string;
  readonly securityMirror?: string;
  /** Agent entry to bundle. Default: $HOB_AGENT_ENTRY, else guest-image/agent/main.ts. */
  readonly agentEntry?: string;
  /** Aborts the build; the cache is left as it was (temporary files are removed). */
  readonly signal?: AbortSignal;
}

/** The build's phases, in order. */
export const buildPhases = [
  'inputs',
  'base',
  'unpack',
  'kernel',
  'initramfs',
  'rootfs',
  'filesystem',
  'finish',
] as const;
export type BuildPhase = (typeof buildPhases)[number];

interface ProgressCommon {
  readonly phase: BuildPhase;
  /** 1-based index of `phase` in buildPhases. */
  readonly step: number;
  /** buildPhases.length. */
  readonly total: number;
  /** Human-readable text, one line. */
  readonly message: string;
  /** Milliseconds since buildImage was called. */
  readonly elapsedMs: number;
}

/**
 * Progress of a build, delivered in order to the `onProgress` callback.
 * - `phase`: a phase begins (or a cached result is reused: see `message`).
 * - `log`: one line of output from a tool of the current phase (mmdebstrap, npm, ...).
 * - `done`: the last event; the image is ready.
 */
export type BuildProgress =
  | (ProgressCommon & { readonly kind: 'phase' })
  | (ProgressCommon & { readonly kind: 'log' })
  | (ProgressCommon & {
      readonly kind: 'done';
      /** True if the image came from the cache without building anything. */
      readonly cached: boolean;
      readonly paths: GuestImagePaths;
    });

export type ProgressListener = (event: BuildProgress) => void;

export interface BuildResult {
  readonly paths: GuestImagePaths;
  readonly manifest: ImageManifest;
  /** True if the image was already in the cache. */
  readonly cached: boolean;
  /** Hash of all inputs; names the cache entry. */
  readonly key: string;
}
