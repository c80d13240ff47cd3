/**
 * The lifecycle, checkpoint, network and Sprites SDK suites once more, with warm templates on
 * (issue 18's acceptance; docs/architecture.md §17): every daemon they start builds the
 * template of `minimal` first (test/helpers/daemon.ts waits for it), so their creates resume
 * from it instead of booting. Their first run, in their own files, is the cold-boot run.
 * Where a test is about a boot itself (lifecycle: the boot timeline, a kill in the middle of
 * a boot) it asks for `cold`, as a user would.
 */
import { afterAll, beforeAll } from 'vitest';

const previous = process.env.HOB_TEST_TEMPLATES;
beforeAll(() => {
  process.env.HOB_TEST_TEMPLATES = '1';
});
afterAll(() => {
  if (previous === undefined) delete process.env.HOB_TEST_TEMPLATES;
  else process.env.HOB_TEST_TEMPLATES = previous;
});

await import('./lifecycle.test.js');
await import('./checkpoint.test.js');
await import('./network.test.js');
await import('./sprites-sdk.test.js');
