/**
 * A fresh Debian 12 root for system tests: mmdebstrap's `minbase` (plus
 * ca-certificates), extracted into a temporary directory and entered through
 * a private mount namespace, so that every mount made for it or inside it
 * (proc, sys, dev, the caches, hob's loop-mounted pool) disappears with the
 * namespace even when a test fails half-way.
 *
 * Caches kept between runs under $HOB_TEST_CACHE (default
 * /var/cache/hob/test-install): the mmdebstrap tarball (one per argument
 * set), and, bind-mounted into the root, apt's downloaded packages and
 * npm's cache.
 *
 * What is copied in from this host, because it is how this host reaches the
 * package registries and what a fresh box would get from the Node.js vendor
 * (NodeSource is not reachable from CI, only the npm registry and Debian's
 * archive are): the host's Node.js installation (node, npm, the headers
 * node-gyp compiles against), the host's npm configuration (global and
 * root's npmrc: registry CA file, nodedir) and the extra CA certificates in
 * /usr/local/share/ca-certificates, and better-sqlite3's prebuilt binary
 * (see seedPrebuilds). A root of the other architecture (arm64 on x86_64) gets that
 * architecture's Node.js and a cross-built better-sqlite3 instead (foreign-node.ts), and its
 * programs run under qemu-user through binfmt_misc, registered for the root's lifetime only
 * (foreign-exec.ts).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, readdir, rename, rm, stat, symlink, readlink } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { execa } from 'execa';
import { hostArch } from '../../guest-image/build/host.js';
import type { NodeRuntime } from '../../guest-image/build/node-runtime.js';
import type { GuestArch } from '../../guest-image/build/types.js';
import { holdForeignExec } from './foreign-exec.js';
import { crossBetterSqlite3, foreignNode } from './foreign-node.js';

export const REPO = resolve(import.meta.dirname, '../..');
export const CACHE = process.env.HOB_TEST_CACHE ?? '/var/cache/hob/test-install';
/** Where the repository is copied inside the root: a user's checkout. */
export const CHECKOUT = '/root/hob';
const MIRROR = process.env.HOB_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian';
const PATH_IN_ROOT = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Why these tests cannot run here, or null. */
export function chrootUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (mmdebstrap, chroot, mounts)';
  const dirs = ['/usr/bin', '/usr/sbin', '/bin', '/sbin'];
  for (const tool of ['mmdebstrap', 'unshare', 'nsenter', 'chroot', 'tar']) {
    if (!dirs.some((d) => existsSync(join(d, tool)))) return `needs ${tool} (not installed)`;
  }
  return null;
}

/** The host's architecture unless a test asks for the other one (run under qemu-user). */
const HOST_ARCH: GuestArch = hostArch().arch;

function mmdebstrapArgs(out: string, arch: GuestArch): string[] {
  // The host's own root keeps the arguments (and so the cache key) it always had.
  const foreign = arch === HOST_ARCH ? [] : [`--arch=${arch === 'aarch64' ? 'arm64' : 'amd64'}`];
  return ['--mode=root', '--variant=minbase', '--include=ca-certificates', ...foreign, '--format=tar', 'bookworm', out, MIRROR];
}

/**
 * The cached base tarball of `arch`, made with mmdebstrap first when missing (a few minutes
 * once; a foreign one runs its maintainer scripts under qemu-user, several times that).
 */
export async function baseTarball(log: (line: string) => void, arch: GuestArch = HOST_ARCH): Promise<string> {
  const key = createHash('sha256').update(JSON.stringify(mmdebstrapArgs('<out>', arch))).digest('hex').slice(0, 16);
  const tarball = join(CACHE, `bookworm-minbase-${key}.tar`);
  if (existsSync(tarball)) return tarball;
  await mkdir(CACHE, { recursive: true });
  const tmp = `${tarball}.tmp-${randomBytes(4).toString('hex')}`;
  log(`mmdebstrap: building ${tarball}`);
  const release = arch === HOST_ARCH ? async () => undefined : await holdForeignExec(arch, log);
  try {
    await execa('mmdebstrap', ['--quiet', ...mmdebstrapArgs(tmp, arch)], { env: { TMPDIR: CACHE } });
    await rename(tmp, tarball);
  } finally {
    await rm(tmp, { force: true });
    await release();
  }
  return tarball;
}

/** Files of the repository as git sees them (tracked and untracked-but-not-ignored), that exist. */
async function repoFiles(): Promise<string[]> {
  const r = await execa('git', ['-C', REPO, 'ls-files', '-z', '--cached', '--others', '--exclude-standard']);
  const files = r.stdout.split('\0').filter((f) => f !== '');
  const out: string[] = [];
  for (const f of files) if (existsSync(join(REPO, f))) out.push(f);
  return out;
}

/**
 * Copies the host's Node.js (prefix of process.execPath) and npm configuration into `root`. With
 * `foreign` (a root of the other architecture), its node binary and headers take the host's place
 * at the same paths; npm is JavaScript and comes from the host either way.
 */
