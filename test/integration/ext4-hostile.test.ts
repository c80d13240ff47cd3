/**
 * `hob diff` on hostile guest images (issue 12 finding 4): images made with
 * mkfs.ext4 -d and changed with debugfs -w or by patching bytes, never
 * mounted. Each case gives a correct diff or a clear ImageUnreadableError,
 * never a hang (the reader's timeout), and the mount table is watched during
 * every diff: the host kernel must never mount a guest image as ext4.
 * Needs e2fsprogs (mkfs.ext4, debugfs, tune2fs) and diffutils; skips otherwise.
 */
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diffExt4Images, fileDiffExt4Images, ImageUnreadableError, MAX_DIFF_ENTRIES, type Ext4DiffOptions } from '../../daemon/storage/ext4-diff.js';
import { watchExtMounts } from '../helpers/mount-watch.js';

function missingPrerequisite(): string | undefined {
  const onPath = (bin: string) => (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin']).some((d) => existsSync(join(d, bin)));
  for (const bin of ['mkfs.ext4', 'debugfs', 'tune2fs', 'diff']) if (!onPath(bin)) return bin;
  return undefined;
}
const missing = missingPrerequisite();
if (missing) console.warn(`ext4 hostile-image tests skipped: missing ${missing}`);

/** Diff under the mount watch: asserts no ext mount appeared, returns the result or the error. */
async function watchedDiff(older: string, newer: string, opts: Ext4DiffOptions): Promise<Awaited<ReturnType<typeof diffExt4Images>> | Error> {
  const { result, seen } = await watchExtMounts(() => diffExt4Images(older, newer, opts).catch((e: unknown) => e as Error));
  expect(seen).toEqual([]);
  return result;
}

describe.skipIf(missing !== undefined)('ext4 diff on hostile images (user-space reader)', () => {
  let tmp: string;
  let base: string;
  let scratchDir: string;
  const debugfs = async (img: string, cmds: string[]) => {
    const f = join(tmp, 'cmds');
    await writeFile(f, `${cmds.join('\n')}\n`);
    await execa('debugfs', ['-w', '-f', f, img]);
  };
  const copyOf = async (name: string) => {
    const p = join(tmp, name);
    await execa('cp', [base, p]);
    return p;
  };
  const inodeOf = async (img: string, path: string) => Number(/<(\d+)>/.exec((await execa('debugfs', ['-R', `stat ${path}`, img])).stdout)?.[1]);
  /** Block numbers of a file (debugfs `blocks`). */
  const blocksOf = async (img: string, path: string) => (await execa('debugfs', ['-R', `blocks ${path}`, img])).stdout.trim().split(/\s+/).map(Number);

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'hob-ext4-hostile-'));
    scratchDir = join(tmp, 'scratch');
    const tree = join(tmp, 'tree');
    await mkdir(join(tree, 'root/dir'), { recursive: true });
    await writeFile(join(tree, 'root/a.txt'), 'a\n');
    for (let i = 0; i < 40; i++) await writeFile(join(tree, `root/dir/f${i}`), `${i}\n`);
    base = join(tmp, 'base.img');
    await execa('mkfs.ext4', ['-q', '-b', '4096', '-d', tree, base, '32M']);
  });

  afterAll(async () => {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('diffs a normal pair without the host kernel mounting either image', async () => {
    const newer = await copyOf('normal.img');
    await debugfs(newer, [`write ${join(tmp, 'cmds')} /root/new.txt`, 'rm /root/a.txt']);
    const r = await watchedDiff(base, newer, { scratchDir });
    expect(r instanceof Error ? r.message : 'a result').toBe('a result');
    expect((r as { entries: { path: string; change: string }[] }).entries.map((e) => `${e.change} ${e.path}`)).toEqual(['deleted /root/a.txt', 'added /root/new.txt']);
  });
  /** Overwrites bytes of an image file in place (no mount). */
  const patch = async (img: string, offset: number, bytes: Buffer) => {
    const fh = await open(img, 'r+');
    try {
      await fh.write(bytes, 0, bytes.length, offset);
    } finally {
      await fh.close();
    }
  };
  const BS = 4096;
  const unreadable = (r: unknown, pattern: RegExp) => {
    expect(r).toBeInstanceOf(ImageUnreadableError);
    expect((r as Error).message).toMatch(/^the image could not be read: /);
    expect((r as Error).message).toMatch(pattern);
  };

  it.skipIf(process.getuid?.() !== 0)('reads root-only images (0600 in a 0700 directory) through the descriptors hobd passes (needs root)', async () => {
    const private_ = join(tmp, 'private');
    await mkdir(private_, { mode: 0o700 });
    const older = join(private_, 'older.img');
    const newer = join(private_, 'newer.img');
    await execa('cp', [base, older]);
    await execa('cp', [base, newer]);
    await debugfs(newer, ['rm /root/a.txt']);
    await chmod(older, 0o600);
    await chmod(newer, 0o600);
    // The reader runs as nobody: it could not open these paths itself.
    await expect(execa('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'cat', older])).rejects.toThrow(/Permission denied/);
    const r = await watchedDiff(older, newer, { scratchDir });
    expect(r).toMatchObject({ entries: [{ path: '/root/a.txt', change: 'deleted' }], truncated: false });
  });

  it('errors=panic and a corrupted directory block: a clear error, the host never mounts it', async () => {
    const newer = await copyOf('panic.img');
    await execa('tune2fs', ['-e', 'panic', newer]);
    const [dirBlock] = await blocksOf(newer, '/root/dir');
    await patch(newer, (dirBlock as number) * BS, Buffer.alloc(BS, 0xff));
    unreadable(await watchedDiff(base, newer, { scratchDir }), /newer image is corrupt: directory inode \d+: invalid entry length/);
  });

  it('an inode claiming 1 TiB with holes: sizes reported, the holes never read (no timeout)', async () => {
    const TiB = 2 ** 40;
    const older = await copyOf('huge-old.img');
    await debugfs(older, [`sif /root/a.txt size ${TiB}`]);
    const newer = await copyOf('huge-new.img');
    // Same size and mtime, only ctime moved: the content is compared, mapped blocks only.
    await debugfs(newer, [`sif /root/a.txt size ${TiB}`, 'sif /root/a.txt ctime 20300101000000', `sif /root/dir/f1 size ${TiB}`]);
    const r = await watchedDiff(older, newer, { scratchDir, timeoutMs: 20_000 });
    expect(r instanceof Error ? r.message : 'a result').toBe('a result');
    expect((r as { entries: unknown[] }).entries).toEqual([{ path: '/root/dir/f1', change: 'modified', type: 'file', sizeBefore: 2, sizeAfter: TiB }]);
    await expect(fileDiffExt4Images(older, newer, '/root/a.txt', { scratchDir })).rejects.toThrow(/too large to diff/);
  });

  it('an extent tree that loops back on itself: a clear error', async () => {
    const newer = await copyOf('loop.img');
    const [b] = await blocksOf(newer, '/root/dir');
    const blk = b as number;
    // The directory's block becomes an index node (depth 1) whose only entry points at itself...
    const node = Buffer.alloc(24);
    node.writeUInt16LE(0xf30a, 0); node.writeUInt16LE(1, 2); node.writeUInt16LE(340, 4); node.writeUInt16LE(1, 6);
    node.writeUInt32LE(0, 12); node.writeUInt32LE(blk, 16);
    await patch(newer, blk * BS, node);
    // ...and the inode's extent root (depth 2) points at that block.
    await debugfs(newer, [
      `sif /root/dir block[0] ${0xf30a | (1 << 16)}`, `sif /root/dir block[1] ${4 | (2 << 16)}`, 'sif /root/dir block[2] 0',
      'sif /root/dir block[3] 0', `sif /root/dir block[4] ${blk}`, 'sif /root/dir block[5] 0',
    ]);
    unreadable(await watchedDiff(base, newer, { scratchDir, timeoutMs: 20_000 }), /newer image is corrupt: invalid extent tree depth/);
  });

  it("names with a newline are listed; names with '/' or NUL make the image unreadable", async () => {
    const [rootBlock] = await blocksOf(base, '/root');
    const block = Buffer.alloc(BS);
    const fh = await open(base, 'r');
    await fh.read(block, 0, BS, (rootBlock as number) * BS);
    await fh.close();
    const at = block.indexOf('a.txt');
    expect(at).toBeGreaterThan(0);
    const renamed = async (name: string, to: string) => {
      const img = await copyOf(name);
      await patch(img, (rootBlock as number) * BS + at, Buffer.from(to, 'latin1'));
      return img;
    };
    const nl = await watchedDiff(base, await renamed('newline.img', 'a\n.tx'), { scratchDir });
    expect((nl as { entries: { path: string; change: string }[] }).entries.map((e) => `${e.change} ${e.path}`)).toEqual(['added /root/a\n.tx', 'deleted /root/a.txt']);
    unreadable(await watchedDiff(base, await renamed('slash.img', 'a/txt'), { scratchDir }), /a name contains '\/' or NUL/);
    unreadable(await watchedDiff(base, await renamed('nul.img', 'a\0txt'), { scratchDir }), /a name contains '\/' or NUL/);
  });

  it('an unknown incompatible feature is refused cleanly', async () => {
    const newer = await copyOf('incompat.img');
    const sb = Buffer.alloc(4);
    const fh = await open(newer, 'r');
    await fh.read(sb, 0, 4, 1024 + 96);
    await fh.close();
    sb.writeUInt32LE(sb.readUInt32LE(0) | 0x1, 0); // COMPRESSION: never implemented by ext4, unknown to the reader
    await patch(newer, 1024 + 96, sb);
    unreadable(await watchedDiff(base, newer, { scratchDir }), /the newer image uses an unsupported ext4 feature \(incompat 0x1\)/);
  });

  it('a reader that runs past its timeout is stopped with a clear error', async () => {
    unreadable(await watchedDiff(base, base, { scratchDir, timeoutMs: 1 }), /reading took longer than 1 ms/);
  });

  it('100k entries: the default cap holds, truncated says so', async () => {
    const tree = join(tmp, 'big-tree');
    await mkdir(join(tree, 'root/dir'), { recursive: true });
    await writeFile(join(tree, 'root/a.txt'), 'a\n');
    // 100 directories of 1000 files (mkfs.ext4 -d fills one directory in quadratic time).
    for (let d = 0; d < 100; d++) {
      const dir = join(tree, 'big', `d${String(d).padStart(2, '0')}`);
      await mkdir(dir, { recursive: true });
      await Promise.all(Array.from({ length: 1000 }, (_, j) => writeFile(join(dir, `f${String(j).padStart(3, '0')}`), '')));
    }
    const img = join(tmp, 'big.img');
    await execa('mkfs.ext4', ['-q', '-b', '4096', '-N', '120000', '-d', tree, img, '256M']);
    await rm(tree, { recursive: true, force: true });
    const r = await watchedDiff(base, img, { scratchDir, timeoutMs: 120_000 });
    expect(r instanceof Error ? r.message : 'a result').toBe('a result');
    const { entries, truncated } = r as { entries: { path: string }[]; truncated: boolean };
    // /big, its 100 directories and their 100000 files are 100101 changes: the first 100000 by path come back (99 whole directories, then /big/d99 and 899 of its files).
    expect(truncated).toBe(true);
    expect(entries).toHaveLength(MAX_DIFF_ENTRIES);
    expect(entries.slice(0, 3).map((e) => e.path)).toEqual(['/big', '/big/d00', '/big/d00/f000']);
    expect(entries[entries.length - 1]?.path).toBe('/big/d99/f898');
    // An explicit cap: /root/dir holds 40 files in the base image and none in this one.
    const small = await watchedDiff(base, img, { scratchDir, path: '/root/dir', maxEntries: 5 });
    expect((small as { entries: { path: string }[] }).entries.map((e) => e.path)).toEqual(['/root/dir/f0', '/root/dir/f1', '/root/dir/f10', '/root/dir/f11', '/root/dir/f12']);
    expect(small).toMatchObject({ truncated: true });
  });
});
