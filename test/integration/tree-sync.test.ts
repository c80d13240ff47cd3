/**
 * In-place restore's file work (storage/tree-sync.ts, Pool.syncInto) on a real loop-mounted
 * btrfs with hob's mount options (zstd compression): a volume changed every way a guest and
 * hob change one is made a copy of its snapshot again, byte for byte, by cloning only what
 * differs, and the pages of what did not change stay in the host's page cache. Needs root,
 * btrfs, loop devices and xfs_io; skips with a message otherwise.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, open, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExtentMapTooLargeError } from '../../daemon/storage/extent-map.js';
import { Pool, type PoolPath } from '../../daemon/storage/index.js';
import { syncTree } from '../../daemon/storage/tree-sync.js';
import { onPath } from '../helpers/on-path.js';

const MiB = 1024 ** 2;
const DISK = 64 * MiB;

function missingPrerequisite(): string | undefined {
  if (process.getuid?.() !== 0) return 'root (mount, loop devices)';
  if (!existsSync('/dev/loop-control')) return 'loop devices (/dev/loop-control)';
  if (!existsSync('/sys/fs/btrfs')) return 'btrfs support in the kernel';
  if (!onPath('xfs_io')) return 'xfs_io (Debian: xfsprogs)';
  return undefined;
}
const missing = missingPrerequisite();
if (missing) console.warn(`tree sync tests skipped: missing ${missing}`);

/** Writes `data` at `offset` of `file` without truncating it. */
async function writeAt(file: string, offset: number, data: Buffer): Promise<void> {
  const h = await open(file, 'r+');
  try {
    await h.write(data, 0, data.length, offset);
    await h.sync();
  } finally {
    await h.close();
  }
}

const text = (bytes: number, word: string): Buffer => Buffer.from(word.repeat(Math.ceil(bytes / word.length)).slice(0, bytes));

async function digest(file: string): Promise<string> {
  return createHash('sha256').update(await readFile(file)).digest('hex');
}

/** Every file under `dir` with its digest, and every directory, by relative path. */
async function tree(dir: string, prefix = ''): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    const rel = prefix + entry.name;
    if (entry.isDirectory()) Object.assign(out, { [`${rel}/`]: 'dir' }, await tree(join(dir, entry.name), `${rel}/`));
    else out[rel] = await digest(join(dir, entry.name));
  }
  return out;
}

/** Bytes of `file` in the page cache (util-linux fincore). */
async function residentBytes(file: string): Promise<number> {
  const r = await execa('fincore', ['--bytes', '--noheadings', '--output', 'RES', file]);
  return Number(r.stdout.trim());
}

describe.skipIf(missing !== undefined)('in-place volume sync (real btrfs, zstd)', () => {
  let tmp: string;
  let stateDir: string;
  let pool: Pool;
  let live: PoolPath;
  let snap: PoolPath;

  beforeAll(async () => {
    tmp = await mkdtemp('/tmp/hob-tree-sync-');
    stateDir = join(tmp, 'state');
    pool = await Pool.open({ stateDir, imageSize: 2 * 1024 * MiB });
    live = pool.sandboxPath('sync-live');
    snap = pool.path('checkpoints', 'sync-live', 'cp1');
    await pool.createSubvolume(live);
    // A disk of compressible and random stretches and holes, a kernel, a memory image directory.
    const disk = join(live, 'disk.img');
    await writeFile(disk, '');
    await truncate(disk, DISK);
    for (let i = 0; i < 8; i++) {
      await writeAt(disk, i * 8 * MiB, randomBytes(2 * MiB));
      await writeAt(disk, i * 8 * MiB + 3 * MiB, text(2 * MiB, `block ${i} `));
    }
    await writeFile(join(live, 'kernel'), randomBytes(3 * MiB));
    await mkdir(join(live, 'memory'));
    await writeFile(join(live, 'memory', 'state'), randomBytes(MiB));
    await pool.snapshot(live, snap, { readOnly: true });
  });

  afterAll(async () => {
    if (!tmp) return;
    await pool?.close({ unmount: true }).catch(() => undefined);
    await execa('umount', ['-l', join(stateDir, 'pool')], { reject: false });
    await rm(tmp, { recursive: true, force: true });
  });

  it('makes a changed volume its snapshot again byte for byte, cloning only what changed, and keeps the rest in the page cache', async () => {
    const disk = join(live, 'disk.img');
    const want = await tree(snap);
    // What a guest does to its disk: rewrites inside random and compressible stretches, fills a
    // hole, discards a stretch; and what hob does: grows the disk, drops and adds files.
    await writeAt(disk, 1 * MiB + 4096, randomBytes(256 * 1024));
    await writeAt(disk, 19 * MiB + 100_000, text(300_000, 'guest wrote this '));
    await writeAt(disk, 6 * MiB, randomBytes(MiB));
    await execa('fallocate', ['--punch-hole', '--offset', String(40 * MiB), '--length', String(MiB), disk]);
    await truncate(disk, DISK + 16 * MiB);
    await writeFile(join(live, 'memory', 'state'), 'other');
    await writeFile(join(live, 'extra'), 'not in the snapshot');
    await rm(join(live, 'kernel'));
    await mkdir(join(live, 'kernel'));
    expect(await tree(live)).not.toEqual(want);

    await readFile(disk); // the boot's reads: the disk in the page cache
    const cachedBefore = await residentBytes(disk);
    const stats = await pool.syncInto(snap, live);
    const cachedAfter = await residentBytes(disk);

    expect(await tree(live)).toEqual(want);
    expect((await stat(disk)).size).toBe(DISK);
    // Only the changed ranges (rounded to whole extents: 128 KiB when compressed) were cloned or punched.
    const changed = 256 * 1024 + 300_000 + MiB + MiB;
    expect(stats.clonedBytes + stats.punchedBytes).toBeGreaterThanOrEqual(changed);
    expect(stats.clonedBytes + stats.punchedBytes).toBeLessThan(changed + 2 * MiB);
    expect(stats).toMatchObject({ compared: 2, copied: 1, removed: 1 });
    // The rest of the disk's pages stayed where the boot had put them (less the 16 MiB cut off).
    expect(cachedAfter).toBeGreaterThanOrEqual(cachedBefore - 16 * MiB - (changed + 2 * MiB));

    // A second run finds nothing to do (how a restore cut short by a crash is finished).
    const again = await pool.syncInto(snap, live);
    expect(again.clonedBytes + again.punchedBytes).toBe(0);
    expect(await tree(live)).toEqual(want);
  });

  it('a disk of more extents than a map is read for (a hostile guest fragments it) is refused before anything is cloned', async () => {
    const disk = join(live, 'disk.img');
    for (let i = 0; i < 64; i++) await writeAt(disk, i * 256 * 1024, randomBytes(4096));
    const before = await digest(disk);
    await expect(syncTree(snap, live, { maxMapBytes: 2048 })).rejects.toBeInstanceOf(ExtentMapTooLargeError);
    expect(await digest(disk)).toBe(before);
    await pool.syncInto(snap, live);
    expect(await digest(disk)).toBe(await digest(join(snap, 'disk.img')));
  });
});