async function copyNode(root: string, foreign?: NodeRuntime): Promise<void> {
  const prefix = dirname(dirname(process.execPath));
  await mkdir(join(root, prefix, 'bin'), { recursive: true });
  await cp(foreign?.path ?? process.execPath, join(root, prefix, 'bin', 'node'), { preserveTimestamps: true });
  for (const dir of ['lib/node_modules/npm', 'include/node']) {
    const from = foreign && dir === 'include/node' ? foreign.nodedir : prefix;
    if (existsSync(join(from, dir))) await cp(join(from, dir), join(root, prefix, dir), { recursive: true, verbatimSymlinks: true });
  }
  for (const bin of ['npm', 'npx']) {
    const p = join(prefix, 'bin', bin);
    if (existsSync(p)) {
      const target = await readlink(p).catch(() => undefined);
      if (target !== undefined) await symlink(target, join(root, prefix, 'bin', bin));
      else await cp(p, join(root, prefix, 'bin', bin));
    }
  }
  // npm's global config (next to node) and this user's (HOME is /root inside the root).
  for (const [rc, inside] of [
    [join(prefix, 'etc', 'npmrc'), join(prefix, 'etc', 'npmrc')],
    [join(homedir(), '.npmrc'), '/root/.npmrc'],
  ] as const) {
    if (existsSync(rc)) {
      await mkdir(join(root, dirname(inside)), { recursive: true });
      await cp(rc, join(root, inside));
    }
  }
}

/**
 * better-sqlite3's prebuilt binary, which a box that reaches github.com downloads during npm ci
 * (prebuild-install) and this one cannot: made from this host's build of the same version for
 * the same Node.js (the one copied in), and handed over through prebuild-install's local
 * prebuilds directory. Without it, npm ci compiles SQLite from source, about 5 minutes on a
 * 2-core machine. node-pty has no Linux prebuilds and is still compiled by npm ci, so the build
 * tools install.sh installs are exercised. Returns the environment pointing prebuild-install at
 * it, or nothing when the host has no build (then npm ci compiles, which is only slower).
 */
async function seedPrebuilds(root: string, foreign: NodeRuntime | undefined, crossPrebuilds: boolean, log: (line: string) => void): Promise<Record<string, string>> {
  if (foreign) {
    if (!crossPrebuilds) return {};
    const tarball = await crossBetterSqlite3(REPO, CACHE, foreign, log);
    await mkdir(join(root, 'root', 'prebuilds'), { recursive: true });
    await cp(tarball, join(root, 'root', 'prebuilds', basename(tarball)));
    return { npm_config_better_sqlite3_local_prebuilds: '/root/prebuilds' };
  }
  const pkgDir = join(REPO, 'node_modules', 'better-sqlite3');
  const binary = join(pkgDir, 'build', 'Release', 'better_sqlite3.node');
  if (!existsSync(binary)) return {};
  const { version } = JSON.parse(await readFile(join(pkgDir, 'package.json'), 'utf8')) as { version: string };
  const name = `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`;
  await mkdir(join(root, 'root', 'prebuilds'), { recursive: true });
  await execa('tar', ['-czf', join(root, 'root', 'prebuilds', name), '-C', pkgDir, 'build/Release/better_sqlite3.node']);
  return { npm_config_better_sqlite3_local_prebuilds: '/root/prebuilds' };
}

/** The extra CA certificates of this host (a proxy's CA, say), made trusted in `root`. */
async function copyCaCertificates(root: string): Promise<void> {
  const dir = '/usr/local/share/ca-certificates';
  const entries = await readdir(dir).catch(() => [] as string[]);
  if (entries.length === 0) return;
  await cp(dir, join(root, dir), { recursive: true });
  await execa('chroot', [root, 'update-ca-certificates'], { env: { PATH: PATH_IN_ROOT } });
}

export interface RunOptions {
  readonly env?: Readonly<Record<string, string>>;
  readonly timeoutMs?: number;
}

