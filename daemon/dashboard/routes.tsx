/** @jsxImportSource hono/jsx */
/**
 * The dashboard's routes on the TCP listener (docs/architecture.md §13):
 * `/login?code=` (trades a one-time code for the session cookie), `POST
 * /logout`, `/assets/<name>-<hash>.<ext>` (immutable), the pages (`/`,
 * `/sandboxes/<name>`) and their fragments (`/fragments/...`, the parts
 * the client modules swap in).
 *
 * Pages and fragments get their data from the API itself, in process, with
 * the browser's own credentials (`ApiFetch`): the dashboard is one more
 * client of the same routes, never a second path into core.
 */
import { Hono } from 'hono';
import * as z from 'zod';
import { CheckpointObject, DiffResponse } from '../wire/checkpoints.js';
import { SessionList as SessionListSchema } from '../wire/exec.js';
import { FsList } from '../wire/fs.js';
import { ImageList } from '../wire/images.js';
import { SpriteList, SpriteObject } from '../wire/sprite.js';
import type { ApiContext, ApiEnv } from '../api/context.js';
import { loadAssets, type Assets } from './assets.js';
import { ErrorPage, LoginHint } from './pages/layout.js';
import { Overview, SandboxListPage, SandboxRows } from './pages/sandboxes.js';
import { ImageRows, ImagesPage, TokenRows, TokensPage } from './pages/admin.js';
import { TokenList } from '../wire/tokens.js';
import { EventList } from '../wire/events.js';
import { EventRows, EventsPage, type EventFilterForm } from './pages/events.js';
import { CheckpointList, DiffView, FileDiff, FileList, SandboxPage, SessionList } from './pages/sandbox.js';
import { clearedCookie, sessionCookie, type DashboardSessions } from './sessions.js';
import { listExtras, sectionRoutes } from './section-routes.js';
import { HostOverview } from './pages/overview.js';

/** Calls the API in process with the browser's credentials; `path` starts with `/v1/`. */
export type ApiFetch = (c: ApiContext, path: string, headers?: Record<string, string>) => Promise<Response>;

/** The security headers of every page and fragment. */
const PAGE_HEADERS: Record<string, string> = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; font-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
};

/** Events shown in a sandbox's history (the events page shows four times as many). */
const HISTORY = 50;

/** Paths the dashboard serves (the rest of the TCP listener's paths are the API's). */
export function isDashboardPath(path: string): boolean {
  return path === '/' || path === '/login' || path === '/logout' || /^\/(assets|sandboxes|fragments|images|tokens|events)(\/|$)/.test(path);
}

/** The API answered with an error: its message, shown on the page. */
class ApiFailure extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

