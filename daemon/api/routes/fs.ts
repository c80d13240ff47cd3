/**
 * Files in a sandbox, in the Sprites filesystem shapes (paths relative to
 * `workingDir`, default "/"; modes as four octal digits):
 *
 * - `GET /{name}/fs/read?path=` → the raw bytes (streamed).
 * - `PUT /{name}/fs/write?path=&mode=0644&mkdirParents=true` with the raw bytes
 *   as body (streamed, no size limit besides the guest's disk; the file is
 *   replaced atomically) → `{path, size, mode}`.
 * - `GET /{name}/fs/list?path=` → `{path, entries: [{name, path, type, size, mode, modTime, isDir}], count}`;
 *   a directory lists its entries, anything else lists itself (the SDKs' stat).
 * - `DELETE /{name}/fs/delete?path=&recursive=true` → `{deleted: [path], count}`.
 * - `POST /{name}/fs/rename` `{source, dest}` → `{source, dest}`.
 * - `POST /{name}/fs/chmod` `{path, mode}` → `{path, mode}`.
 *
 * Failures inside the guest answer `{error, code, path, message}` with ENOENT
 * 404, EACCES/EPERM 403, EISDIR/ENOTDIR/EINVAL 400, EEXIST/ENOTEMPTY 409.
 */
import { posix } from 'node:path';
import { Readable } from 'node:stream';
import { Hono } from 'hono';
import { useAgent } from '../../core/guest.js';
import type { FileStat } from '../../protocol/index.js';
import { BadRequestError } from '../../errors.js';
import { FsChmodBody, FsDeleteQuery, FsPathQuery, FsRenameBody, FsWriteQuery, formatMode, resolveGuestPath, type FsEntry, type FsList, type FsWriteResult } from '../../wire/fs.js';
import { queryObject } from '../../wire/request-primitives.js';
import { fsErrorJson, type ApiDeps, type ApiEnv, type ApiLog } from '../context.js';
import { parseInput, readJsonBody } from '../validate.js';
import { nameParam } from './sandboxes.js';

/** One entry of a listing (wire/fs.ts). */
export function fsEntry(stat: FileStat, path: string): FsEntry {
  return {
    name: stat.name,
    path,
    type: stat.type,
    size: stat.size,
    mode: formatMode(stat.mode),
    modTime: new Date(stat.mtimeMs).toISOString(),
    isDir: stat.type === 'directory',
  };
}

export function fsRoutes(deps: ApiDeps, log: ApiLog): Hono<ApiEnv> {
  const router = new Hono<ApiEnv>();
  const query = (c: { req: { url: string } }) => queryObject(new URL(c.req.url).searchParams);

  /** Runs a file operation; errors answer in the filesystem error shape for `path`. */
  const guarded = async (path: () => string, where: string, work: () => Promise<Response>): Promise<Response> => {
    try {
      return await work();
    } catch (err) {
      let shown = '';
      try {
        shown = path();
      } catch {
        // The path itself was invalid.
      }
      return fsErrorJson(err, shown, log, where);
    }
  };

  router.get('/:name/fs/read', (c) => {
    let path = '';
    return guarded(() => path, 'fs/read', async () => {
      const name = nameParam(c.req.param('name'));
      const q = parseInput(FsPathQuery, query(c), 'query');
      path = resolveGuestPath(q.path, q.workingDir);
      const { agent, release } = await useAgent(deps, name);
      let reader;
      try {
        reader = await agent.readFile(path);
      } catch (err) {
        release();
        throw err;
      }
      reader.stream.once('close', release);
      const headers: Record<string, string> = { 'content-type': 'application/octet-stream', 'cache-control': 'no-store' };
      if (reader.size > 0) headers['content-length'] = String(reader.size);
      c.req.raw.signal.addEventListener('abort', () => reader.stream.destroy(), { once: true });
      return new Response(Readable.toWeb(reader.stream) as ReadableStream<Uint8Array>, { status: 200, headers });
    });
  });

  router.put('/:name/fs/write', (c) => {
    let path = '';
    return guarded(() => path, 'fs/write', async () => {
      const name = nameParam(c.req.param('name'));
      const q = parseInput(FsWriteQuery, query(c), 'query');
      path = resolveGuestPath(q.path, q.workingDir);
      const { agent, release } = await useAgent(deps, name);
      try {
        const result = await agent.writeFile(path, c.req.raw.body ?? Buffer.alloc(0), {
          mode: q.mode,
          mkdirs: q.mkdirParents ?? q.mkdir ?? false,
          signal: c.req.raw.signal,
        });
        const stat = await agent.stat(path);
        const written: FsWriteResult = { path, size: result.size, mode: formatMode(stat.mode) };
        return c.json(written);
      } finally {
        release();
      }
    });
  });

  router.get('/:name/fs/list', (c) => {
    let path = '';
    return guarded(() => path, 'fs/list', async () => {
      const name = nameParam(c.req.param('name'));
      const q = parseInput(FsPathQuery, query(c), 'query');
      path = resolveGuestPath(q.path, q.workingDir);
      const { agent, release } = await useAgent(deps, name);
      try {
        const stat = await agent.stat(path);
        const entries =
          stat.type === 'directory'
            ? (await agent.list(path)).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).map((e) => fsEntry(e, posix.join(path, e.name)))
            : [fsEntry({ ...stat, name: posix.basename(path) || '/' }, path)];
        const list: FsList = { path, entries, count: entries.length };
        return c.json(list);
      } finally {
        release();
      }
    });
  });

  router.delete('/:name/fs/delete', (c) => {
    let path = '';
    return guarded(() => path, 'fs/delete', async () => {
      const name = nameParam(c.req.param('name'));
      const q = parseInput(FsDeleteQuery, query(c), 'query');
      path = resolveGuestPath(q.path, q.workingDir);
      // Almost certainly a mistake; exec `rm` remains possible for whoever means it.
      if (path === '/') throw new BadRequestError('refusing to delete /');
      const { agent, release } = await useAgent(deps, name);
      try {
        await agent.remove(path, { recursive: q.recursive });
      } finally {
        release();
      }
      return c.json({ deleted: [path], count: 1 });
    });
  });

  router.post('/:name/fs/rename', (c) => {
    let path = '';
    return guarded(() => path, 'fs/rename', async () => {
      const name = nameParam(c.req.param('name'));
      const body = await readJsonBody(c.req.raw, FsRenameBody);
      const source = resolveGuestPath(body.source, body.workingDir);
      const dest = resolveGuestPath(body.dest, body.workingDir);
      path = source;
      const { agent, release } = await useAgent(deps, name);
      try {
        await agent.rename(source, dest);
      } finally {
        release();
      }
      return c.json({ source, dest });
    });
  });

  router.post('/:name/fs/chmod', (c) => {
    let path = '';
    return guarded(() => path, 'fs/chmod', async () => {
      const name = nameParam(c.req.param('name'));
      const body = await readJsonBody(c.req.raw, FsChmodBody);
      path = resolveGuestPath(body.path, body.workingDir);
      const { agent, release } = await useAgent(deps, name);
      try {
        await agent.chmod(path, body.mode);
      } finally {
        release();
      }
      return c.json({ path, mode: formatMode(body.mode) });
    });
  });

  return router;
}
