/**
 * The README parser and shape matcher behind test/e2e/readme.test.ts: what
 * counts as a command, what may vary between runs, and what may not.
 */
import { describe, expect, it } from 'vitest';
import { consoleSteps, lineShape, sdkExample, shapeMismatch } from '../helpers/readme.js';

const md = [
  '# t',
  '```sh',
  'hob not-run',
  '```',
  '```console',
  '$ hob ls',
  'NAME  STATE    SINCE',
  'dev   running  3s ago',
  '',
  '$ hob rm dev',
  '```',
  '```js',
  "import { SpritesClient } from '@fly/sprites';",
  '```',
].join('\n');

describe('README blocks', () => {
  it('takes the $ lines of console blocks as commands, the lines under them as output', () => {
    expect(consoleSteps(md)).toEqual([
      { line: 6, command: 'hob ls', expected: ['NAME  STATE    SINCE', 'dev   running  3s ago'] },
      { line: 10, command: 'hob rm dev', expected: [] },
    ]);
    expect(sdkExample(md)).toEqual({ line: 13, code: "import { SpritesClient } from '@fly/sprites';" });
    expect(() => consoleSteps('```console\noutput first\n```')).toThrow(/must start with/);
    expect(() => consoleSteps('```console\n$ hob ls\n')).toThrow(/never closed/);
  });

  it('lets ids, times, sizes, ages and column widths vary', () => {
    expect(lineShape('dev   running  3s ago  1.2 GiB  2025-11-29T02:30:38.123Z')).toBe(lineShape('dev running 12m ago 512 MiB 2024-01-01T00:00:00Z'));
    expect(lineShape('checkpoint v1 of dev (a1b2c3d4e5)')).toBe(lineShape('checkpoint v2 of dev (ffee99aa00)'));
    expect(lineShape('token laptop (id iljhbingnu) created')).toBe(lineShape('token laptop (id <id>) created')); // a base32 id without a digit
    expect(shapeMismatch(['NAME  STATE', 'dev   running  3s ago'], ['NAME STATE', 'dev running 1m 5s ago'])).toBeNull();
  });

  it('does not let words, states or the number of lines vary', () => {
    expect(shapeMismatch(['dev running'], ['dev stopped'])).toMatch(/expected the shape/);
    expect(shapeMismatch(['a', 'b'], ['a'])).not.toBeNull();
    expect(shapeMismatch(['a'], ['a', 'b'])).not.toBeNull();
    expect(shapeMismatch([], ['unexpected'])).not.toBeNull();
  });

  it('lets a ... line stand for any number of lines', () => {
    expect(shapeMismatch(['first', '...', 'last'], ['first', 'x', 'y', 'last'])).toBeNull();
    expect(shapeMismatch(['first', '...', 'last'], ['first', 'last'])).toBeNull();
    expect(shapeMismatch(['first', '...', 'last'], ['first', 'x'])).not.toBeNull();
  });
});
