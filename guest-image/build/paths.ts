/**
 * Where the builder's source files are. Resolved from the repository root (found
 * by walking up to hob's package.json) rather than from this module, so the
 * builder works the same when run with tsx from the sources and when compiled
 * into dist/.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ImageBuildError } from './errors.js';

function findRepoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (existsSync(pkg) && existsSync(path.join(dir, 'guest-image', 'build'))) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: unknown }).name === 'hob') return dir;
      } catch {
        // not ours; keep walking
      }
    }
    const up = path.dirname(dir);
    if (up === dir) throw new ImageBuildError('cannot find the hob repository root (package.json named "hob")');
    dir = up;
  }
}

/** Absolute path of the repository root. */
export const repoRoot = findRepoRoot();

export const sourcePaths = {
  /** The builder's own sources (hashed into the image key). */
  buildDir: path.join(repoRoot, 'guest-image', 'build'),
  devHook: path.join(repoRoot, 'guest-image', 'build', 'hooks', 'customize-dev.sh'),
  initramfsInit: path.join(repoRoot, 'guest-image', 'build', 'initramfs', 'init'),
  /** Copied over the tree: /opt/hob/init, /etc/hosts, ... */
  rootfsOverlay: path.join(repoRoot, 'guest-image', 'rootfs'),
  bundleAgentScript: path.join(repoRoot, 'guest-image', 'bundle-agent.mjs'),
  packageLock: path.join(repoRoot, 'package-lock.json'),
} as const;
