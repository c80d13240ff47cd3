/**
 * install.sh on arm64 from source (issue 16, docs/architecture.md §15): runs
 * test/system/install-arm64.test.ts with HOB_ARM64_INSTALL_FULL=1, so npm ci in
 * the Debian 12 arm64 root (qemu-user) compiles better-sqlite3 as well as
 * node-pty, and the whole unit suite runs there; records the time of each phase
 * the test reports (the base tarball counts only when it was not cached:
 * HOB_TEST_CACHE points elsewhere for a cold run). Long: run by name only,
 * `npm run bench -- arm64-install`.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import type { Record } from './measure.js';

export async function benchArm64Install(record: Record): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'hob-bench-arm64-install-'));
  const timingsFile = join(dir, 'timings.json');
  try {
    const r = await execa('npx', ['vitest', 'run', 'test/system/install-arm64.test.ts'], {
      cwd: join(import.meta.dirname, '..'),
      env: { HOB_ARM64_INSTALL_TEST: '1', HOB_ARM64_INSTALL_FULL: '1', HOB_ARM64_INSTALL_TIMINGS: timingsFile, HOB_SKIP_IMAGE_BUILD: '1' },
      stdout: 'inherit',
      stderr: 'inherit',
      reject: false,
    });
    const timings = JSON.parse(await readFile(timingsFile, 'utf8').catch(() => '[]')) as Array<[string, number]>;
    for (const [what, seconds] of timings) record(`arm64 install (from source): ${what}`, seconds, 's');
    record('arm64 install (from source): the test passed', r.exitCode === 0 ? 1 : 0, 'bool');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
