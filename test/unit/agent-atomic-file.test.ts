/**
 * The guest agent's atomic file writer (guest-image/agent/atomic-file.ts), durable or not
 * (identity.set's files are not fsynced): the file is replaced whole, with exactly the mode
 * asked for, and no temporary file is left.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../../guest-image/agent/atomic-file.js';

describe('writeFileAtomic', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  for (const durable of [true, false]) {
    it(`replaces a file whole with the exact mode (durable: ${String(durable)})`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'hob-atomic-'));
      dirs.push(dir);
      const path = join(dir, 'machine-id');
      writeFileSync(path, 'old contents that are longer\n', { mode: 0o600 });
      await writeFileAtomic(path, 'new\n', 0o444, { durable });
      expect(readFileSync(path, 'utf8')).toBe('new\n');
      expect(statSync(path).mode & 0o777).toBe(0o444);
      expect(readdirSync(dir)).toEqual(['machine-id']);
    });
  }
});
