/**
 * The btrfs pool on a real, loop-mounted btrfs filesystem made in a temp dir.
 * Needs root, btrfs-progs and loop devices; skips with a message otherwise.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, writeSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readFile, readdir, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BadRequestError, ConflictError, HobError, NotFoundError, PoolFullError } from '../../daemon/errors.js';
import { Pool, type Area, type PoolPath } from '../../daemon/storage/index.js';
import { isOnBtrfs } from '../../daemon/storage/mount.js';
import { onPath } from '../helpers/on-path.js';

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

function missingPrerequisite(): string | undefined {
  if (process.getuid?.() !== 0) return 'root (mount, loop devices)';
  if (!existsSync('/dev/loop-control')) return 'loop devices (/dev/loop-control)';
  if (!onPath('btrfs') || !onPath('mkfs.btrfs')) return 'btrfs-progs (btrfs, mkfs.btrfs)';
  if (!existsSync('/sys/fs/btrfs')) return 'btrfs support in the kernel (/sys/fs/btrfs)';
  return undefined;
}
const missing = missingPrerequisite();
if (missing) console.warn(`storage integration tests skipped: missing ${missing}`);

/** Mountpoints under `dir`, deepest first. */
async function mountsUnder(dir: string): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  return text.split('\n').map((l) => l.split(' ')[4] ?? '')
    .map((m) => m.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((m) => m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

async function mountCount(dir: string): Promise<number> {
  return (await mountsUnder(join(dir, '..'))).filter((m) => m === dir).length;
}

async function writeRandom(path: string, bytes: number): Promise<void> {
  const fd = openSync(path, 'w');
  try {
    for (let done = 0; done < bytes; done += MiB) writeSync(fd, randomBytes(Math.min(MiB, bytes - done)));
  } finally {
    closeSync(fd);
  }
}

describe.skipIf(missing !== undefined)('btrfs pool (real loop-mounted btrfs)', () => {
  let tmp: string;
  let stateDir: string;
  let pool: Pool;

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'hob-storage-'));
    stateDir = join(tmp, 'state');
    pool = await Pool.open({ stateDir, imageSize: 2 * GiB });
  });

  afterAll(async () => {
    // Whatever happened above: unmount everything under tmp (loop devices go with it), then remove it.
    if (!tmp) return;
    await pool?.close().catch(() => undefined);
    for (const m of await mountsUnder(tmp)) await execa('umount', [m]).catch(() => execa('umount', ['-l', m]));
    await rm(tmp, { recursive: true, force: true });
  });

  it('creates the embedded pool: sparse image, loop mount with the options, layout', async () => {
    expect(await isOnBtrfs(tmp)).toBe(false); // else the pool would be a plain subvolume
    expect(pool.kind).toBe('loop');
    expect(pool.root).toBe(join(stateDir, 'pool'));
    const img = await stat(join(stateDir, 'pool.img'));
    expect(img.size).toBe(2 * GiB);
    expect(img.blocks * 512).toBeLessThan(200 * MiB); // sparse
    const info = await readFile('/proc/self/mountinfo', 'utf8');
    const line = info.split('\n').find((l) => l.split(' ')[4] === pool.root);
    expect(line).toMatch(/ - btrfs \/dev\/loop\d+ /);
    expect(line).toMatch(/compress=zstd:1/);
    expect(line).toMatch(/discard=async/);
    expect((await readdir(pool.root)).sort()).toEqual(['checkpoints', 'images', 'sandboxes', 'templates', 'trash']);
    expect(existsSync(join(stateDir, 'pool.img.new'))).toBe(false);
    expect((await readdir(stateDir)).filter((n) => n.includes('.new-'))).toEqual([]);
  });

  it('re-opens idempotently: reuses the mount, and mounts the existing image after an unmount', async () => {
    const marker = pool.path('sandboxes', 'marker');
    await pool.createSubvolume(marker);
    await writeFile(join(marker, 'hello'), 'still here');

    const again = await Pool.open({ stateDir, imageSize: 2 * GiB });
    expect(again.root).toBe(pool.root);
    expect(await mountCount(pool.root)).toBe(1);
    await again.close();

    await pool.close({ unmount: true });
    expect(await mountCount(pool.root)).toBe(0);
    expect(existsSync(join(marker, 'hello'))).toBe(false);

    pool = await Pool.open({ stateDir, imageSize: 4 * GiB }); // size ignored: the image exists
    expect(await mountCount(pool.root)).toBe(1);
    expect((await stat(join(stateDir, 'pool.img'))).size).toBe(2 * GiB);
    expect(await readFile(join(marker, 'hello'), 'utf8')).toBe('still here');
    await pool.delete(marker);
  });

  it('refuses a configured pool path that is not btrfs, and accepts one that is', async () => {
    await expect(Pool.open({ stateDir: join(tmp, 'other'), path: tmp })).rejects.toThrow(/not on a btrfs filesystem/);
    const ext = pool.imagePath('ext');
    await pool.createSubvolume(ext);
    const external = await Pool.open({ stateDir: join(tmp, 'other'), path: ext });
    expect(external.kind).toBe('external');
    expect(external.root).toBe(ext);
    expect(external.usageMode).toBe('du'); // never enables quotas on a user's filesystem
    expect((await readdir(ext)).sort()).toEqual(['checkpoints', 'images', 'sandboxes', 'templates', 'trash']);
    await external.close({ unmount: true }); // no-op for external pools
    expect(await mountCount(pool.root)).toBe(1);
    await pool.delete(ext);

    // A state dir that is itself on btrfs gets a plain subvolume as its pool.
    const onBtrfs = pool.sandboxPath('state-on-btrfs');
    const direct = await Pool.open({ stateDir: onBtrfs });
    expect(direct.kind).toBe('directory');
    expect(direct.root).toBe(join(onBtrfs, 'pool'));
    expect(await pool.isSubvolume(pool.path('sandboxes', 'state-on-btrfs', 'pool'))).toBe(true);
    expect(existsSync(join(onBtrfs, 'pool.img'))).toBe(false);
    await direct.close({ unmount: true });
    expect(await pool.delete(onBtrfs)).toBe(true);
  });

  it('snapshots share extents: 64 MiB of data, a snapshot barely grows the pool', async () => {
    const base = pool.imagePath('base');
    await pool.createSubvolume(base);
    await writeRandom(join(base, 'disk.img'), 64 * MiB);
    await pool.sync();
    const exclusiveBefore = await pool.exclusiveBytes(base);
    expect(exclusiveBefore).toBeGreaterThanOrEqual(64 * MiB);
    expect(exclusiveBefore).toBeLessThan(66 * MiB);
    const before = await pool.usage();

    const sb = pool.sandboxPath('sb1');
    await pool.snapshot(base, sb);
    await pool.sync();
    const after = await pool.usage();
    expect(after.usedBytes - before.usedBytes).toBeLessThan(2 * MiB);
    expect(await pool.isSubvolume(sb)).toBe(true);
    expect(await pool.isReadOnly(sb)).toBe(false);
    // Both now share everything: nothing is exclusive to either.
    expect(await pool.exclusiveBytes(base)).toBeLessThan(MiB);
    expect(await pool.exclusiveBytes(sb)).toBeLessThan(MiB);

    // Rewriting 8 MiB in the snapshot makes exactly that exclusive to it.
    const fd = openSync(join(sb, 'disk.img'), 'r+');
    writeSync(fd, randomBytes(8 * MiB), 0, 8 * MiB, 0);
    closeSync(fd);
    await pool.sync();
    const excl = await pool.exclusiveBytes(sb);
    expect(excl).toBeGreaterThanOrEqual(8 * MiB);
    expect(excl).toBeLessThan(10 * MiB);

    // A reflink copy shares the extents too.
    const copy = pool.path('sandboxes', 'sb1', 'copy.img');
    const u0 = (await pool.usage()).usedBytes;
    await pool.reflinkCopy(pool.path('images', 'base', 'disk.img'), copy);
    await pool.sync();
    expect((await stat(copy)).size).toBe(64 * MiB);
    expect((await pool.usage()).usedBytes - u0).toBeLessThan(2 * MiB);
    await expect(pool.reflinkCopy(pool.path('images', 'base', 'disk.img'), copy)).rejects.toBeInstanceOf(ConflictError);
    await expect(pool.reflinkCopy(pool.path('images', 'base', 'nope'), pool.path('sandboxes', 'sb1', 'x'))).rejects.toBeInstanceOf(NotFoundError);
  });

  it('snapshot refuses a missing source and an existing destination', async () => {
    await expect(pool.snapshot(pool.imagePath('nope'), pool.sandboxPath('x'))).rejects.toBeInstanceOf(NotFoundError);
    await expect(pool.snapshot(pool.imagePath('base'), pool.sandboxPath('sb1'))).rejects.toBeInstanceOf(ConflictError);
    await expect(pool.createSubvolume(pool.sandboxPath('sb1'))).rejects.toBeInstanceOf(ConflictError);
  });

  it('a read-only snapshot rejects writes until it is made writable', async () => {
    const cp = pool.checkpointPath('sb1', 'c1');
    await pool.snapshot(pool.sandboxPath('sb1'), cp, { readOnly: true }); // creates checkpoints/sb1/
    expect(await pool.isReadOnly(cp)).toBe(true);
    await expect(writeFile(join(cp, 'new'), 'x')).rejects.toMatchObject({ code: 'EROFS' });
    await expect(writeFile(join(cp, 'disk.img'), 'x')).rejects.toMatchObject({ code: 'EROFS' });
    await pool.setReadOnly(cp, false);
    await writeFile(join(cp, 'new'), 'x');
    await pool.setReadOnly(cp, true);
    await expect(rm(join(cp, 'new'))).rejects.toMatchObject({ code: 'EROFS' });
    // A read-only image gives writable sandboxes (create = writable snapshot of the image).
    await pool.setReadOnly(pool.imagePath('base'), true);
    await pool.snapshot(pool.imagePath('base'), pool.sandboxPath('from-ro'));
    expect(await pool.isReadOnly(pool.sandboxPath('from-ro'))).toBe(false);
    await writeFile(join(pool.sandboxPath('from-ro'), 'new'), 'x');
    await pool.delete(pool.sandboxPath('from-ro'));
    const listed = await pool.list(pool.checkpointsDir('sb1'));
    expect(listed.map((e) => [e.name, e.subvolume])).toEqual([['c1', true]]);
  });

  it('deletes nested and read-only subvolumes, and directories of them', async () => {
    const outer = pool.sandboxPath('outer');
    await pool.createSubvolume(outer);
    await pool.createSubvolume(pool.path('sandboxes', 'outer', 'inner'));
    await pool.createSubvolume(pool.path('sandboxes', 'outer', 'dir', 'deep')); // creates plain dir/
    await writeFile(join(outer, 'dir', 'deep', 'f'), 'x');
    await pool.setReadOnly(pool.path('sandboxes', 'outer', 'dir', 'deep'), true);
    await pool.snapshot(outer, pool.path('sandboxes', 'outer', 'inner', 'ro-snap'), { readOnly: true });
    await pool.setReadOnly(outer, true);

    expect(await pool.delete(outer)).toBe(true);
    expect(await pool.exists(outer)).toBe(false);
    expect(await pool.delete(outer)).toBe(false);

    await pool.snapshot(pool.sandboxPath('sb1'), pool.checkpointPath('sb1', 'c2'), { readOnly: true });
    expect(await pool.delete(pool.checkpointsDir('sb1'))).toBe(true);
    expect(await pool.exists(pool.checkpointsDir('sb1'))).toBe(false);
    const subvols = (await execa('btrfs', ['subvolume', 'list', pool.root])).stdout;
    expect(subvols).not.toMatch(/outer|checkpoints\/sb1/);
  });

  it('trash: moves at once, deletes in the background, and empties leftovers at start-up', async () => {
    const a = pool.sandboxPath('doomed');
    await pool.snapshot(pool.sandboxPath('sb1'), a);
    expect(await pool.trash(a)).toBe(true);
    expect(await pool.exists(a)).toBe(false);
    expect(await pool.trash(a)).toBe(false);
    await pool.drainTrash();
    expect(await readdir(join(pool.root, 'trash'))).toEqual([]);

    // A read-only checkpoint (btrfs cannot move it as it is) and a directory of them.
    await pool.snapshot(pool.sandboxPath('sb1'), pool.checkpointPath('sb1', 'c9'), { readOnly: true });
    await pool.snapshot(pool.sandboxPath('sb1'), pool.checkpointPath('sb1', 'c10'), { readOnly: true });
    expect(await pool.trash(pool.checkpointPath('sb1', 'c9'))).toBe(true);
    expect(await pool.trash(pool.checkpointsDir('sb1'))).toBe(true);
    expect(await pool.exists(pool.checkpointsDir('sb1'))).toBe(false);
    await pool.drainTrash();
    expect(await readdir(join(pool.root, 'trash'))).toEqual([]);

    // A file inside a subvolume cannot be renamed into trash/ (another subvolume): deleted at once.
    await writeFile(join(pool.sandboxPath('sb1'), 'memory.snap'), 'x');
    expect(await pool.trash(pool.path('sandboxes', 'sb1', 'memory.snap'))).toBe(true);
    expect(existsSync(join(pool.sandboxPath('sb1'), 'memory.snap'))).toBe(false);

    // What a crash leaves in the trash: a read-only subvolume, a directory holding one, a file.
    await pool.snapshot(pool.sandboxPath('sb1'), pool.checkpointPath('gone', 'c1'), { readOnly: true });
    await execa('btrfs', ['subvolume', 'snapshot', '-r', pool.sandboxPath('sb1'), join(pool.root, 'trash', '1-leftover')]);
    await rename(pool.checkpointsDir('gone'), join(pool.root, 'trash', '2-gone'));
    await writeFile(join(pool.root, 'trash', '3-file'), 'x');

    const errors: string[] = [];
    const restarted = await Pool.open({ stateDir, onBackgroundError: (e) => errors.push(e.message) });
    await restarted.drainTrash();
    expect(errors).toEqual([]);
    expect(await readdir(join(pool.root, 'trash'))).toEqual([]);
    const subvols = (await execa('btrfs', ['subvolume', 'list', pool.root])).stdout;
    expect(subvols).not.toMatch(/leftover|gone|c9|c10/);
  });

  it('moves subvolumes atomically (restore swaps one in)', async () => {
    const cur = pool.sandboxPath('swap');
    await pool.snapshot(pool.sandboxPath('sb1'), cur);
    await pool.snapshot(pool.sandboxPath('sb1'), pool.sandboxPath('swap.new'));
    await writeFile(join(pool.sandboxPath('swap.new'), 'marker'), 'new');
    await pool.trash(cur);
    await pool.move(pool.sandboxPath('swap.new'), cur);
    expect(await readFile(join(cur, 'marker'), 'utf8')).toBe('new');
    await expect(pool.move(pool.sandboxPath('swap.new'), cur)).rejects.toBeInstanceOf(NotFoundError);
    await expect(pool.move(pool.sandboxPath('sb1'), cur)).rejects.toBeInstanceOf(ConflictError);
    await expect(pool.move(pool.path('sandboxes', 'swap', 'marker'), pool.path('sandboxes', 'sb1', 'marker'))).rejects.toThrow(/EXDEV/);
    await pool.setReadOnly(cur, true);
    await expect(pool.move(cur, pool.checkpointPath('swap', 'x'))).rejects.toThrow(/read-only/i);
    await pool.move(cur, pool.sandboxPath('swap2')); // same directory: allowed while read-only
    expect(await pool.isReadOnly(pool.sandboxPath('swap2'))).toBe(true);
    await pool.delete(pool.sandboxPath('swap2'));
    await pool.drainTrash();
  });

  it('rejects names and paths that would escape the pool', async () => {
    const outside = join(tmp, 'outside');
    await mkdir(outside, { recursive: true });
    await writeFile(join(outside, 'precious'), 'keep');

    for (const bad of ['..', '.', '', '../x', 'a/b', '/etc', '.hidden', '-rf', 'x\0y', 'x'.repeat(129), 'a b']) {
      expect(() => pool.path('sandboxes', bad), JSON.stringify(bad)).toThrow(BadRequestError);
    }
    expect(() => pool.path('etc' as Area, 'x')).toThrow(BadRequestError);
    expect(() => pool.sandboxPath('../../outside')).toThrow(BadRequestError);

    // Forged paths are checked again at run time.
    const forged = [outside, join(pool.root, 'sandboxes', '..', '..', '..', 'outside'), join(pool.root, 'sandboxes'), pool.root, join(pool.root, 'sandboxes', '.x')];
    for (const f of forged) {
      await expect(pool.delete(f as PoolPath), f).rejects.toBeInstanceOf(BadRequestError);
      await expect(pool.trash(f as PoolPath), f).rejects.toBeInstanceOf(BadRequestError);
      await expect(pool.snapshot(pool.sandboxPath('sb1'), f as PoolPath), f).rejects.toBeInstanceOf(BadRequestError);
    }
    // A symlink planted in the pool is not followed.
    await symlink(outside, join(pool.root, 'sandboxes', 'link'));
    await expect(pool.delete(pool.path('sandboxes', 'link', 'precious'))).rejects.toBeInstanceOf(BadRequestError);
    await expect(pool.createSubvolume(pool.path('sandboxes', 'link', 'sv'))).rejects.toBeInstanceOf(BadRequestError);
    await expect(pool.reflinkCopy(pool.path('images', 'base', 'disk.img'), pool.path('sandboxes', 'link', 'x'))).rejects.toBeInstanceOf(BadRequestError);
    expect(await pool.delete(pool.path('sandboxes', 'link'))).toBe(true); // removes the link itself
    expect(await readFile(join(outside, 'precious'), 'utf8')).toBe('keep');
    expect(existsSync(join(outside, 'sv'))).toBe(false);
  });

  it('reports sane usage numbers', async () => {
    const u = await pool.usage();
    expect(u.sizeBytes).toBe(2 * GiB);
    expect(u.usedBytes).toBeGreaterThan(64 * MiB); // images/base and its copies' shared data
    expect(u.usedBytes).toBeLessThan(u.sizeBytes);
    expect(u.freeBytes).toBeGreaterThan(0);
    expect(u.usedBytes + u.freeBytes).toBeLessThanOrEqual(u.sizeBytes);
    expect(['du', 'qgroup']).toContain(pool.usageMode);
    await expect(pool.exclusiveBytes(pool.sandboxPath('nope'))).rejects.toBeInstanceOf(NotFoundError);
    const empty = pool.sandboxPath('empty');
    await pool.createSubvolume(empty);
    expect(await pool.exclusiveBytes(empty)).toBe(0);
    const entries = await pool.list('sandboxes');
    expect(entries.filter((e) => e.subvolume).map((e) => e.name)).toEqual(['empty', 'sb1']);
  });

  describe('a full pool', () => {
    let tiny: Pool;
    const tinyState = () => join(tmp, 'tiny');

    beforeAll(async () => {
      tiny = await Pool.open({ stateDir: tinyState(), imageSize: 256 * MiB });
    });
    afterAll(async () => {
      await tiny?.close({ unmount: true }).catch(() => undefined);
    });

    it('gives PoolFullError and leaves nothing half-made', async () => {
      const src = tiny.sandboxPath('src');
      await tiny.createSubvolume(src);
      // Fill the data space ...
      const fill = join(src, 'fill');
      const fd = openSync(fill, 'w');
      const chunk = randomBytes(MiB);
      let dataFull = false;
      try {
        for (let i = 0; i < 1024 && !dataFull; i++) {
          try { writeSync(fd, chunk); } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e; dataFull = true; }
        }
      } finally {
        closeSync(fd);
      }
      expect(dataFull).toBe(true);
      // ... and the metadata space (empty files with long names).
      await mkdir(join(src, 'm'));
      let metaFull = false;
      for (let i = 0; i < 200_000 && !metaFull; i++) {
        try { closeSync(openSync(join(src, 'm', `${'x'.repeat(200)}${i}`), 'w')); } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
          metaFull = true;
        }
      }
      expect(metaFull).toBe(true);

      await expect(tiny.reflinkCopy(tiny.path('sandboxes', 'src', 'fill'), tiny.path('sandboxes', 'src', 'copy'))).rejects.toBeInstanceOf(PoolFullError);
      expect(await tiny.exists(tiny.path('sandboxes', 'src', 'copy'))).toBe(false);

      // btrfs keeps a metadata reserve for snapshots; they fail once it is used up.
      let failure: unknown;
      let i = 0;
      for (; i < 2000 && failure === undefined; i++) {
        await tiny.snapshot(src, tiny.sandboxPath(`s${i}`)).catch((e: unknown) => { failure = e; });
      }
      expect(failure).toBeInstanceOf(PoolFullError);
      expect((failure as HobError).code).toBe('pool_full');
      expect((failure as Error).message).toMatch(/No space left on device/);
      expect(await tiny.exists(tiny.sandboxPath(`s${i - 1}`))).toBe(false);
      await expect(tiny.createSubvolume(tiny.sandboxPath('fresh'))).rejects.toBeInstanceOf(PoolFullError);
      expect(await tiny.exists(tiny.sandboxPath('fresh'))).toBe(false);
      const names = (await readdir(join(tiny.root, 'sandboxes')));
      expect(names).not.toContain(`s${i - 1}`);
      expect(names).not.toContain('fresh');
      // Every snapshot that exists is complete.
      const snap = (await lstat(join(tiny.root, 'sandboxes', 's0', 'fill'))).size;
      expect(snap).toBe((await lstat(fill)).size);
    });
  });
});
