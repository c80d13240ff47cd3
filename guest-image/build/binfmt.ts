/**
 * Cross builds (docs/architecture.md §5): mmdebstrap runs the target's maintainer
 * scripts inside the chroot, so the kernel must hand foreign ELF binaries to
 * qemu-user-static through binfmt_misc. hob registers that handler only for the
 * duration of a build and leaves the host as it found it:
 *
 * - binfmt_misc not mounted: mounted, and unmounted after the last build.
 * - a `qemu-<arch>` handler already registered (binfmt-support, systemd-binfmt):
 *   used as it is and never touched.
 * - none: registered from qemu-user-static's own definition
 *   (/usr/lib/binfmt.d/qemu-<arch>.conf) with the F flag (the kernel opens the
 *   interpreter at registration, so it works inside the chroot), and removed after
 *   the last build.
 *
 * Concurrent builds share one registration: each holds a file named by its pid in
 * /run/hob-image-build/binfmt-<arch>/holders/ (tmpfs, like the registration
 * itself), changes happen under a lock there, and the last holder to leave undoes
 * what the first one did (markers `mounted` and `registered` say what that was).
 * Holders whose process died are dropped, so a killed build is cleaned up by the next.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { pidAlive, withLock } from './cache.js';
import { ImageBuildError } from './errors.js';
import type { ArchInfo } from './host.js';

const binfmtDir = '/proc/sys/fs/binfmt_misc';
const stateRoot = '/run/hob-image-build';

/** qemu-user-static's registration line for `arch` (name, magic, mask, interpreter, flags). */
export interface BinfmtEntry {
  readonly name: string;
  readonly line: string;
  readonly interpreter: string;
}

/**
 * Parses a binfmt.d line `:name:type:offset:magic:mask:interpreter:flags` and
 * adds the F flag. Throws ImageBuildError on anything else.
 */
export function parseBinfmtConf(text: string): BinfmtEntry {
  const line = text.split('\n').map((l) => l.trim()).find((l) => l.startsWith(':'));
  const f = line?.split(':') ?? [];
  if (!line || f.length !== 8) throw new ImageBuildError(`unexpected binfmt.d entry: ${line ?? '(none)'}`);
  const [, name = '', , , , , interpreter = '', flags = ''] = f;
  const withF = flags.includes('F') ? flags : `${flags}F`;
  return { name, interpreter, line: [...f.slice(0, 7), withF].join(':') };
}

async function liveHolders(dir: string): Promise<number[]> {
  const live: number[] = [];
  for (const n of await readdir(dir).catch(() => [] as string[])) {
    const pid = Number.parseInt(n, 10);
    if (Number.isFinite(pid) && pidAlive(pid)) live.push(pid);
    else await rm(path.join(dir, n), { force: true });
  }
  return live;
}

async function handlerEnabled(name: string): Promise<boolean> {
  const text = await readFile(path.join(binfmtDir, name), 'utf8').catch(() => '');
  return text.split('\n')[0] === 'enabled';
}

/**
 * Runs `fn` with binaries of `target` executable on this host (a no-op when
 * `target` is the host's architecture). `log` receives what was changed.
 * Failure modes (ImageBuildError): qemu-user-static not installed, binfmt_misc
 * cannot be mounted or is globally disabled, the registration is refused.
 */
export async function withForeignExec<T>(
  target: ArchInfo,
  host: ArchInfo,
  fn: () => Promise<T>,
  log: (line: string) => void = () => undefined,
): Promise<T> {
  if (target.arch === host.arch) return fn();
  const conf = `/usr/lib/binfmt.d/qemu-${target.arch}.conf`;
  if (!existsSync(conf)) {
    throw new ImageBuildError(`building an ${target.debianArch} image on ${host.debianArch} needs qemu-user-static (apt-get install qemu-user-static): ${conf} is missing`);
  }
  const entry = parseBinfmtConf(await readFile(conf, 'utf8'));
  if (!existsSync(entry.interpreter)) throw new ImageBuildError(`qemu-user-static's interpreter ${entry.interpreter} is missing`);
  const state = path.join(stateRoot, `binfmt-${target.arch}`);
  const holders = path.join(state, 'holders');
  await mkdir(holders, { recursive: true });
  const lock = { locksDir: state };

  await withLock(lock, 'change', async () => {
    if (!existsSync(path.join(binfmtDir, 'register'))) {
      const r = await execa('mount', ['-t', 'binfmt_misc', 'binfmt_misc', binfmtDir], { reject: false });
      if (r.exitCode !== 0) throw new ImageBuildError(`cannot mount binfmt_misc on ${binfmtDir}: ${r.stderr}`);
      await writeFile(path.join(state, 'mounted'), '');
      log(`mounted binfmt_misc on ${binfmtDir} (for this build)`);
    }
    if ((await readFile(path.join(binfmtDir, 'status'), 'utf8')).trim() !== 'enabled') {
      throw new ImageBuildError(`binfmt_misc is disabled on this host (${binfmtDir}/status); hob does not turn it on`);
    }
    if (!(await handlerEnabled(entry.name))) {
      if (existsSync(path.join(binfmtDir, entry.name))) {
        throw new ImageBuildError(`the binfmt_misc handler ${entry.name} exists but is disabled; hob does not change it`);
      }
      await writeFile(path.join(binfmtDir, 'register'), entry.line).catch((err: unknown) => {
        throw new ImageBuildError(`cannot register ${entry.name} with binfmt_misc: ${(err as Error).message}`);
      });
      await writeFile(path.join(state, 'registered'), entry.name);
      log(`registered binfmt_misc handler ${entry.name} -> ${entry.interpreter} (for this build)`);
    }
    await writeFile(path.join(holders, String(process.pid)), '');
  });

  try {
    return await fn();
  } finally {
    await withLock(lock, 'change', async () => {
      await rm(path.join(holders, String(process.pid)), { force: true });
      if ((await liveHolders(holders)).length > 0) return;
      if (existsSync(path.join(state, 'registered'))) {
        await writeFile(path.join(binfmtDir, entry.name), '-1').catch(() => undefined);
        await rm(path.join(state, 'registered'), { force: true });
        log(`removed binfmt_misc handler ${entry.name}`);
      }
      if (existsSync(path.join(state, 'mounted'))) {
        await execa('umount', [binfmtDir], { reject: false });
        await rm(path.join(state, 'mounted'), { force: true });
        log(`unmounted binfmt_misc from ${binfmtDir}`);
      }
    });
  }
}
