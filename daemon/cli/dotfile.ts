/**
 * The `.hob` file: names the default sandbox for a directory tree, like
 * Sprites' `sprite use`. `hob use NAME` writes it into the current directory
 * as JSON, `{"sandbox": "NAME"}` plus a newline; commands that take a sandbox
 * look for `.hob` in the current directory, then in each parent up to `/`,
 * and use the first one found.
 *
 * Reading also accepts a plain-text file holding just the name (for people
 * who write it by hand: `echo dev > .hob`). Anything else is an error naming
 * the file, rather than a silent fallback to another sandbox.
 */
// `fs.promises`, not node:fs/promises: node loads it at the first call, not on every command (docs/architecture.md §23).
import { promises as fs } from 'node:fs';
import { dirname, join } from 'node:path';
import * as z from 'zod/mini';
import { SandboxNameSchema } from '../core/names.js';
import { CliError } from './errors.js';

export const DOTFILE = '.hob';

const DotfileJson = z.object({ sandbox: SandboxNameSchema });

export interface DefaultSandbox {
  readonly name: string;
  /** Absolute path of the `.hob` file it came from. */
  readonly file: string;
}

/** Parses the text of a `.hob` file. @throws CliError naming `file` when it holds neither form. */
export function parseDotfile(text: string, file: string): string {
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) {
    let value: unknown;
    try {
      value = JSON.parse(trimmed);
    } catch {
      throw new CliError(`${file} is not valid JSON (expected {"sandbox": "NAME"})`);
    }
    const parsed = DotfileJson.safeParse(value);
    if (!parsed.success) throw new CliError(`${file}: expected {"sandbox": "NAME"} with NAME a valid sandbox name`);
    return parsed.data.sandbox;
  }
  const parsed = SandboxNameSchema.safeParse(trimmed);
  if (!parsed.success) throw new CliError(`${file} does not name a sandbox (expected {"sandbox": "NAME"} or just NAME)`);
  return parsed.data;
}

/** The text `hob use` writes. */
export function dotfileText(name: string): string {
  return `${JSON.stringify({ sandbox: name })}\n`;
}

/** Finds the nearest `.hob` from `startDir` upwards; undefined when there is none. */
export async function findDefaultSandbox(startDir: string): Promise<DefaultSandbox | undefined> {
  let dir = startDir;
  for (;;) {
    const file = join(dir, DOTFILE);
    let text: string | undefined;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // A directory we cannot read, or a `.hob` that is a directory, is skipped like a missing file.
      if (code !== 'ENOENT' && code !== 'ENOTDIR' && code !== 'EACCES' && code !== 'EISDIR') throw err;
    }
    if (text !== undefined) return { name: parseDotfile(text, file), file };
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/** Writes `<dir>/.hob` naming `name`; returns the file's path. */
export async function writeDotfile(dir: string, name: string): Promise<string> {
  const file = join(dir, DOTFILE);
  await fs.writeFile(file, dotfileText(name), { mode: 0o644 });
  return file;
}

/** Removes `<dir>/.hob`; false when there was none. */
export async function removeDotfile(dir: string): Promise<boolean> {
  const file = join(dir, DOTFILE);
  try {
    await fs.rm(file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}
