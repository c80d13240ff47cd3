/** A full pool: create answers 507 and leaves nothing behind (issue: bad input). */
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.js';

describe('a full pool', () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startTestDaemon({ poolSize: '3GiB' });
  });
  afterAll(async () => {
    await d?.stop();
  });

  it('refuses a create with 507 and leaves no sandbox, row or subvolume', async () => {
    const pool = join(d.stateDir, 'pool');
    // Take all free space: fallocate really reserves blocks. Greedy, halving on ENOSPC.
    const usage = await execa('btrfs', ['filesystem', 'usage', '-b', pool]);
    let size = Number(/Free \(estimated\):\s+(\d+)/.exec(String(usage.stdout))?.[1]);
    expect(size).toBeGreaterThan(0);
    const fillers: string[] = [];
    while (size > 8 * 1024 ** 2) {
      const file = join(pool, `filler-${fillers.length}`);
      const r = await execa('fallocate', ['-l', String(size), file], { reject: false });
      if (r.exitCode === 0) fillers.push(file);
      else size = Math.floor(size / 2);
    }
    try {
      const r = await d.request({ method: 'POST', path: '/v1/sandboxes', body: { name: 'no-room' } });
      expect(r.status, r.text()).toBe(507);
      expect(r.json<{ error: string }>().error).toBe('pool_full');
      const listed = (await d.request({ path: '/v1/sandboxes' })).json<{ sprites: unknown[] }>().sprites;
      expect(listed).toEqual([]);
      expect(await readdir(join(pool, 'sandboxes'))).toEqual([]);
    } finally {
      for (const file of fillers) await rm(file, { force: true });
    }
  });
});