/** How a command in the root ended. */
export interface RunResult {
  /** -1 when it was killed (timeout). */
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface FreshRoot {
  /** The root directory on the host. */
  readonly dir: string;
  /** Host path of a path inside the root. */
  path(inside: string): string;
  /** Runs argv inside the root (clean environment, PATH, HOME=/root). Never rejects on a non-zero exit. */
  run(argv: readonly string[], options?: RunOptions): Promise<RunResult>;
  /** Starts a long-running argv inside the root; the returned process is the program itself (nsenter, chroot and env exec). */
  spawn(argv: readonly string[], options?: RunOptions): ChildProcess;
  /** Unmounts everything, ends the namespace, deletes the root. Safe to call twice. */
  destroy(): Promise<void>;
}

/**
 * Extracts a fresh root from the base tarball, copies the repository to
 * /root/hob and the host's Node.js in, and mounts proc, sys, dev and the
 * caches inside a private mount namespace.
 */
export interface FreshRootOptions {
  /** The root's architecture (default: the host's); another one runs under qemu-user. */
  readonly arch?: GuestArch;
  /** For another architecture: hand npm ci a cross-built better-sqlite3 (default), or let it compile SQLite in the root. */
  readonly crossPrebuilds?: boolean;
}

export async function createFreshRoot(log: (line: string) => void, options: FreshRootOptions = {}): Promise<FreshRoot> {
  const arch = options.arch ?? HOST_ARCH;
  const tarball = await baseTarball(log, arch);
  const foreign = arch === HOST_ARCH ? undefined : await foreignNode(arch, log);
  const dir = await mkdtemp('/var/tmp/hob-install-test-');
  let holder: ChildProcess | undefined;
  let releaseForeignExec: (() => Promise<void>) | undefined;
  /** Environment of every command in the root besides PATH, HOME and LANG (see seedPrebuilds). */
  let baseEnv: Record<string, string> = {};
  const nsArgs = (): string[] => ['-t', String(holder?.pid), '-m', '--'];
  const envArgs = (env: Readonly<Record<string, string>> = {}): string[] => [
    'env',
    '-i',
    `PATH=${PATH_IN_ROOT}`,
    'HOME=/root',
    'LANG=C.UTF-8',
    ...Object.entries({ ...baseEnv, ...env }).map(([k, v]) => `${k}=${v}`),
  ];
  const destroy = async (): Promise<void> => {
    if (holder?.pid !== undefined && holder.exitCode === null) {
      // Lazy-unmount everything under the root inside the namespace, deepest first, then end it.
      const info = await readFile(`/proc/${holder.pid}/mountinfo`, 'utf8').catch(() => '');
      const points = info
        .split('\n')
        .map((l) => l.split(' ')[4])
        .filter((p): p is string => p !== undefined && p.startsWith(`${dir}/`))
        .sort((a, b) => b.length - a.length);
      for (const p of points) await execa('nsenter', [...nsArgs(), 'umount', '-l', p], { reject: false });
      holder.kill('SIGKILL');
      await new Promise((r) => holder?.once('exit', r));
    }
    holder = undefined;
    await releaseForeignExec?.();
    releaseForeignExec = undefined;
    await rm(dir, { recursive: true, force: true });
  };

  try {
    if (foreign) releaseForeignExec = await holdForeignExec(arch, log);
    await execa('tar', ['-C', dir, '-xf', tarball]);
    // This host's resolver, as any chroot needs.
    await cp('/etc/resolv.conf', join(dir, 'etc/resolv.conf'), { dereference: true });
    await copyCaCertificates(dir);
    await copyNode(dir, foreign);
    baseEnv = await seedPrebuilds(dir, foreign, options.crossPrebuilds ?? true, log);
    const files = await repoFiles();
    await mkdir(join(dir, CHECKOUT), { recursive: true });
    await execa('tar', ['-C', REPO, '--null', '-T', '-', '-cf', join(dir, 'root/hob.tar')], { input: files.join('\0') });
    await execa('tar', ['-C', join(dir, CHECKOUT), '-xf', join(dir, 'root/hob.tar')]);
    await rm(join(dir, 'root/hob.tar'));

    holder = spawn('unshare', ['--mount', '--propagation', 'private', 'sleep', 'infinity'], { stdio: 'ignore' });
    await new Promise<void>((resolveSpawn, reject) => {
      holder?.once('spawn', resolveSpawn);
      holder?.once('error', reject);
    });
    // unshare execs sleep once the namespace exists: wait for that (the exe changes).
    for (let i = 0; i < 100 && !(await readlink(`/proc/${holder.pid}/exe`).catch(() => '')).endsWith('/sleep'); i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    const inNs = (argv: string[]) => execa('nsenter', [...nsArgs(), ...argv]);
    await inNs(['mount', '-t', 'proc', 'proc', join(dir, 'proc')]);
    await inNs(['mount', '--rbind', '/sys', join(dir, 'sys')]);
    await inNs(['mount', '--rbind', '/dev', join(dir, 'dev')]);
    for (const [cache, inside] of [
      ['apt-archives', '/var/cache/apt/archives'],
      ['npm-cache', '/root/.npm'],
    ] as const) {
      await mkdir(join(CACHE, cache), { recursive: true });
      await mkdir(join(dir, inside), { recursive: true });
      await inNs(['mount', '--bind', join(CACHE, cache), join(dir, inside)]);
    }
  } catch (err) {
    await destroy();
    throw err;
  }

  return {
    dir,
    path: (inside) => join(dir, inside),
    run: async (argv, options = {}) => {
      const r = await execa('nsenter', [...nsArgs(), 'chroot', dir, ...envArgs(options.env), ...argv], {
        reject: false,
        timeout: options.timeoutMs ?? 600_000,
        stdin: 'ignore',
      });
      return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
    },
    spawn: (argv, options = {}) =>
      spawn('nsenter', [...nsArgs(), 'chroot', dir, ...envArgs(options.env), ...argv], { stdio: ['ignore', 'pipe', 'pipe'] }),
    destroy,
  };
}

/** mtime (ms) of a host path, or undefined when it does not exist. */
export async function mtimeOf(path: string): Promise<number | undefined> {
  return stat(path).then(
    (s) => s.mtimeMs,
    () => undefined,
  );
}
