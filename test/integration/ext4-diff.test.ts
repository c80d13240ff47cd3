/**
 * The ext4 image diff on real ext4 images (mkfs.ext4 -d), changed through a
 * real read-write loop mount of the test's own image (trusted: made here),
 * compared by the user-space reader: the mount table is watched during the
 * diff, and the host kernel must never mount an image as ext4 for it.
 * Needs root, loop devices, e2fsprogs and diffutils; skips with a message otherwise.
 */
import { existsSync } from 'node:fs';
import { chmod, chown, link, mkdir, mkdtemp, readFile, readdir, rm, symlink, truncate, unlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DiffEntry } from '../../daemon/core/types.js';
import { BadRequestError, HobError, NotFoundError } from '../../daemon/errors.js';
import { cleanupExt4Scratch, diffExt4Images, fileDiffExt4Images, ImageUnreadableError } from '../../daemon/storage/ext4-diff.js';
import { watchExtMounts } from '../helpers/mount-watch.js';
import { onPath } from '../helpers/on-path.js';

function missingPrerequisite(): string | undefined {
  if (process.getuid?.() !== 0) return 'root (mount, loop devices)';
  if (!existsSync('/dev/loop-control')) return 'loop devices (/dev/loop-control)';
  if (!onPath('mkfs.ext4')) return 'e2fsprogs (mkfs.ext4)';
  if (!onPath('diff')) return 'diffutils (diff)';
  if (!onPath('losetup')) return 'util-linux (losetup)';
  return undefined;
}
const missing = missingPrerequisite();
if (missing) console.warn(`ext4 diff integration tests skipped: missing ${missing}`);

const MiB = 1024 ** 2;
/** A fixed mtime (2020-01-02T03:04:05Z) for files whose change must be visible by mtime alone. */
const T0 = 1577934245;

