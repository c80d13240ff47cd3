/** The unary file operations: stat, list, mkdir, rename, remove, chmod. Errors keep their errno code. */
import type { Stats } from 'node:fs';
import { chmod, lstat, mkdir, readdir, readlink, rename, rm, rmdir, unlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { MAX_PAYLOAD, type FileStat, type RequestOf, type ResultOf } from '../../../daemon/protocol/index.js';
import { OpError } from '../errors.js';

function fileType(st: Stats): FileStat['type'] {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'directory';
  if (st.isSymbolicLink()) return 'symlink';
  return 'other';
}

/** lstat as a FileStat: symlinks are described, not followed. */
export async function describe(path: string, name = basename(path) || '/'): Promise<FileStat> {
  const st = await lstat(path);
  const result: FileStat = {
    name,
    type: fileType(st),
    size: st.size,
    mode: st.mode & 0o7777,
    uid: st.uid,
    gid: st.gid,
    mtimeMs: st.mtimeMs,
  };
  if (st.isSymbolicLink()) result.linkTarget = await readlink(path).catch(() => '');
  return result;
}

export function fsStat(req: RequestOf<'fs.stat'>): Promise<ResultOf<'fs.stat'>> {
  return describe(req.path);
}

export async function fsList(req: RequestOf<'fs.list'>): Promise<ResultOf<'fs.list'>> {
  const names = await readdir(req.path);
  const entries: FileStat[] = [];
  let bytes = 0;
  for (const name of names.sort()) {
    let entry: FileStat;
    try {
      entry = await describe(join(req.path, name), name);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // removed while listing
      throw err;
    }
    // The answer is one frame: refuse rather than fail to encode it.
    bytes += JSON.stringify(entry).length + 1;
    if (bytes > MAX_PAYLOAD - 4096) throw new OpError('E2BIG', `${req.path} has too many entries to list in one answer`);
    entries.push(entry);
  }
  return { entries };
}

export async function fsMkdir(req: RequestOf<'fs.mkdir'>): Promise<ResultOf<'fs.mkdir'>> {
  await mkdir(req.path, { recursive: req.recursive, ...(req.mode !== undefined ? { mode: req.mode } : {}) });
  return {};
}

export async function fsRename(req: RequestOf<'fs.rename'>): Promise<ResultOf<'fs.rename'>> {
  await rename(req.from, req.to);
  return {};
}

export async function fsRemove(req: RequestOf<'fs.remove'>): Promise<ResultOf<'fs.remove'>> {
  if (req.recursive) {
    await lstat(req.path); // a missing path is ENOENT, as without `recursive`
    await rm(req.path, { recursive: true, force: false });
    return {};
  }
  const st = await lstat(req.path);
  if (st.isDirectory()) await rmdir(req.path);
  else await unlink(req.path);
  return {};
}

export async function fsChmod(req: RequestOf<'fs.chmod'>): Promise<ResultOf<'fs.chmod'>> {
  await chmod(req.path, req.mode);
  return {};
}
