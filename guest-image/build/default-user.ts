/**
 * The image's default user (docs/architecture.md §5): who `hob console`,
 * `hob exec` and API execs run as when no user is asked for. The guest agent
 * reads it from /etc/hob/default-user (guest-image/agent/default-user.ts); the
 * manifest records it too.
 */
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ImageVariant } from './types.js';

/** dev: the user customize-dev.sh creates; minimal (tests): root, as before images had a default user. */
export const VARIANT_DEFAULT_USER: Readonly<Record<ImageVariant, string>> = { minimal: 'root', dev: 'hob' };

/** Path of the file inside the image, relative to its root. */
export const DEFAULT_USER_PATH = 'etc/hob/default-user';

/** Writes the default user into the tree (replacing whatever is at the path, a symlink included). */
export async function installDefaultUser(tree: string, user: string): Promise<void> {
  const dest = path.join(tree, DEFAULT_USER_PATH);
  const dir = path.dirname(dest);
  if (!existsSync(dir)) await mkdir(dir, { recursive: true, mode: 0o755 });
  await rm(dest, { force: true });
  await writeFile(dest, `${user}\n`, { mode: 0o644 });
}
