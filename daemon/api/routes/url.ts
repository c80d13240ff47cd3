/**
 * hob extension for sandbox URLs (mounted with the sandbox routes):
 *
 * - `POST /{name}/url/login` → `{url, expires_at}`: a one-time link that, opened
 *   in a browser within five minutes, logs that browser in to the sandbox's
 *   private URL (see ../url-auth.ts). 404 for an unknown sandbox.
 *
 * The access mode itself is part of the sandbox (`PUT /{name}` with
 * `url_settings.auth`, `sprite` = private or `public`).
 */
import { Hono } from 'hono';
import type { ApiDeps, ApiEnv } from '../context.js';
import type { SandboxHost } from '../sandbox-host.js';
import { nameParam } from './sandboxes.js';

/** The body of `POST /{name}/url/login`. */
export interface UrlLoginResponse {
  /** Open this in a browser: `http://<name>.localhost:<port>/?hob_login=<code>`. Works once. */
  readonly url: string;
  /** ISO 8601: the link stops working then. */
  readonly expires_at: string;
}

export function urlRoutes(deps: Pick<ApiDeps, 'sandboxes'>, host: SandboxHost): Hono<ApiEnv> {
  const router = new Hono<ApiEnv>();
  router.post('/:name/url/login', (c) => {
    const name = nameParam(c.req.param('name'));
    deps.sandboxes.get(name);
    const login = host.login(name, c.get('tokenId'));
    const body: UrlLoginResponse = { url: login.url, expires_at: login.expiresAt.toISOString() };
    return c.json(body);
  });
  return router;
}
