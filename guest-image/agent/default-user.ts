/**
 * The image's default user: who an exec runs as when the request names no
 * user (docs/architecture.md §5). The image builder writes the name to
 * DEFAULT_USER_FILE (`hob` in the dev image, `root` in the minimal one); the
 * agent reads it at every exec, so changing the file inside a sandbox changes
 * the default from the next exec on.
 *
 * The file is guest content like any other: whatever it holds (a huge file, a
 * FIFO, binary junk, a user that does not exist) the result is root, never a
 * hang or a crash. Read synchronously like the lookups in command.ts; the open
 * is non-blocking so that a FIFO cannot stall the agent.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { log } from './log.js';
import { resolveUser, type GuestUser } from './users.js';

export const DEFAULT_USER_FILE = '/etc/hob/default-user';

/** More than any valid content (a name of at most 32 characters and a newline). */
const MAX_READ = 128;
/** A user name as useradd accepts it, or a numeric uid. */
const USER_NAME = /^(?:[a-z_][a-z0-9_-]{0,31}\$?|\d{1,10})$/i;

let file: string | undefined = DEFAULT_USER_FILE;

/** Where the default user is read from; undefined: nowhere (always root). Set once by main.ts. */
export function setDefaultUserFile(path: string | undefined): void {
  file = path;
}

/** The name or uid in the default-user file; undefined when there is none or it holds anything else. */
export function readDefaultUser(path: string | undefined = file): string | undefined {
  if (path === undefined) return undefined;
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch {
    return undefined; // usually ENOENT: no default user
  }
  try {
    if (!fstatSync(fd).isFile()) return undefined;
    const buf = Buffer.alloc(MAX_READ);
    const n = readSync(fd, buf, 0, MAX_READ, 0);
    if (n >= MAX_READ) return undefined;
    const text = buf.subarray(0, n).toString('utf8').trim();
    return USER_NAME.test(text) ? text : undefined;
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/**
 * Who an exec runs as: the requested user (ENOUSER when unknown), else the
 * default user, else root. A default user missing from /etc/passwd is root
 * too: the file's mistake must not make every exec fail.
 */
export async function resolveExecUser(requested: string | undefined, passwdPath?: string): Promise<GuestUser> {
  if (requested !== undefined) return resolveUser(requested, passwdPath);
  const fallback = readDefaultUser();
  if (fallback === undefined) return resolveUser(undefined, passwdPath);
  try {
    return await resolveUser(fallback, passwdPath);
  } catch {
    log(`the default user ${fallback} (${file ?? 'no file'}) is not in /etc/passwd: running as root`);
    return resolveUser(undefined, passwdPath);
  }
}
