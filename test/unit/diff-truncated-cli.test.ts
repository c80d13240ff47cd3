/** `hob diff` when the daemon capped the entry list (`truncated: true`): a note on stderr, stdout as before. */
import { describe, expect, it } from 'vitest';
import { diffTruncatedNote } from '../../daemon/cli/commands/diff.js';

describe('hob diff truncation note', () => {
  it('names how many changes are listed and how to see the rest', () => {
    expect(diffTruncatedNote(100000)).toBe('hob: only the first 100000 changes (by path) are listed, the diff has more: narrow it with --path\n');
  });
});
