/**
 * The guest agent's kernel helper (guest-image/agent/handlers/kernel-helper.ts)
 * freezing a real ext4 filesystem: a small image loop-mounted in a temp dir, never
 * the host's own filesystems. Needs root, loop devices, e2fsprogs and perl;
 * skips with a message otherwise.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpError } from '../../guest-image/agent/errors.js';
import { KernelHelper, HelperUnavailableError } from '../../guest-image/agent/handlers/kernel-helper.js';
import { onPath } from '../helpers/on-path.js';

function missingPrerequisite(): string | undefined {
  if (process.getuid?.() !== 0) return 'root (mount, loop devices)';
  if (!existsSync('/dev/loop-control')) return 'loop devices (/dev/loop-control)';
  if (!onPath('mkfs.ext4')) return 'e2fsprogs (mkfs.ext4)';
  if (!onPath('perl')) return 'perl';
  return undefined;
}
const missing = missingPrerequisite();
if (missing) console.warn(`kernel helper integration tests skipped: missing ${missing}`);

/** Pids of helper processes acting on `mountPoint`. */
async function helperPids(mountPoint: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const argv = (await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')).split('\0');
    if (argv[0] === 'perl' && argv.at(-2) === mountPoint) pids.push(Number(entry));
  }
  return pids;
}

const errorCode = (p: Promise<unknown>): Promise<string> => p.then(() => 'resolved', (err: unknown) => (err instanceof OpError ? err.code : `not an OpError: ${String(err)}`));

describe.skipIf(missing !== undefined)('kernel helper (real ext4 loop mount)', () => {
  let dir = '';
  let mnt = '';
  let mounted = false;
  const helpers: KernelHelper[] = [];
  const helper = (): KernelHelper => {
    const h = new KernelHelper(mnt);
    helpers.push(h);
    return h;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hob-freeze-'));
    mnt = join(dir, 'mnt');
    await mkdir(mnt);
    const image = join(dir, 'fs.img');
    await execa('truncate', ['-s', '64M', image]);
    await execa('mkfs.ext4', ['-q', '-F', image]);
    await execa('mount', ['-o', 'loop', image, mnt]);
    mounted = true;
  });

  afterAll(async () => {
    for (const h of helpers) await h.close().catch(() => undefined);
    if (mounted) {
      // Never leave a frozen filesystem behind: umount would hang on it.
      await execa('fsfreeze', ['-u', mnt], { reject: false });
      await execa('umount', [mnt], { reject: false });
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('freezes and thaws; the kernel reports a double freeze as EBUSY and a double thaw as EINVAL', async () => {
    const h = helper();
    await h.freeze();
    expect(await errorCode(h.freeze())).toBe('EBUSY');
    await h.thaw();
    expect(await errorCode(h.thaw())).toBe('EINVAL');
    await writeFile(join(mnt, 'after-thaw'), 'written');
    expect(await readFile(join(mnt, 'after-thaw'), 'utf8')).toBe('written');
    await h.close();
  });

  it('keeps one helper process across requests', async () => {
    const h = helper();
    await h.warm();
    const pids = await helperPids(mnt);
    expect(pids).toHaveLength(1);
    for (let i = 0; i < 3; i++) {
      await h.freeze();
      await h.thaw();
    }
    expect(await helperPids(mnt)).toEqual(pids);
    await h.close();
    expect(await helperPids(mnt)).toEqual([]);
  });

  it('thaws what it froze when the agent goes away (its stdin closes)', async () => {
    const h = helper();
    await h.freeze();
    await h.close();
    // Not frozen any more: a second helper's thaw finds nothing to thaw.
    expect(await errorCode(helper().thaw())).toBe('EINVAL');
  });

  it('replaces a helper that died', async () => {
    const h = helper();
    await h.warm();
    const [pid] = await helperPids(mnt);
    expect(pid).toBeDefined();
    process.kill(pid!, 'SIGKILL');
    // The next request may reach the dying helper (HelperUnavailableError) or a new one; the one after works.
    await h.freeze().catch((err: unknown) => expect(err).toBeInstanceOf(HelperUnavailableError));
    await h.freeze().catch((err: unknown) => expect(err).toBeInstanceOf(OpError));
    await h.thaw();
    const now = await helperPids(mnt);
    expect(now).toHaveLength(1);
    expect(now).not.toContain(pid);
    await h.close();
  });

  it('reseeds the kernel pool through the ioctls (the host pool here: mixing in random bytes is harmless)', async () => {
    const h = helper();
    await h.reseed(randomBytes(32));
    expect(await errorCode(h.reseed(Buffer.alloc(8)))).toBe('EINVAL');
    // The clock is only ever set in a VM (test/e2e/agent.test.ts); a bad time is refused before the helper.
    expect(await errorCode(h.setClock(-1))).toBe('EINVAL');
    expect(await errorCode(h.setClock(1.5))).toBe('EINVAL');
    await h.close();
  });

  it('reports a mount point it cannot open as HelperUnavailableError, naming the reason', async () => {
    const h = new KernelHelper(join(dir, 'no-such-dir'));
    helpers.push(h);
    const err = await h.freeze().then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(HelperUnavailableError);
    expect((err as Error).message).toMatch(/No such file or directory/);
  });
});