/** Mountpoints at or under `dir`, deepest first. */
async function mountsUnder(dir: string): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  return text.split('\n').map((l) => l.split(' ')[4] ?? '')
    .map((m) => m.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((m) => m === dir || m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

/** Loop devices (from `losetup -a`) whose backing file is under `dir`. */
async function loopsUnder(dir: string): Promise<string[]> {
  const { stdout } = await execa('losetup', ['-a']);
  return stdout.split('\n').filter((l) => l.includes(`(${dir}/`));
}

/** `<root>/srv/caf\xe9.txt` as bytes: a file name that is not valid UTF-8. */
function latin1Name(root: string): Buffer {
  return Buffer.concat([Buffer.from(`${root}/srv/`), Buffer.from('caf\xe9.txt', 'latin1')]);
}

/** Compact form for exact comparison. */
function summary(entries: readonly DiffEntry[]): string[] {
  return entries.map((e) => `${e.change} ${e.type} ${e.path}`);
}

describe.skipIf(missing !== undefined)('ext4 image diff (real images, real loop mounts)', () => {
  let tmp: string;
  let older: string;
  let newer: string;
  let scratch: string;

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'hob-ext4-diff-'));
    scratch = join(tmp, 'scratch');
    const tree = join(tmp, 'tree');
    const w = (p: string, data: string | Buffer) => writeFile(join(tree, p), data);
    for (const d of ['etc', 'root/olddir/sub', 'srv/unchanged', 'srv/owned', 'var']) await mkdir(join(tree, d), { recursive: true });
    await w('etc/hostname', 'box\n');
    await w('root/notes.txt', 'line one\nold line\nline three\n');
    await w('root/same-size.txt', 'AAAA\n');
    await w('root/sneaky.txt', 'BBBB\n');
    await w('root/grow.txt', 'short\n');
    await w('root/chmod-me.sh', '#!/bin/sh\n');
    await chmod(join(tree, 'root/chmod-me.sh'), 0o644);
    await w('root/touch-me.txt', 'touch\n');
    await w('root/delete-me.txt', 'bye\n');
    await w('root/olddir/a.txt', 'a\n');
    await w('root/olddir/sub/b.txt', 'b\n');
    await symlink('notes.txt', join(tree, 'root/link'));
    // Absolute and pointing at a host directory: must never be followed on the host.
    await symlink('/etc', join(tree, 'root/escape'));
    await w('srv/bin.dat', Buffer.from([1, 2, 0, 3, 4]));
    // A name that is not valid UTF-8 (latin1 "café.txt"): must still be read through its bytes.
    await writeFile(latin1Name(tree), 'caf\n');
    await w('srv/big.txt', 'x'.repeat(1023).concat('\n').repeat(9 * 1024)); // 9 MiB of text
    for (let i = 0; i < 50; i++) await w(`srv/unchanged/f${i}`, `file ${i}\n`);
    await w('var/x', 'a file that becomes a directory\n');
    for (const f of ['root/sneaky.txt', 'root/touch-me.txt', 'etc/hostname']) await utimes(join(tree, f), T0, T0);

    older = join(tmp, 'older.img');
    newer = join(tmp, 'newer.img');
    await execa('mkfs.ext4', ['-q', '-d', tree, older, '64M']);
    await execa('cp', ['--reflink=auto', older, newer]);

    // The scripted changes, through a read-write loop mount of the copy.
    const mnt = join(tmp, 'rw');
    await mkdir(mnt);
    await execa('mount', ['-t', 'ext4', '-o', 'loop', newer, mnt]);
    try {
      const m = (p: string) => join(mnt, p);
      await writeFile(m('root/new.txt'), 'hello\n');
      await mkdir(m('root/newdir/deeper'), { recursive: true });
      await writeFile(m('root/newdir/inner.txt'), 'inner\n');
      await writeFile(m('root/newdir/deeper/x.txt'), 'x\n');
      await symlink('/etc/hostname', m('root/newlink'));
      await writeFile(m('root/notes.txt'), 'line one\nnew line\nline three\n');
      await writeFile(m('root/same-size.txt'), 'ZZZZ\n');
      await writeFile(m('root/grow.txt'), 'short\nand longer\n');
      // Same size, mtime put back: only ctime tells, the content compare must catch it.
      await writeFile(m('root/sneaky.txt'), 'CCCC\n');
      await utimes(m('root/sneaky.txt'), T0, T0);
      await chmod(m('root/chmod-me.sh'), 0o755);
      await utimes(m('root/touch-me.txt'), T0 + 60, T0 + 60);
      await unlink(m('root/delete-me.txt'));
      await rm(m('root/olddir'), { recursive: true });
      await unlink(m('root/link'));
      await symlink('new.txt', m('root/link'));
      await writeFile(m('srv/bin.dat'), Buffer.from([1, 2, 0, 3, 5]));
      await writeFile(latin1Name(mnt), 'cafe\n');
      // Not changes: the same bytes rewritten with the mtime put back (ctime moves),
      // and a hard link to an existing file (its ctime and link count move).
      await writeFile(m('etc/hostname'), 'box\n');
      await utimes(m('etc/hostname'), T0, T0);
      await link(m('srv/unchanged/f1'), m('srv/hard'));
      await chown(m('srv/owned'), 1000, 1000);
      await unlink(m('var/x'));
      await mkdir(m('var/x'));
      await writeFile(m('var/x/y'), 'y\n');
    } finally {
      await execa('umount', [mnt]);
    }
  });

  afterEach(async () => {
    // Every test must leave nothing mounted and no loop device of its images behind.
    if (!tmp) return;
    expect(await mountsUnder(tmp)).toEqual([]);
    expect(await loopsUnder(tmp)).toEqual([]);
    if (existsSync(scratch)) expect(await readdir(scratch)).toEqual([]);
  });

  afterAll(async () => {
    if (!tmp) return;
    for (const m of await mountsUnder(tmp)) await execa('umount', [m]).catch(() => execa('umount', ['-l', m]));
    await rm(tmp, { recursive: true, force: true });
  });

  it('reports exactly the scripted changes, sorted by path', async () => {
    const { result, seen } = await watchExtMounts(() => diffExt4Images(older, newer, { scratchDir: scratch }));
    // The host kernel never mounted either image (the mount table was polled throughout).
    expect(seen).toEqual([]);
    expect(result.truncated).toBe(false);
    const entries = result.entries;
    expect(summary(entries)).toEqual([
      'modified file /root/chmod-me.sh',
      'deleted file /root/delete-me.txt',
      'modified file /root/grow.txt',
      'modified symlink /root/link',
      'added file /root/new.txt',
      'added directory /root/newdir',
      'added directory /root/newdir/deeper',
      'added file /root/newdir/deeper/x.txt',
      'added file /root/newdir/inner.txt',
      'added symlink /root/newlink',
      'modified file /root/notes.txt',
      'deleted directory /root/olddir',
      'deleted file /root/olddir/a.txt',
      'deleted directory /root/olddir/sub',
      'deleted file /root/olddir/sub/b.txt',
      'modified file /root/same-size.txt',
      'modified file /root/sneaky.txt',
      'modified file /root/touch-me.txt',
      'modified file /srv/bin.dat',
      'modified file /srv/caf\uFFFD.txt',
      'added file /srv/hard',
      'modified directory /srv/owned',
      'modified directory /var/x',
      'added file /var/x/y',
    ]);
    const byPath = new Map(entries.map((e) => [e.path, e]));
    expect(byPath.get('/root/grow.txt')).toEqual({ path: '/root/grow.txt', change: 'modified', type: 'file', sizeBefore: 6, sizeAfter: 17 });
    expect(byPath.get('/root/same-size.txt')).toMatchObject({ sizeBefore: 5, sizeAfter: 5 });
    expect(byPath.get('/root/new.txt')).toMatchObject({ sizeBefore: null, sizeAfter: 6 });
    expect(byPath.get('/root/delete-me.txt')).toMatchObject({ sizeBefore: 4, sizeAfter: null });
    expect(byPath.get('/root/link')).toMatchObject({ sizeBefore: 'notes.txt'.length, sizeAfter: 'new.txt'.length });
    expect(byPath.get('/var/x')).toMatchObject({ type: 'directory', sizeBefore: 32 });
  });

  it('finds nothing between an image and itself or an identical copy', async () => {
    expect(await diffExt4Images(older, older, { scratchDir: scratch })).toEqual({ entries: [], truncated: false });
    const copy = join(tmp, 'copy.img');
    await execa('cp', ['--reflink=auto', older, copy]);
    try {
      expect(await diffExt4Images(older, copy, { scratchDir: scratch })).toEqual({ entries: [], truncated: false });
    } finally {
      await rm(copy);
    }
  });

  it('runs concurrent diffs on the same images without collisions', async () => {
    const [a, b] = await Promise.all([
      diffExt4Images(older, newer, { scratchDir: scratch }).then((r) => r.entries),
      diffExt4Images(newer, older, { scratchDir: scratch }).then((r) => r.entries),
    ]);
    expect(a).toHaveLength(24);
    // The reverse diff swaps added and deleted.
    expect(b.find((e) => e.path === '/root/olddir/sub/b.txt')?.change).toBe('added');
    expect(b.find((e) => e.path === '/root/newdir')?.change).toBe('deleted');
  });

  it('filters by path: the subtree only, the path itself included', async () => {
    const under = async (path: string) => summary((await diffExt4Images(older, newer, { scratchDir: scratch, path })).entries);
    expect(await under('/root/olddir')).toEqual([
      'deleted directory /root/olddir',
      'deleted file /root/olddir/a.txt',
      'deleted directory /root/olddir/sub',
      'deleted file /root/olddir/sub/b.txt',
    ]);
    expect(await under('/root//newdir/./deeper/')).toEqual(['added directory /root/newdir/deeper', 'added file /root/newdir/deeper/x.txt']);
    expect(await under('/srv')).toEqual(['modified file /srv/bin.dat', 'modified file /srv/caf\uFFFD.txt', 'added file /srv/hard', 'modified directory /srv/owned']);
    expect(await under('/root/notes.txt')).toEqual(['modified file /root/notes.txt']);
    expect(await under('/etc')).toEqual([]);
    expect(await under('/does/not/exist')).toEqual([]);
    // Through a guest symlink to /etc: absent, never the host's /etc.
    expect(await under('/root/escape/hostname')).toEqual([]);
    expect(await under('/lost+found')).toEqual([]);
  });

  it('rejects invalid filter paths before mounting anything', async () => {
    for (const path of ['root', '', '/root/../etc', '/root/\0x']) {
      await expect(diffExt4Images(older, newer, { scratchDir: scratch, path })).rejects.toBeInstanceOf(BadRequestError);
    }
  });

  it('diffs one text file like diff -u', async () => {
    const d = await fileDiffExt4Images(older, newer, '/root/notes.txt', { scratchDir: scratch });
    expect(d).toBe([
      '--- a/root/notes.txt',
      '+++ b/root/notes.txt',
      '@@ -1,3 +1,3 @@',
      ' line one',
      '-old line',
      '+new line',
      ' line three',
      '',
    ].join('\n'));
    expect(await fileDiffExt4Images(older, newer, '/root/new.txt', { scratchDir: scratch }))
      .toBe('--- a/root/new.txt\n+++ b/root/new.txt\n@@ -0,0 +1 @@\n+hello\n');
    expect(await fileDiffExt4Images(older, newer, '/root/delete-me.txt', { scratchDir: scratch }))
      .toBe('--- a/root/delete-me.txt\n+++ b/root/delete-me.txt\n@@ -1 +0,0 @@\n-bye\n');
    // Unchanged content (rewritten, same bytes) and a touch-only change: no text difference.
    expect(await fileDiffExt4Images(older, newer, '/etc/hostname', { scratchDir: scratch })).toBe('');
    expect(await fileDiffExt4Images(older, newer, '/root/touch-me.txt', { scratchDir: scratch })).toBe('');
  });

  it('refuses binary, too large, missing and non-regular files, and leaves nothing mounted', async () => {
    const fileDiff = (p: string) => fileDiffExt4Images(older, newer, p, { scratchDir: scratch });
    await expect(fileDiff('/srv/bin.dat')).rejects.toThrow(BadRequestError);
    await expect(fileDiff('/srv/bin.dat')).rejects.toThrow(/binary/);
    await expect(fileDiff('/srv/big.txt')).rejects.toThrow(/too large/);
    await expect(fileDiff('/srv/big.txt')).rejects.toBeInstanceOf(BadRequestError);
    await expect(fileDiff('/nope.txt')).rejects.toBeInstanceOf(NotFoundError);
    await expect(fileDiff('/root')).rejects.toBeInstanceOf(BadRequestError);
    await expect(fileDiff('/root/link')).rejects.toThrow(/not a regular file \(it is a symlink\)/);
    // /root/escape -> /etc: the host's /etc/hostname must stay out of reach.
    await expect(fileDiff('/root/escape/hostname')).rejects.toBeInstanceOf(NotFoundError);
    await expect(fileDiff('relative.txt')).rejects.toBeInstanceOf(BadRequestError);
  });

  it('fails clearly on inputs that are not ext4 images, with nothing left mounted', async () => {
    const zeros = join(tmp, 'zeros.img');
    await writeFile(zeros, Buffer.alloc(0));
    await truncate(zeros, 8 * MiB);
    // ext magic but no usable superblock (zero block and inode counts).
    const fake = join(tmp, 'fake.img');
    const buf = Buffer.alloc(8 * MiB);
    buf.writeUInt16LE(0xef53, 1024 + 56);
    await writeFile(fake, buf);
    try {
      await expect(diffExt4Images(older, zeros, { scratchDir: scratch })).rejects.toThrow(/is not an ext4 filesystem/);
      await expect(diffExt4Images(older, join(tmp, 'absent.img'), { scratchDir: scratch })).rejects.toThrow(/not readable/);
      await expect(diffExt4Images(older, tmp, { scratchDir: scratch })).rejects.toThrow(/not a regular file/);
      const err = await diffExt4Images(older, fake, { scratchDir: scratch }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ImageUnreadableError);
      expect((err as HobError).code).toBe('image_unreadable');
      expect((err as Error).message).toMatch(/^the image could not be read: the newer image is corrupt/);
    } finally {
      await rm(zeros, { force: true });
      await rm(fake, { force: true });
    }
  });

  it('cleans up what a crashed diff left in the scratch dir', async () => {
    // A one-file diff's temporary copies left by a crash...
    await mkdir(join(scratch, 'ext4-diff-crashed-file'), { recursive: true });
    await writeFile(join(scratch, 'ext4-diff-crashed-file', 'a'), 'x');
    // ...and a read-only mount an older hobd (which mounted images) left behind (of this test's own image).
    const left = join(scratch, 'ext4-diff-crashed', '0');
    await mkdir(left, { recursive: true });
    await execa('mount', ['-t', 'ext4', '-o', 'ro,noload,loop', older, left]);
    expect(await mountsUnder(left)).toEqual([left]);
    expect(await loopsUnder(tmp)).toHaveLength(1); // the check in afterEach does see loop devices
    expect(await cleanupExt4Scratch(scratch)).toBe(2);
    expect(await mountsUnder(scratch)).toEqual([]);
  });
});
