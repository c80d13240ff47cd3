/**
 * Sandbox and checkpoint volumes (storage/sandbox-volumes.ts) on a real
 * loop-mounted btrfs: what core relies on when it speaks volumes instead of
 * paths. Needs root, btrfs and loop devices; skips with a message otherwise.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageVolumes, Pool, SandboxVolumes } from '../../daemon/storage/index.js';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

function missingPrerequisite(): string | undefined {
  if (process.getuid?.() !== 0) return 'root (mount, loop devices)';
  if (!existsSync('/dev/loop-control')) return 'loop devices (/dev/loop-control)';
  if (!existsSync('/sys/fs/btrfs')) return 'btrfs support in the kernel';
  return undefined;
}
const missing = missingPrerequisite();
if (missing) console.warn(`volume tests skipped: missing ${missing}`);

describe.skipIf(missing !== undefined)('sandbox volumes (real loop-mounted btrfs)', () => {
  let tmp: string;
  let stateDir: string;
  let pool: Pool;
  let volumes: SandboxVolumes;

  beforeAll(async () => {
    tmp = await mkdtemp('/tmp/hob-volumes-');
    stateDir = join(tmp, 'state');
    pool = await Pool.open({ stateDir, imageSize: 2 * GiB });
    volumes = new SandboxVolumes(pool);
    const built = join(tmp, 'built');
    await execa('mkdir', ['-p', built]);
    for (const [file, text] of [['kernel', 'K'], ['initramfs.img', 'I'], ['rootfs.img', 'root'], ['manifest.json', '{"variant":"test"}']]) {
      await writeFile(join(built, file!), text!);
    }
    await new ImageVolumes(pool).import('img', built);
  });

  afterAll(async () => {
    if (!tmp) return;
    await pool?.close({ unmount: true }).catch(() => undefined);
    await execa('umount', ['-l', join(stateDir, 'pool')], { reject: false });
    await rm(tmp, { recursive: true, force: true });
  });

  it('creates a sandbox volume from an image: the rootfs becomes the disk, grown sparse; kernel and initramfs come along', async () => {
    await volumes.createFromImage('sb1', 'img', 64 * MiB);
    const files = volumes.bootFiles('sb1');
    expect((await stat(files.disk)).size).toBe(64 * MiB);
    expect(await readFile(files.kernel, 'utf8')).toBe('K');
    expect(await readFile(files.initramfs, 'utf8')).toBe('I');
    expect(existsSync(join(files.disk, '..', 'rootfs.img'))).toBe(false);
  });

  it('grows the ext4 filesystem of an image to the size of the disk on the host, before the first boot (docs/architecture.md §24)', async () => {
    const built = join(tmp, 'built-ext4');
    await execa('mkdir', ['-p', built]);
    for (const [file, text] of [['kernel', 'K'], ['initramfs.img', 'I'], ['manifest.json', '{"variant":"test"}']]) await writeFile(join(built, file!), text!);
    await execa('truncate', ['-s', '32M', join(built, 'rootfs.img')]);
    await execa('mkfs.ext4', ['-q', '-F', '-b', '4096', join(built, 'rootfs.img')]);
    await new ImageVolumes(pool).import('img-ext4', built);
    await volumes.createFromImage('sb-ext4', 'img-ext4', 256 * MiB);
    const disk = volumes.bootFiles('sb-ext4').disk;
    const header = String((await execa('dumpe2fs', ['-h', disk], { reject: false })).stdout);
    expect(Number(/Block count:\s+(\d+)/.exec(header)?.[1]) * 4096).toBe(256 * MiB);
    // The image itself is left as it was.
    expect((await execa('dumpe2fs', ['-h', join(built, 'rootfs.img')])).stdout).toMatch(/Block count:\s+8192\b/);
    await volumes.trashSandbox('sb-ext4');
  });

  it('checkpoints read-only, restores in place from a staged volume, and forks from a checkpoint or the current disk', async () => {
    const cp = { sandboxId: 'sb1', id: 'cp1' };
    await volumes.checkpointSandbox(cp);
    await expect(writeFile(volumes.checkpointDisk(cp), 'x')).rejects.toThrow();
    await writeFile(volumes.bootFiles('sb1').disk, 'changed');
    const diskInode = (await stat(volumes.bootFiles('sb1').disk)).ino;
    let windowSeen = false;
    const outcome = await volumes.restore('sb1', cp, () => {
      windowSeen = true;
      expect(existsSync(join(volumes.bootFiles('sb1').disk, '..', '..', 'sb1.restore'))).toBe(true);
    });
    expect(windowSeen).toBe(true);
    expect(outcome).toMatchObject({ inPlace: true });
    expect((await readFile(volumes.bootFiles('sb1').disk, 'utf8')).startsWith('root')).toBe(true);
    // The same file (its page cache kept), and the staged volume gone.
    expect((await stat(volumes.bootFiles('sb1').disk)).ino).toBe(diskInode);
    expect(await volumes.recoverRestore('sb1')).toBeUndefined();

    await volumes.fork('sb2', { checkpoint: cp });
    await volumes.fork('sb3', { sandboxId: 'sb1' });
    await volumes.growDisk('sb3', 128 * MiB);
    expect((await stat(volumes.bootFiles('sb3').disk)).size).toBe(128 * MiB);
    expect(await volumes.checkpointExclusiveBytes(cp)).toBeGreaterThanOrEqual(0);
  });

  it('recoverRestore finishes a restore a crash cut short: in place, or by moving the staged volume in when the old one is gone', async () => {
    const cp = { sandboxId: 'sb2', id: 'cp2' };
    await volumes.checkpointSandbox(cp);
    await writeFile(volumes.bootFiles('sb2').disk, 'after the checkpoint');
    // A crash with the checkpoint staged.
    await expect(volumes.restore('sb2', cp, () => { throw new Error('crash'); })).rejects.toThrow('crash');
    expect(await readFile(volumes.bootFiles('sb2').disk, 'utf8')).toBe('after the checkpoint');
    expect(await volumes.recoverRestore('sb2')).toMatchObject({ inPlace: true });
    expect((await readFile(volumes.bootFiles('sb2').disk, 'utf8')).startsWith('root')).toBe(true);
    expect(await volumes.recoverRestore('sb2')).toBeUndefined();

    // An older hob's crash window: the old volume already in the trash.
    await expect(volumes.restore('sb2', cp, () => { throw new Error('crash'); })).rejects.toThrow('crash');
    await pool.trash(pool.sandboxPath('sb2'));
    expect(await volumes.recoverRestore('sb2')).toMatchObject({ inPlace: false });
    expect(existsSync(volumes.bootFiles('sb2').disk)).toBe(true);
    expect(await volumes.recoverRestore('sb2')).toBeUndefined();
  });

  it('restore swaps the staged volume in when the in-place sync cannot run (no xfs_io)', async () => {
    const cp = { sandboxId: 'sb2', id: 'cp3' };
    await volumes.checkpointSandbox(cp);
    await writeFile(volumes.bootFiles('sb2').disk, 'after the checkpoint');
    const path = process.env.PATH;
    process.env.PATH = (path ?? '').split(':').filter((d) => !existsSync(join(d, 'xfs_io'))).join(':');
    try {
      const outcome = await volumes.restore('sb2', cp);
      expect(outcome).toMatchObject({ inPlace: false, reason: expect.stringContaining('xfs_io') });
    } finally {
      process.env.PATH = path;
    }
    expect((await readFile(volumes.bootFiles('sb2').disk, 'utf8')).startsWith('root')).toBe(true);
    expect(await volumes.recoverRestore('sb2')).toBeUndefined();
  });

  it('a memory image is created, found and removed inside the sandbox volume', async () => {
    const memory = volumes.memory('sb1');
    expect(await memory.exists()).toBe(false);
    await memory.create();
    await writeFile(join(memory.dir, 'state'), 'ram');
    expect(await memory.exists()).toBe(true);
    expect(memory.label).toBe('sandboxes/sb1/memory');
    expect(await memory.remove()).toBe(true);
    expect(await memory.exists()).toBe(false);
  });

  it('lists strays, trashes a sandbox with its checkpoints, and measures free space', async () => {
    expect((await volumes.strayCheckpoints('sb1', new Set())).map((s) => s.label)).toEqual(['checkpoints/sb1/cp1']);
    expect(await volumes.strayCheckpoints('sb1', new Set(['cp1']))).toEqual([]);
    expect((await volumes.straySandboxVolumes(new Set(['sb1', 'sb2']))).map((s) => s.name)).toEqual(['sb3']);
    expect((await volumes.strayCheckpointDirs(new Set(['sb1']))).map((s) => s.label)).toEqual(['checkpoints/sb2']);
    await volumes.trashSandbox('sb1');
    expect(existsSync(volumes.bootFiles('sb1').disk)).toBe(false);
    expect(await volumes.strayCheckpoints('sb1', new Set())).toEqual([]);
    expect(await volumes.freeBytes()).toBeGreaterThan(100 * MiB);
  });
});
