/**
 * Everything in the pool is root's alone (issue 12, finding 7): an unprivileged
 * local user, a real uid switched to with setpriv, can neither list the pool's
 * directories nor read an image, a sandbox disk, a checkpoint or a memory
 * image; and an install made before this rule (0711 directories, 0644 files,
 * read-only checkpoints that cannot be chmod'ed) is closed when the pool opens.
 * The pool is a real loop-mounted btrfs in a temp dir opened to others (as
 * /var/lib is), so only the pool's own modes stand in the stranger's way.
 */
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Pool } from '../../daemon/storage/index.js';

const STRANGER = 65534; // nobody
const GiB = 1024 ** 3;

function missingPrerequisite(): string | undefined {
  if (process.getuid?.() !== 0) return 'root (mount, setpriv)';
  if (!existsSync('/dev/loop-control')) return 'loop devices (/dev/loop-control)';
  if (!existsSync('/sys/fs/btrfs')) return 'btrfs support in the kernel';
  if (!existsSync('/usr/bin/setpriv')) return 'setpriv (util-linux)';
  return undefined;
}
const missing = missingPrerequisite();
if (missing) console.warn(`pool modes test skipped: missing ${missing}`);

/** Runs `argv` as the unprivileged uid/gid 65534 without supplementary groups. */
function asStranger(argv: string[]) {
  return execa('setpriv', [`--reuid=${STRANGER}`, `--regid=${STRANGER}`, '--clear-groups', ...argv], { reject: false, env: { HOME: '/tmp' } });
}

/** Expects the stranger's `cat`/`ls` of every path to fail with EACCES. */
async function expectUnreadable(paths: string[]): Promise<void> {
  for (const p of paths) {
    const r = await asStranger([existsSync(p) && (await stat(p)).isDirectory() ? 'ls' : 'cat', p]);
    expect(r.exitCode, `${p} readable by uid ${STRANGER}: ${r.stdout.slice(0, 80)}`).not.toBe(0);
    expect(r.stderr, p).toContain('Permission denied');
  }
}

async function modeOf(p: string): Promise<string> {
  return ((await stat(p)).mode & 0o7777).toString(8);
}

describe.skipIf(missing !== undefined)(`pool files are root-only${missing ? ` [skipped: missing ${missing}]` : ''}`, () => {
  let tmp: string;
  let stateDir: string;
  let pool: Pool;
  const savedUmask = process.umask();

  beforeAll(async () => {
    tmp = await mkdtemp('/tmp/hob-pool-modes-');
    await chmod(tmp, 0o755);
    stateDir = join(tmp, 'state');
    await mkdir(stateDir, { mode: 0o711 });
    await chmod(stateDir, 0o711); // what prepareDaemonDirs gives /var/lib/hob
    // A permissive umask, so that only explicit modes make the files private.
    process.umask(0o022);
    pool = await Pool.open({ stateDir, imageSize: 2 * GiB });
  });

  afterAll(async () => {
    process.umask(savedUmask);
    if (!tmp) return;
    await pool?.close({ unmount: true }).catch(() => undefined);
    await execa('umount', ['-l', join(stateDir, 'pool')], { reject: false });
    await rm(tmp, { recursive: true, force: true });
  });

  /** An image, a sandbox made from it with a memory image, and a read-only checkpoint of it, as hob lays them out. */
  async function makeContent(tag: string) {
    const image = pool.imagePath(`img-${tag}`);
    await pool.createSubvolume(image);
    await writeFile(join(image, 'rootfs.img'), 'image rootfs');
    await pool.setReadOnly(image, true);
    const sandbox = pool.sandboxPath(`sb-${tag}`);
    await pool.snapshot(image, sandbox);
    await writeFile(join(sandbox, 'disk.img'), 'guest secrets');
    await mkdir(join(sandbox, 'memory'));
    await writeFile(join(sandbox, 'memory', 'memory.bin'), 'guest RAM');
    const checkpoint = pool.checkpointPath(`sb-${tag}`, 'v1');
    await pool.snapshot(sandbox, checkpoint, { readOnly: true });
    return {
      image,
      sandbox,
      checkpoint,
      files: [join(image, 'rootfs.img'), join(sandbox, 'disk.img'), join(sandbox, 'memory', 'memory.bin'), join(checkpoint, 'disk.img'), join(checkpoint, 'memory', 'memory.bin')],
    };
  }

  it('makes new directories 0700 and new files unreachable for another uid', async () => {
    const c = await makeContent('new');
    for (const d of [pool.root, ...['images', 'sandboxes', 'checkpoints', 'trash'].map((a) => join(pool.root, a)), c.sandbox, pool.checkpointsDir('sb-new')]) {
      expect(await modeOf(d), d).toBe('700');
    }
    // Writable subvolumes get private files too (defence in depth below the 0700 directories).
    expect(await modeOf(join(c.sandbox, 'disk.img'))).toBe('600');
    expect(await modeOf(join(c.checkpoint, 'disk.img'))).toBe('600');
    await expectUnreadable([pool.root, join(pool.root, 'sandboxes'), c.sandbox, ...c.files]);
    expect(await readFile(join(c.checkpoint, 'disk.img'), 'utf8')).toBe('guest secrets'); // root still reads it
  });

  it('closes an existing install at start-up, read-only checkpoints included', async () => {
    // The layout an older hob left: 0711 directories, 0755 subvolumes, 0644 files, a read-only
    // checkpoint whose 0644 files cannot be chmod'ed any more.
    const old = pool.sandboxPath('sb-old');
    await execa('btrfs', ['subvolume', 'create', old]);
    await writeFile(join(old, 'disk.img'), 'old secrets', { mode: 0o644 });
    await mkdir(join(old, 'memory'), { mode: 0o755 });
    await writeFile(join(old, 'memory', 'memory.bin'), 'old RAM', { mode: 0o644 });
    await chmod(old, 0o755);
    await mkdir(pool.checkpointsDir('sb-old'), { mode: 0o711 });
    const cp = pool.checkpointPath('sb-old', 'v1');
    await execa('btrfs', ['subvolume', 'snapshot', '-r', old, cp]);
    for (const d of [pool.root, join(pool.root, 'sandboxes'), join(pool.root, 'checkpoints'), pool.checkpointsDir('sb-old')]) await chmod(d, 0o711);
    const files = [join(old, 'disk.img'), join(old, 'memory', 'memory.bin'), join(cp, 'disk.img'), join(cp, 'memory', 'memory.bin')];
    // The finding: before the fix a plain read by another uid works.
    const before = await asStranger(['cat', join(cp, 'disk.img')]);
    expect(before.stdout).toBe('old secrets');

    const reopened = await Pool.open({ stateDir, imageSize: 2 * GiB });
    await reopened.close();
    await expectUnreadable(files);
    expect(await modeOf(pool.root)).toBe('700');
    expect(await modeOf(pool.checkpointsDir('sb-old'))).toBe('700');
    expect(await modeOf(old)).toBe('700');
    expect(await modeOf(join(old, 'disk.img'))).toBe('600');
    expect(await modeOf(join(old, 'memory'))).toBe('700');
    expect(await modeOf(join(old, 'memory', 'memory.bin'))).toBe('600');
    // The read-only checkpoint is left untouched (its parent directories keep others out).
    expect(await pool.isReadOnly(cp)).toBe(true);
    expect(await modeOf(join(cp, 'disk.img'))).toBe('644');
  });
});
