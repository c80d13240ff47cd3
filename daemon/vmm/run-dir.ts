import { readdir, readFile, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';

/** Removes the named entries of `dir`, ignoring those that do not exist. */
export async function removeEntries(dir: string, names: readonly string[]): Promise<void> {
  await Promise.all(
    names.map((n) =>
      unlink(join(dir, n)).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      }),
    ),
  );
}

/** Removes everything inside `dir` (not `dir` itself). */
export async function emptyDir(dir: string): Promise<void> {
  const names = await readdir(dir);
  await Promise.all(names.map((n) => rm(join(dir, n), { recursive: true, force: true })));
}

/** The last `maxBytes` of a text file (a VMM's stderr) for error messages; '' if unreadable. */
export async function tailFile(path: string, maxBytes = 2000): Promise<string> {
  try {
    const text = await readFile(path, 'utf8');
    return text.length > maxBytes ? `...${text.slice(-maxBytes)}` : text;
  } catch {
    return '';
  }
}
