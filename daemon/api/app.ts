/**
 * The hobd HTTP API: a hono app plus the websocket upgrade handlers.
 *
 * Layout: `/healthz`; `/v1/tokens`; `/v1/events`; `/v1/stats`; the sandbox router (CRUD, exec, fs,
 * checkpoints with fork and diff)
 * mounted twice, at `/v1/sprites` (Sprites SDK compatibility) and
 * `/v1/sandboxes` (hob's name). Every response carries `Sprite-Version`.
 * Unknown routes answer 404 JSON; errors answer through api/errors.ts.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { getRequestListener } from '@hono/node-server';
import { Hono } from 'hono';
import { BadRequestError, NotFoundError } from '../errors.js';
import { consoleLog, errorJson, type ApiDeps, type ApiEnv } from './context.js';
import { UnauthorizedError } from './errors.js';
import { admit, type ListenerKind } from './guard.js';
import { CreateSlots, scopeMiddleware } from './scope.js';
import { UNSCOPED } from '../auth/scope.js';
import { checkpointRoutes } from './routes/checkpoints.js';
import { hostRoutes } from './routes/host.js';
import { consoleLogRoutes } from './routes/console-log.js';
import { eventRoutes, sandboxEventRoutes } from './routes/events.js';
import { execRoutes } from './routes/exec.js';
import { fsRoutes } from './routes/fs.js';
import { fsToolRoutes } from './routes/fs-tools.js';
import { lifecycleRoutes } from './routes/lifecycle.js';
import { policiesRoutes } from './routes/policies.js';
import { spriteWatchRoutes } from './routes/sprite-watch.js';
import { sandboxCrudRoutes } from './routes/sandboxes.js';
import { serviceRoutes } from './routes/services.js';
import { policyRoutes } from './routes/policy.js';
import { sandboxSecretRoutes, secretRoutes } from './routes/secrets.js';
import { imageRoutes } from './routes/images.js';
import { templateRoutes } from './routes/templates.js';
import { mcpRoutes } from './routes/mcp.js';
import { sandboxStatsRoutes, statsRoutes } from './routes/stats.js';
import { tokenRoutes } from './routes/tokens.js';
import { urlRoutes } from './routes/url.js';
import { createUpgradeHandlers } from './ws/upgrade.js';
import { dashboardLoginRoutes } from './routes/dashboard.js';
import { dashboardRoutes, isDashboardPath } from '../dashboard/routes.js';

export interface Api {
  /** The hono app (for tests: `app.fetch(request, {listener: 'unix'|'tcp', ...})`). */
  readonly app: Hono<ApiEnv>;
  /** A node `request` listener for a server of the given kind. */
  requestListener(listener: ListenerKind): (req: IncomingMessage, res: ServerResponse) => void;
  /** A node `upgrade` listener for a server of the given kind. */
  upgradeListener(listener: ListenerKind): (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
  /** Drops open websockets and stops timers (sessions themselves live in deps.sessions). */
  close(): void;
}

