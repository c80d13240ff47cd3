/**
 * node-pty for an image of another architecture than the host's
 * (docs/architecture.md §5). node-pty 1.1.0 ships no Linux prebuilds, and its one
 * native file (build/Release/pty.node, N-API, so any Node 20 loads it) is small:
 * it is cross-compiled on the host with Debian's cross toolchain
 * (g++-aarch64-linux-gnu on x86_64, g++-x86-64-linux-gnu on aarch64) and npm's
 * node-gyp, against the headers of the pinned Node (node-runtime.ts). That takes
 * seconds where compiling in the target chroot under qemu-user takes minutes and
 * a compiler inside the image's base tree.
 *
 * Cached under <cache root>/node-pty/<version>-<arch>/ (package.json, lib/,
 * build/Release/pty.node): built once per node-pty version and architecture.
 */
import { existsSync } from 'node:fs';
import { cp, mkdir, rename, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { execa } from 'execa';
import { findNodePty, installNodePty, repoNodePtyDir, type NodePtyFiles } from './agent-files.js';
import { makeWorkDir, removeTree, withLock, type CacheLayout } from './cache.js';
import { ImageBuildError } from './errors.js';
import type { ArchInfo } from './host.js';
import type { NodeRuntime } from './node-runtime.js';
import { runTool } from './run.js';

/** GNU triplet prefix of the cross toolchain, and node-gyp's --arch, per target. */
const crossTargets = {
  aarch64: { triplet: 'aarch64-linux-gnu', gypArch: 'arm64', debianPackage: 'g++-aarch64-linux-gnu' },
  x86_64: { triplet: 'x86_64-linux-gnu', gypArch: 'x64', debianPackage: 'g++-x86-64-linux-gnu' },
} as const;

/** The Debian package with the C++ cross compiler for `target`. */
export function crossCompilerPackage(target: ArchInfo): string {
  return crossTargets[target.arch].debianPackage;
}

/** npm's bundled node-gyp (next to the npm that is on PATH). */
export async function nodeGypScript(): Promise<string> {
  const r = await execa('npm', ['root', '-g'], { reject: false });
  const candidates = [
    path.join(r.stdout.trim(), 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    '/usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js',
    '/usr/share/nodejs/node-gyp/bin/node-gyp.js',
  ];
  const found = candidates.find((c) => existsSync(c));
  if (!found) throw new ImageBuildError(`node-gyp not found (looked in ${candidates.join(', ')}); it comes with npm`);
  return found;
}

/**
 * node-pty built for `target`, from the cache or cross-compiled now.
 * Failure modes (ImageBuildError): the cross compiler is missing (names the
 * Debian package), node-gyp is missing, the compile fails (its output is quoted).
 */
export async function crossNodePty(
  cache: CacheLayout,
  target: ArchInfo,
  node: NodeRuntime,
  onLine?: (l: string) => void,
): Promise<NodePtyFiles> {
  const src = await findNodePty(repoNodePtyDir());
  const t = crossTargets[target.arch];
  const root = path.join(cache.root, 'node-pty');
  const dir = path.join(root, `${src.version}-${target.arch}`);
  if (existsSync(path.join(dir, 'package.json'))) return findNodePty(dir);
  const cxx = `${t.triplet}-g++`;
  if ((await execa('which', [cxx], { reject: false })).exitCode !== 0) {
    throw new ImageBuildError(`cross-compiling node-pty for ${target.arch} needs ${cxx} (apt-get install ${t.debianPackage})`);
  }
  await mkdir(root, { recursive: true });
  return withLock(cache, `node-pty-${src.version}-${target.arch}`, async () => {
    if (existsSync(path.join(dir, 'package.json'))) return findNodePty(dir);
    const work = await makeWorkDir(cache, 'ptyx');
    try {
      // The package's sources, with node-addon-api where its binding.gyp require()s it. Copied,
      // not linked: gyp writes a stamp file next to node-addon-api's sources.
      const pkg = path.join(work, 'node_modules', 'node-pty');
      await cp(src.dir, pkg, { recursive: true });
      await rm(path.join(pkg, 'build'), { recursive: true, force: true });
      const addonApi = path.dirname(createRequire(path.join(src.dir, 'package.json')).resolve('node-addon-api/package.json'));
      await cp(addonApi, path.join(work, 'node_modules', 'node-addon-api'), { recursive: true });
      onLine?.(`cross-compiling node-pty ${src.version} for ${target.arch} with ${cxx}`);
      await runTool(process.execPath, [await nodeGypScript(), 'rebuild', `--arch=${t.gypArch}`, `--nodedir=${node.nodedir}`], {
        cwd: pkg,
        env: {
          ...(process.env as Record<string, string>),
          CC: `${t.triplet}-gcc`,
          CXX: cxx,
          LINK: cxx,
          AR: `${t.triplet}-ar`,
          // node-gyp lets npm's environment (npm run, npx; nodedir from an npmrc) override --nodedir.
          npm_config_nodedir: node.nodedir,
        },
        ...(onLine ? { onLine } : {}),
      });
      const built = await findNodePty(pkg);
      const out = path.join(work, 'out');
      await installNodePty(built, out);
      await rename(out, dir);
      return findNodePty(dir);
    } finally {
      await removeTree(work).catch(() => undefined);
    }
  });
}
