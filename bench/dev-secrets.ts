/**
 * Claude Code and git in the dev image with granted secrets (issue 17 item 5,
 * docs/architecture.md §11): runs test/e2e/dev-secrets.test.ts with
 * HOB_DEV_IMAGE_TEST=1 (vitest.config.ts leaves it out of `npm test`: the dev
 * image is ~1.4 GiB and too long to build in CI) and records the time of each
 * step the test reports: the dev image (build, or the cache), the create,
 * `claude -p 'say hi'` and `git clone`, and whether it passed. Run by name only,
 * `npm run bench -- dev-secrets`.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import type { Record } from './measure.js';

export async function benchDevSecrets(record: Record): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'hob-bench-dev-secrets-'));
  const timingsFile = join(dir, 'timings.json');
  try {
    const r = await execa('npx', ['vitest', 'run', 'test/e2e/dev-secrets.test.ts'], {
      cwd: join(import.meta.dirname, '..'),
      env: { HOB_DEV_IMAGE_TEST: '1', HOB_DEV_SECRETS_TIMINGS: timingsFile },
      stdout: 'inherit',
      stderr: 'inherit',
      reject: false,
    });
    const timings = JSON.parse(await readFile(timingsFile, 'utf8').catch(() => '[]')) as Array<[string, number]>;
    for (const [what, seconds] of timings) record(`dev image with secrets: ${what}`, seconds, 's');
    record('dev image with secrets: the test passed', r.exitCode === 0 ? 1 : 0, 'bool');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
