/**
 * `hob cp SRC DST`: copies one file between this machine and a sandbox (or
 * between two sandboxes), streaming, through the API's fs routes.
 *
 * Operands:
 * - `NAME:/path`: a path in sandbox NAME; `:/path` uses the `.hob` sandbox.
 *   Relative sandbox paths are relative to `/`.
 * - `-`: stdin (as SRC) or stdout (as DST).
 * - anything else: a local path. A local path with a colon before its first
 *   slash must be written `./a:b` so it is not read as a sandbox.
 *
 * A DST that is an existing directory (or ends with `/`) receives the file
 * under its source name. A local file is written to a temporary name in the
 * same directory and renamed into place, so a failed copy leaves no half
 * file; the sandbox side is replaced atomically by the API. Directories as
 * SRC are refused for now.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, posix, resolve } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import type { HobClient } from '../client.js';
import { addCommonOptions, clientFor, sandboxName, sandboxPath, wantsJson, type CliContext } from '../context.js';
import { ApiError, CliError, UsageError } from '../errors.js';
import { printJson } from '../output.js';
import { FsList, FsWriteResult } from '../schemas.js';
import { checkSandboxName } from '../units.js';

export type CpOperand =
  | { readonly kind: 'stdio' }
  | { readonly kind: 'local'; readonly path: string }
  /** `sandbox` undefined: the `.hob` sandbox (`:/path`). */
  | { readonly kind: 'remote'; readonly sandbox: string | undefined; readonly path: string };

/** Reads one cp operand (see the module comment). @throws UsageError for a bad sandbox name or an empty path. */
export function parseCpOperand(text: string): CpOperand {
  if (text === '-') return { kind: 'stdio' };
  const colon = text.indexOf(':');
  const slash = text.indexOf('/');
  if (colon < 0 || (slash >= 0 && slash < colon)) {
    if (text === '') throw new UsageError('empty path');
    return { kind: 'local', path: text };
  }
  const name = text.slice(0, colon);
  const path = text.slice(colon + 1);
  if (path === '') throw new UsageError(`"${text}": give a path after the colon, e.g. ${name || 'NAME'}:/root/file`);
  return { kind: 'remote', sandbox: name === '' ? undefined : checkSandboxName(name), path: posix.resolve('/', path) + (path.endsWith('/') && path !== '/' ? '/' : '') };
}

/** Counts the bytes going through. */
class Counter extends Transform {
  bytes = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null, data?: Buffer) => void): void {
    this.bytes += chunk.length;
    done(null, chunk);
  }
}

/** Whether a sandbox path is a directory (false when it does not exist). */
async function remoteIsDirectory(client: HobClient, name: string, path: string): Promise<boolean> {
  try {
    const list = await client.json('GET', sandboxPath(name, '/fs/list'), FsList, { query: { path } });
    // A file lists itself; a directory lists its entries (maybe none).
    const only = list.entries[0];
    return !(list.entries.length === 1 && only !== undefined && only.path === list.path && !only.isDir);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return false;
    throw err;
  }
}

async function localIsDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/** Opens a sandbox file for reading; a directory is refused with a clear message. */
async function openRemote(client: HobClient, name: string, path: string): Promise<Readable> {
  try {
    return await client.send('GET', sandboxPath(name, '/fs/read'), { query: { path } });
  } catch (err) {
    if (err instanceof ApiError && err.code === 'EISDIR') throw directoryRefused(`${name}:${path}`);
    throw err;
  }
}

function directoryRefused(what: string): CliError {
  return new CliError(`${what} is a directory: hob cp copies single files for now (for a tree: tar -C DIR -c . | hob exec NAME -- tar -x -C /dest)`);
}

export function registerCpCommand(program: Command, ctx: CliContext): void {
  const { io } = ctx;
  addCommonOptions(
    program
      .command('cp')
      .description('copy a file to, from or between sandboxes: hob cp ./f dev:/root/f, hob cp dev:/etc/hosts -')
      .argument('<src>', 'NAME:/path, a local path, or - for stdin')
      .argument('<dst>', 'NAME:/path, a local path, or - for stdout'),
  ).action(async (srcText: string, dstText: string, _o: unknown, cmd: Command) => {
    const src = parseCpOperand(srcText);
    const dst = parseCpOperand(dstText);
    if (src.kind !== 'remote' && dst.kind !== 'remote') throw new UsageError('one side of hob cp must be in a sandbox (NAME:/path)');
    if (dst.kind === 'stdio' && wantsJson(cmd)) throw new UsageError('--json needs stdout: it cannot go with - as the destination');
    const client = clientFor(cmd, ctx);
    const counter = new Counter();

    // The source stream and the name a directory destination gives the copy.
    let input: Readable;
    let sourceName: string | undefined;
    let sourceMode: number | undefined;
    let sourceSize: number | undefined;
    let shownSource: string;
    if (src.kind === 'remote') {
      const name = await sandboxName(src.sandbox, ctx);
      shownSource = `${name}:${src.path}`;
      if (src.path.endsWith('/')) throw directoryRefused(shownSource);
      sourceName = posix.basename(src.path);
      input = await openRemote(client, name, src.path);
    } else if (src.kind === 'local') {
      const path = resolve(io.cwd, src.path);
      shownSource = src.path;
      const info = await stat(path);
      if (info.isDirectory()) throw directoryRefused(src.path);
      sourceName = basename(path);
      sourceMode = info.mode & 0o7777;
      sourceSize = info.isFile() ? info.size : undefined;
      input = createReadStream(path);
    } else {
      shownSource = '-';
      input = io.stdin;
    }

    let shownDest: string;
    try {
      if (dst.kind === 'stdio') {
        shownDest = '-';
        await pipeline(input, counter, io.stdout, { end: false });
      } else if (dst.kind === 'local') {
        let path = resolve(io.cwd, dst.path);
        if (dst.path.endsWith('/') || (await localIsDirectory(path))) {
          if (sourceName === undefined) throw new UsageError(`${dst.path} is a directory: name the file to write stdin to`);
          path = join(path, sourceName);
        }
        shownDest = path;
        const temp = join(dirname(path), `.${basename(path)}.hob-${randomBytes(4).toString('hex')}`);
        try {
          await pipeline(input, counter, createWriteStream(temp, { mode: 0o666 }));
          await rename(temp, path);
        } catch (err) {
          await rm(temp, { force: true });
          throw err;
        }
      } else {
        const name = await sandboxName(dst.sandbox, ctx);
        let path = dst.path;
        if (path.endsWith('/') || (await remoteIsDirectory(client, name, path))) {
          if (sourceName === undefined) throw new UsageError(`${name}:${dst.path} is a directory: name the file to write stdin to`);
          path = posix.join(path, sourceName);
        }
        shownDest = `${name}:${path}`;
        input.pipe(counter);
        input.on('error', (err) => counter.destroy(err));
        await client.json('PUT', sandboxPath(name, '/fs/write'), FsWriteResult, {
          query: { path, mode: sourceMode === undefined ? undefined : sourceMode.toString(8).padStart(4, '0') },
          body: counter,
          contentLength: sourceSize,
        });
      }
    } finally {
      input.destroy();
    }
    if (wantsJson(cmd)) printJson(io.stdout, { source: shownSource, destination: shownDest, bytes: counter.bytes });
  });
}
