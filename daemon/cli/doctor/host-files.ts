/**
 * Reading the host's /proc, /sys, /dev, /etc and /lib/modules under a root
 * directory (`/` on a real run; a fixture tree in tests, so that the arm64
 * checks run on any machine: test/fixtures/dgx-spark/). Every read is
 * world-readable on a normal host: the checks built on these need no root.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** A host's files seen under `root`. Never throws: a missing or unreadable file reads as undefined. */
export interface HostFiles {
  readonly root: string;
  /** Text of `path` (absolute, as on the host), or undefined. */
  text(path: string): Promise<string | undefined>;
  /** Bytes of `path`, or undefined. */
  bytes(path: string): Promise<Buffer | undefined>;
  /** Entry names of directory `path`, or [] when it cannot be listed. */
  list(path: string): Promise<string[]>;
  /** Whether `path` exists. */
  exists(path: string): Promise<boolean>;
  /** stat of `path` (follows symlinks), or undefined. */
  stat(path: string): Promise<Awaited<ReturnType<typeof stat>> | undefined>;
}

export function hostFiles(root = '/'): HostFiles {
  const at = (path: string): string => join(root, path);
  return {
    root,
    text: (path) => readFile(at(path), 'utf8').catch(() => undefined),
    bytes: (path) => readFile(at(path)).catch(() => undefined),
    list: (path) => readdir(at(path)).catch(() => [] as string[]),
    exists: (path) => stat(at(path)).then(() => true, () => false),
    stat: (path) => stat(at(path)).catch(() => undefined),
  };
}