export function dashboardRoutes(sessions: DashboardSessions, api: ApiFetch): Hono<ApiEnv> {
  const router = new Hono<ApiEnv>();

  const get = async <S extends z.core.$ZodType>(c: ApiContext, path: string, schema: S, headers?: Record<string, string>): Promise<z.output<S>> => {
    const response = await api(c, path, headers);
    const body: unknown = await response.json().catch(() => undefined);
    if (!response.ok) {
      const message = typeof body === 'object' && body !== null && 'message' in body ? String(body.message) : `HTTP ${response.status}`;
      throw new ApiFailure(response.status, message);
    }
    return z.parse(schema, body);
  };
  const getText = async (c: ApiContext, path: string): Promise<string> => {
    const response = await api(c, path);
    const text = await response.text();
    if (!response.ok) throw new ApiFailure(response.status, safeMessage(text, response.status));
    return text;
  };

  router.use('*', async (c, next) => {
    await next();
    if (c.req.path.startsWith('/assets/')) return;
    for (const [k, v] of Object.entries(PAGE_HEADERS)) c.res.headers.set(k, v);
  });

  router.get('/assets/:file', async (c) => {
    const asset = (await loadAssets()).files.get(c.req.param('file'));
    if (!asset) return c.json({ error: 'not_found', message: 'no such asset' }, 404);
    const headers = { 'Content-Type': asset.type, 'Cache-Control': 'public, max-age=31536000, immutable', Vary: 'Accept-Encoding' };
    if (/\bgzip\b/.test(c.req.header('accept-encoding') ?? '')) {
      return c.body(new Uint8Array(asset.gzip), 200, { ...headers, 'Content-Encoding': 'gzip' });
    }
    return c.body(new Uint8Array(asset.body), 200, headers);
  });

  router.get('/login', async (c) => {
    const assets = await loadAssets();
    const session = sessions.redeem(c.req.query('code') ?? '');
    if (!session) {
      return c.html(<LoginHint assets={assets} message="This login link is not valid: it was used already, it expired, or it was never issued." />, 401);
    }
    c.header('Set-Cookie', sessionCookie(session));
    // Not a redirect: a page of this origin moves on, so the SameSite=Strict cookie goes along.
    return c.html(
      <html lang="en">
        <head>
          <meta http-equiv="refresh" content="0;url=/" />
          <title>Logged in · hob</title>
        </head>
        <body>
          <p>
            Logged in. <a href="/">Go to the dashboard</a>.
          </p>
        </body>
      </html>,
    );
  });

  router.post('/logout', (c) => {
    const session = c.get('dashboardSession');
    if (session) sessions.logout(session.id);
    c.header('Set-Cookie', clearedCookie());
    return c.body(null, 204);
  });

  // Everything below needs a session.
  router.use('*', async (c, next) => {
    if (c.get('dashboardSession')) return next();
    const assets = await loadAssets();
    return c.html(<LoginHint assets={assets} message="You are not logged in, or your session ended." />, 401);
  });

  const page = (render: (c: ApiContext, assets: Assets, csrf: string) => Promise<ReturnType<typeof LoginHint>>) => async (c: ApiContext) => {
    const assets = await loadAssets();
    try {
      return c.html(await render(c, assets, c.get('dashboardSession')!.csrf));
    } catch (err) {
      if (!(err instanceof ApiFailure)) throw err;
      return c.html(<ErrorPage assets={assets} csrf={c.get('dashboardSession')!.csrf} status={err.status} message={err.message} />, err.status as 404);
    }
  };
  const fragment = (render: (c: ApiContext) => Promise<ReturnType<typeof LoginHint>>) => async (c: ApiContext) => {
    try {
      return c.html(await render(c));
    } catch (err) {
      if (!(err instanceof ApiFailure)) throw err;
      return c.html(<p class="error" role="alert">{err.message}</p>, err.status as 404);
    }
  };
  const sandboxes = (c: ApiContext) => get(c, '/v1/sandboxes?max_results=50', SpriteList).then((l) => l.sprites);
  const name = (c: ApiContext) => encodeURIComponent(c.req.param('name') ?? '');

  router.get(
    '/',
    page(async (c, assets, csrf) => {
      const [list, images, extras] = await Promise.all([sandboxes(c), get(c, '/v1/images', ImageList), listExtras(c, api)]);
      return <SandboxListPage assets={assets} csrf={csrf} sandboxes={list} images={images.images} extras={extras} />;
    }),
  );

  router.get(
    '/fragments/sandboxes',
    fragment(async (c) => {
      const [list, extras] = await Promise.all([sandboxes(c), listExtras(c, api)]);
      return (
        <div>
          <Overview sandboxes={list} />
          <HostOverview host={extras.host} error={extras.hostError} />
          <table>
            <SandboxRows sandboxes={list} diskUsed={extras.diskUsed} />
          </table>
        </div>
      );
    }),
  );

  router.get(
    '/sandboxes/:name',
    page(async (c, assets, csrf) => {
      const [sandbox, checkpoints, policy, events] = await Promise.all([
        get(c, `/v1/sandboxes/${name(c)}`, SpriteObject),
        get(c, `/v1/sandboxes/${name(c)}/checkpoints`, CheckpointObject.array()),
        get(c, `/v1/sandboxes/${name(c)}/policy/network`, PolicyShape),
        get(c, `/v1/sandboxes/${name(c)}/events?order=desc&limit=${HISTORY}`, EventList),
      ]);
      return <SandboxPage assets={assets} csrf={csrf} sandbox={sandbox} checkpoints={checkpoints} policy={policy} events={events.events} />;
    }),
  );

  router.get(
    '/fragments/sandboxes/:name/state',
    fragment(async (c) => {
      const s = await get(c, `/v1/sandboxes/${name(c)}`, SpriteObject);
      return (
        <span id="sandbox-state" class={`state state-${s.state}`}>
          {s.state}
        </span>
      );
    }),
  );

  router.get(
    '/fragments/sandboxes/:name/checkpoints',
    fragment(async (c) => <CheckpointList name={c.req.param('name') ?? ''} checkpoints={await get(c, `/v1/sandboxes/${name(c)}/checkpoints`, CheckpointObject.array())} />),
  );

  router.get(
    '/fragments/sandboxes/:name/diff',
    fragment(async (c) => {
      const query = new URLSearchParams({ from: c.req.query('from') ?? '', to: c.req.query('to') || 'current' });
      const under = c.req.query('path');
      if (under) query.set('path', under);
      return <DiffView diff={await get(c, `/v1/sandboxes/${name(c)}/diff?${query}`, DiffResponse)} />;
    }),
  );

  router.get(
    '/fragments/sandboxes/:name/diff-file',
    fragment(async (c) => {
      const file = c.req.query('file') ?? '';
      const query = new URLSearchParams({ from: c.req.query('from') ?? '', to: c.req.query('to') || 'current', file });
      return <FileDiff path={file} text={await getText(c, `/v1/sandboxes/${name(c)}/diff?${query}`)} />;
    }),
  );

  router.get(
    '/fragments/sandboxes/:name/files',
    fragment(async (c) => {
      const path = c.req.query('path') || '/';
      const list = await get(c, `/v1/sandboxes/${name(c)}/fs/list?${new URLSearchParams({ path })}`, FsList);
      return <FileList name={c.req.param('name') ?? ''} path={list.path} entries={list.entries} />;
    }),
  );

  router.get(
    '/fragments/sandboxes/:name/sessions',
    fragment(async (c) => <SessionList sessions={(await get(c, `/v1/sandboxes/${name(c)}/exec`, SessionListSchema)).sessions} />),
  );

  router.get(
    '/fragments/sandboxes/:name/events',
    fragment(async (c) => (
      <table>
        <EventRows events={(await get(c, `/v1/sandboxes/${name(c)}/events?order=desc&limit=${HISTORY}`, EventList)).events} withSandbox={false} />
      </table>
    )),
  );

  sectionRoutes(router, { api, get, getText, fragment });

  const eventFilter = (c: ApiContext): [EventFilterForm, URLSearchParams] => {
    const filter = { sandbox: c.req.query('sandbox') ?? '', type: c.req.query('type') ?? '', since: c.req.query('since') ?? '' };
    const query = new URLSearchParams({ order: 'desc', limit: String(HISTORY * 4) });
    for (const [k, v] of Object.entries(filter)) if (v !== '') query.set(k, v);
    return [filter, query];
  };
  router.get(
    '/events',
    page(async (c, assets, csrf) => {
      const [filter, query] = eventFilter(c);
      try {
        const events = await get(c, `/v1/events?${query}`, EventList);
        return <EventsPage assets={assets} csrf={csrf} filter={filter} events={events.events} />;
      } catch (err) {
        if (!(err instanceof ApiFailure) || err.status !== 400) throw err;
        return <EventsPage assets={assets} csrf={csrf} filter={filter} events={[]} error={err.message} />;
      }
    }),
  );
  router.get(
    '/fragments/events',
    fragment(async (c) => (
      <table>
        <EventRows events={(await get(c, `/v1/events?${eventFilter(c)[1]}`, EventList)).events} />
      </table>
    )),
  );

  router.get('/images', page(async (c, assets, csrf) => <ImagesPage assets={assets} csrf={csrf} images={(await get(c, '/v1/images', ImageList)).images} />));
  router.get(
    '/fragments/images',
    fragment(async (c) => (
      <table>
        <ImageRows images={(await get(c, '/v1/images', ImageList)).images} />
      </table>
    )),
  );
  router.get('/tokens', page(async (c, assets, csrf) => <TokensPage assets={assets} csrf={csrf} tokens={(await get(c, '/v1/tokens', TokenList)).tokens} />));
  router.get(
    '/fragments/tokens',
    fragment(async (c) => (
      <table>
        <TokenRows tokens={(await get(c, '/v1/tokens', TokenList)).tokens} />
      </table>
    )),
  );

  return router;
}

/** The policy as GET returns it (`{rules: [...]}`): shown to the user as JSON, never interpreted here. */
const PolicyShape = z.looseObject({ rules: z.array(z.unknown()) });

function safeMessage(text: string, status: number): string {
  try {
    const body: unknown = JSON.parse(text);
    if (typeof body === 'object' && body !== null && 'message' in body) return String(body.message);
  } catch {
    // not JSON
  }
  return `HTTP ${status}`;
}