export function createApi(deps: ApiDeps): Api {
  const log = deps.log ?? consoleLog;
  const app = new Hono<ApiEnv>();
  const policy = { port: deps.port, extraHosts: deps.extraHosts };

  const common = (response: Response): Response => {
    response.headers.set('Sprite-Version', deps.version);
    response.headers.set('X-Content-Type-Options', 'nosniff');
    if (!response.headers.has('Cache-Control')) response.headers.set('Cache-Control', 'no-store');
    return response;
  };

  // Set on the final response (after next()), so that error and 404 responses carry them too.
  app.use('*', async (c, next) => {
    await next();
    // A sandbox's own responses (sandbox URLs) pass through untouched.
    if (!c.get('sandboxHost')) common(c.res);
  });

  app.use('*', async (c, next) => {
    const admission = admit(
      c.env.listener,
      {
        method: c.req.method,
        host: c.req.header('host'),
        origin: c.req.header('origin'),
        authorization: c.req.header('authorization'),
        isUpgrade: false,
        cookie: c.req.header('cookie'),
        csrf: c.req.header('x-hob-csrf'),
        secFetchSite: c.req.header('sec-fetch-site'),
        secFetchMode: c.req.header('sec-fetch-mode'),
        dashboardPath: deps.dashboard !== undefined && isDashboardPath(c.req.path),
      },
      policy,
      deps.tokens,
      deps.dashboard,
    );
    if (admission.kind === 'refused') {
      const response = errorJson(admission.error, log, 'admission');
      if (admission.error instanceof UnauthorizedError) response.headers.set('WWW-Authenticate', 'Bearer');
      return response;
    }
    if (admission.kind === 'sandbox') {
      if (deps.sandboxHost) {
        c.set('sandboxHost', true);
        return deps.sandboxHost.http(c.req.raw, admission.name);
      }
      return errorJson(new NotFoundError(`no web server is served for ${admission.name} yet`), log, 'sandbox host');
    }
    if (admission.kind === 'anonymous') {
      c.set('tokenId', undefined);
      c.set('dashboardSession', undefined);
      c.set('scope', UNSCOPED);
    } else {
      c.set('tokenId', admission.tokenId);
      c.set('dashboardSession', admission.session);
      c.set('scope', admission.scope);
    }
    await next();
  });
  app.use('*', scopeMiddleware());

  app.get('/healthz', (c) => c.json({ status: 'ok', version: deps.version }));
  app.route('/v1/tokens', tokenRoutes(deps));
  if (deps.events) app.route('/v1/events', eventRoutes(deps.events));
  if (deps.secrets) app.route('/v1/secrets', secretRoutes(deps.secrets));
  app.route('/mcp', mcpRoutes(deps, (request, env) => app.fetch(request, env)));
  if (deps.images) app.route('/v1/images', imageRoutes({ images: deps.images, templates: deps.templates, log }));
  if (deps.templates) app.route('/v1/templates', templateRoutes({ templates: deps.templates, images: deps.images }));
  if (deps.stats) app.route('/v1/stats', statsRoutes(deps.stats));
  if (deps.host) app.route('/v1/host', hostRoutes(deps.host));

  const slots = new CreateSlots();
  const sandboxes = new Hono<ApiEnv>();
  sandboxes.route('/', spriteWatchRoutes(deps)); // GET / with Accept: application/x-ndjson, before the list
  sandboxes.route('/', sandboxCrudRoutes(deps, log, slots));
  sandboxes.route('/', lifecycleRoutes(deps));
  sandboxes.route('/', policiesRoutes(deps));
  sandboxes.route('/', fsToolRoutes(deps, log));
  sandboxes.route('/', execRoutes(deps, log));
  sandboxes.route('/', fsRoutes(deps, log));
  if (deps.sandboxHost) sandboxes.route('/', urlRoutes(deps, deps.sandboxHost));
  sandboxes.route('/', checkpointRoutes(deps, log, slots));
  sandboxes.route('/', serviceRoutes(deps, log));
  sandboxes.route('/', policyRoutes(deps));
  if (deps.events) sandboxes.route('/', sandboxEventRoutes(deps.events));
  if (deps.secrets) sandboxes.route('/', sandboxSecretRoutes(deps.secrets));
  if (deps.stats) sandboxes.route('/', sandboxStatsRoutes(deps.stats));
  if (deps.consoleLogs) sandboxes.route('/', consoleLogRoutes(deps.consoleLogs));
  app.route('/v1/sprites', sandboxes);
  app.route('/v1/sandboxes', sandboxes);
  if (deps.dashboard) {
    app.route('/v1/dashboard', dashboardLoginRoutes(deps.dashboard, deps.port));
    // Pages fetch their data from the API in process, with the browser's own credentials.
    app.route(
      '/',
      dashboardRoutes(deps.dashboard, (c, path, extra) => {
        const headers = new Headers(extra);
        for (const name of ['host', 'cookie', 'authorization']) {
          const value = c.req.header(name);
          if (value !== undefined) headers.set(name, value);
        }
        return Promise.resolve(app.fetch(new Request(new URL(path, c.req.url), { headers }), c.env));
      }),
    );
  }

  app.notFound((c) => c.json({ error: 'not_found', message: `no route for ${c.req.method} ${c.req.path}` }, 404));
  app.onError((err, c) => errorJson(err, log, `${c.req.method} ${c.req.path}`));

  const upgrades = createUpgradeHandlers(deps, log);
  const listeners = new Map<ListenerKind, (req: IncomingMessage, res: ServerResponse) => void>();
  const requestListener = (listener: ListenerKind) => {
    let handler = listeners.get(listener);
    if (!handler) {
      const inner = getRequestListener((request, env) => app.fetch(request, { ...env, listener }), {
        // A request node-server cannot even turn into a Request (no Host, bad URL).
        errorHandler: (err) => errorJson(err instanceof Error && err.name === 'RequestError' ? new BadRequestError('malformed request') : err, log, 'request'),
      });
      handler = (req, res) => void inner(req, res);
      listeners.set(listener, handler);
    }
    return handler;
  };

  return {
    app,
    requestListener,
    upgradeListener: (listener) => upgrades.handler(listener),
    close: () => upgrades.close(),
  };
}
