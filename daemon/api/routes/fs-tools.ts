/**
 * Copy and change of owner in a sandbox, in the Sprites filesystem shapes
 * (the work is core's: core/guest-file-tools.ts):
 *
 * - `POST /{name}/fs/copy` `{source, dest, workingDir?, recursive?, preserveAttrs?}` → `{source, dest, count: 1}`.
 * - `POST /{name}/fs/chown` `{path, workingDir?, uid?, gid?, recursive?}` → `{path, uid, gid}`.
 *
 * `asRoot` is accepted and changes nothing: hob's file API always works as root.
 * Failures answer in the filesystem error shape, as routes/fs.ts does.
 */
import { Hono } from 'hono';
import { withAgent } from '../../core/guest.js';
import { chownInGuest, copyInGuest } from '../../core/guest-file-tools.js';
import { FsChownBody, FsCopyBody, resolveGuestPath } from '../../wire/fs.js';
import { fsErrorJson, type ApiDeps, type ApiEnv, type ApiLog } from '../context.js';
import { readJsonBody } from '../validate.js';
import { nameParam } from './sandboxes.js';

export function fsToolRoutes(deps: ApiDeps, log: ApiLog): Hono<ApiEnv> {
  const router = new Hono<ApiEnv>();

  router.post('/:name/fs/copy', async (c) => {
    let path = '';
    try {
      const name = nameParam(c.req.param('name'));
      const body = await readJsonBody(c.req.raw, FsCopyBody);
      const source = resolveGuestPath(body.source, body.workingDir);
      const dest = resolveGuestPath(body.dest, body.workingDir);
      path = source;
      await withAgent(deps, name, (agent) => copyInGuest(agent, source, dest, { recursive: body.recursive, preserveAttrs: body.preserveAttrs }));
      return c.json({ source, dest, count: 1 });
    } catch (err) {
      return fsErrorJson(err, path, log, 'fs/copy');
    }
  });

  router.post('/:name/fs/chown', async (c) => {
    let path = '';
    try {
      const name = nameParam(c.req.param('name'));
      const body = await readJsonBody(c.req.raw, FsChownBody);
      path = resolveGuestPath(body.path, body.workingDir);
      const target = path;
      await withAgent(deps, name, (agent) => chownInGuest(agent, target, { uid: body.uid, gid: body.gid, recursive: body.recursive }));
      return c.json({ path, uid: body.uid ?? null, gid: body.gid ?? null });
    } catch (err) {
      return fsErrorJson(err, path, log, 'fs/chown');
    }
  });

  return router;
}
