import { mkdir, readdir, readFile, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { restrictTree } from '../storage/modes.js';

/**
 * Makes the directory of the VMs' run dirs (`<runDir>/vms`) root-only, creating it if
 * missing: it and every VM's dir 0700, their files (console logs, VMM logs, pid files) 0600.
 * Start-up fix for run dirs made by an older hob (0755 dirs, 0644 console logs): a VM's
 * console and VMM logs show what its guest printed, which is the sandbox owner's business.
 */
export async function restrictVmRunDirs(vmsDir: string): Promise<void> {
  await mkdir(vmsDir, { recursive: true, mode: 0o700 });
  await restrictTree(vmsDir, 2);
}

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
