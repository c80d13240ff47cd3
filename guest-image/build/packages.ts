/**
 * What goes into the Debian base tree: suite, mirrors, package sets and the dpkg
 * filters that keep the image small. Everything here is part of the base key,
 * so changing it rebuilds the tree.
 */
import type { ArchInfo } from './host.js';
import type { ImageVariant } from './types.js';

/** Debian release the guest is built from. */
export const debianSuite = 'bookworm';

export interface MirrorConfig {
  /** Main archive, e.g. http://deb.debian.org/debian */
  readonly main: string;
  /** Security archive, e.g. http://deb.debian.org/debian-security */
  readonly security: string;
}

export function resolveMirrors(opts: { mirror?: string; securityMirror?: string }): MirrorConfig {
  return {
    main: opts.mirror ?? process.env.HOB_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian',
    security: opts.securityMirror ?? process.env.HOB_DEBIAN_SECURITY_MIRROR ?? 'http://deb.debian.org/debian-security',
  };
}

/** One-line apt sources handed to mmdebstrap (they also become the guest's sources.list). */
export function aptSources(m: MirrorConfig, suite = debianSuite): string[] {
  return [
    `deb ${m.main} ${suite} main`,
    `deb ${m.main} ${suite}-updates main`,
    `deb ${m.security} ${suite}-security main`,
  ];
}

/**
 * Packages of the minimal variant on top of mmdebstrap's `minbase`.
 * tiny-initramfs only satisfies the kernel package's dependency on an initramfs
 * generator (it is tiny and fast); its output in /boot is discarded, the image
 * ships its own initramfs.
 */
export function minimalPackages(a: ArchInfo): string[] {
  return [
    a.kernelPackage,
    'tiny-initramfs',
    'tini',
    'busybox-static',
    'kmod',
    'util-linux', // fsfreeze, findmnt
    'e2fsprogs', // resize2fs
    'iproute2',
    'procps',
    'socat', // the agent bridges vsock through it on cloud-hypervisor
    'libstdc++6', // /opt/hob/node links it
    'ca-certificates',
    // git over HTTPS through the secret proxy is tested on this image (test/e2e/secrets.test.ts).
    // Without recommends (mmdebstrap installs none): git, git-man, perl, liberror-perl, libcurl3-gnutls.
    'git',
  ];
}

/** Extra packages of the dev variant. */
export const devExtraPackages: readonly string[] = [
  'sudo',
  'bash',
  'bash-completion',
  'git',
  'curl',
  'build-essential',
  'python3',
  'python3-pip',
  'python3-venv',
  'nodejs',
  'npm',
  'tmux',
  'jq',
  'less',
  'vim-tiny',
  'openssh-client',
  'iputils-ping',
  'dnsutils',
];

/** dev: the minimal set, then its extras; a package in both is listed once, where the extras put it. */
export function variantPackages(variant: ImageVariant, a: ArchInfo): string[] {
  const base = minimalPackages(a);
  return variant === 'dev' ? [...base.filter((p) => !devExtraPackages.includes(p)), ...devExtraPackages] : base;
}

/**
 * dpkg path filters: no man pages, info, docs (copyright files stay, the licences
 * require them), translations or lintian overrides.
 */
export const dpkgPathFilters: readonly string[] = [
  'path-exclude=/usr/share/man/*',
  'path-exclude=/usr/share/info/*',
  'path-exclude=/usr/share/doc/*',
  'path-include=/usr/share/doc/*/copyright',
  'path-exclude=/usr/share/locale/*',
  'path-include=/usr/share/locale/locale.alias',
  'path-exclude=/usr/share/lintian/*',
  'path-exclude=/usr/share/linda/*',
];

/** npm packages installed globally into the dev variant. */
export const devNpmPackages: readonly string[] = ['@anthropic-ai/claude-code'];
