/** The image builder's default user (guest-image/build/default-user.ts) and its manifest field. */
import { lstat, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_USER_PATH, installDefaultUser, VARIANT_DEFAULT_USER } from '../../guest-image/build/default-user.js';
import { imageManifestSchema } from '../../guest-image/build/manifest.js';
import { DEFAULT_USER_FILE } from '../../guest-image/agent/default-user.js';

describe('the image default user', () => {
  it('is hob in dev and root in minimal, at the path the agent reads', () => {
    expect(VARIANT_DEFAULT_USER).toEqual({ dev: 'hob', minimal: 'root' });
    expect(`/${DEFAULT_USER_PATH}`).toBe(DEFAULT_USER_FILE);
  });

  it('is written into the tree, replacing a symlink instead of writing through it', async () => {
    const tree = await mkdtemp(join(tmpdir(), 'hob-tree-'));
    try {
      await installDefaultUser(tree, 'hob');
      expect(await readFile(join(tree, DEFAULT_USER_PATH), 'utf8')).toBe('hob\n');
      const outside = join(tree, 'outside');
      await writeFile(outside, 'untouched');
      await rm(join(tree, DEFAULT_USER_PATH));
      await mkdir(join(tree, 'etc/hob'), { recursive: true });
      await symlink(outside, join(tree, DEFAULT_USER_PATH));
      await installDefaultUser(tree, 'root');
      expect((await lstat(join(tree, DEFAULT_USER_PATH))).isFile()).toBe(true);
      expect(await readFile(outside, 'utf8')).toBe('untouched');
    } finally {
      await rm(tree, { recursive: true, force: true });
    }
  });

  it('is root in manifests written before it was recorded', () => {
    const field = imageManifestSchema.shape.defaultUser;
    expect(field.parse(undefined)).toBe('root');
    expect(field.parse('hob')).toBe('hob');
  });
});
