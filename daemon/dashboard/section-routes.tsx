/** @jsxImportSource hono/jsx */
/**
 * The fragments of the sandbox page's console log and services sections, and the extra
 * data of the list (the host overview, disk used per sandbox). Registered by routes.tsx
 * with its own helpers, so they fetch through the API like every other page part.
 */
import type { Hono } from 'hono';
import * as z from 'zod';
import type { ApiContext, ApiEnv } from '../api/context.js';
import { ConsoleLogObject } from '../wire/console-log.js';
import { HostObject } from '../wire/host.js';
import { ServiceLogEvent, ServiceObject } from '../wire/services.js';
import { SpriteObject } from '../wire/sprite.js';
import { StatsList } from '../wire/stats.js';
import { ConsoleLogView } from './pages/sandbox-console.js';
import { SERVICE_LOG_LINES, ServiceLog, ServiceTable } from './pages/sandbox-services.js';

/** How much of the console log the page shows. */
const CONSOLE_TAIL = 64 * 1024;

type Fragment = ReturnType<typeof ConsoleLogView>;

/** What routes.tsx lends: the in-process API call, its JSON and text readers (which throw its ApiFailure), its fragment wrapper. */
export interface SectionHelpers {
  api(c: ApiContext, path: string, headers?: Record<string, string>): Promise<Response>;
  get<S extends z.core.$ZodType>(c: ApiContext, path: string, schema: S, headers?: Record<string, string>): Promise<z.output<S>>;
  getText(c: ApiContext, path: string): Promise<string>;
  fragment(render: (c: ApiContext) => Promise<Fragment>): (c: ApiContext) => Promise<Response>;
}

export function sectionRoutes(router: Hono<ApiEnv>, h: SectionHelpers): void {
  const name = (c: ApiContext) => encodeURIComponent(c.req.param('name') ?? '');

  router.get(
    '/fragments/sandboxes/:name/console-log',
    h.fragment(async (c) => {
      const log = await h.get(c, `/v1/sandboxes/${name(c)}/console-log?tail=${CONSOLE_TAIL}`, ConsoleLogObject, { accept: 'application/json' });
      return <ConsoleLogView log={log} />;
    }),
  );

  router.get(
    '/fragments/sandboxes/:name/services',
    h.fragment(async (c) => {
      const sandbox = await h.get(c, `/v1/sandboxes/${name(c)}`, SpriteObject);
      // Listing asks the guest's agent, which would boot a stopped sandbox: only while it runs.
      if (sandbox.state !== 'running') return <ServiceTable services={undefined} state={sandbox.state} />;
      return <ServiceTable services={await h.get(c, `/v1/sandboxes/${name(c)}/services`, ServiceObject.array())} state={sandbox.state} />;
    }),
  );

  router.get(
    '/fragments/sandboxes/:name/services/:svc/log',
    h.fragment(async (c) => {
      const svc = c.req.param('svc') ?? '';
      const text = await h.getText(c, `/v1/sandboxes/${name(c)}/services/${encodeURIComponent(svc)}/logs?lines=${SERVICE_LOG_LINES}`);
      const entries = text
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => ServiceLogEvent.safeParse(JSON.parse(l) as unknown))
        .filter((r) => r.success)
        .map((r) => r.data);
      return <ServiceLog service={svc} entries={entries} />;
    }),
  );
}

/** What the list shows besides the sandboxes; each part is left out when the API refuses it (a scoped token: 403). */
export interface ListExtras {
  readonly host: HostObject | undefined;
  readonly hostError: string | undefined;
  /** Disk used by sandbox name (GET /v1/stats?all=1). */
  readonly diskUsed: ReadonlyMap<string, number | null>;
}

export async function listExtras(c: ApiContext, api: SectionHelpers['api']): Promise<ListExtras> {
  const read = async <S extends z.core.$ZodType>(path: string, schema: S): Promise<{ value?: z.output<S>; error?: string }> => {
    const response = await api(c, path);
    const body: unknown = await response.json().catch(() => undefined);
    if (!response.ok) return { error: typeof body === 'object' && body !== null && 'message' in body ? String(body.message) : `HTTP ${response.status}` };
    const parsed = z.safeParse(schema, body);
    return parsed.success ? { value: parsed.data } : { error: 'hobd answered an unexpected shape' };
  };
  const [host, stats] = await Promise.all([read('/v1/host', HostObject), read('/v1/stats?all=1', StatsList)]);
  return {
    host: host.value,
    hostError: host.error,
    diskUsed: new Map((stats.value?.sandboxes ?? []).map((s) => [s.name, s.disk_used_bytes ?? null])),
  };
}
