/**
 * What the API is built from (`ApiDeps`), the hono environment its handlers
 * see, and the error-to-response glue they share.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Context } from 'hono';
import type { TokenScope } from '../auth/scope.js';
import type { TokenStore } from '../auth/tokens.js';
import type { ConsoleLogService } from '../core/console-log.js';
import type { EventService } from '../core/events.js';
import type { ImageService } from '../core/images.js';
import type { SessionRegistry } from '../core/sessions.js';
import type { SandboxSecrets } from '../core/secrets.js';
import type { TemplateService } from '../core/templates.js';
import type { StatsService } from '../core/stats.js';
import type { SandboxService } from '../core/types.js';
import type { DashboardSession, DashboardSessions } from '../dashboard/sessions.js';
import type { HostInfoService } from '../host/info.js';
import { errorResponse, fsErrorResponse } from './errors.js';
import type { ListenerKind } from './guard.js';
import type { ApiLog } from './log.js';
import type { SandboxHost } from './sandbox-host.js';

export { consoleLog, type ApiLog } from './log.js';

export interface ApiDeps {
  /** The sandbox manager. */
  readonly sandboxes: SandboxService;
  /** Exec sessions; shared with the idle policy, which reads its attached-client counts. */
  readonly sessions: SessionRegistry;
  /** Guest images under /v1/images (list, build, remove); omitted in tests that need none. */
  readonly images?: ImageService;
  /** The event log under /v1/events and /v1/sandboxes/{name}/events; omitted in tests that need none. */
  readonly events?: EventService;
  /** Warm templates under /v1/templates (and their state in the images list); omitted: none. */
  readonly templates?: TemplateService | undefined;
  /** Resource stats under /v1/stats and /v1/sandboxes/{name}/stats; omitted in tests that need none. */
  readonly stats?: StatsService;
  /** Console logs under /v1/sandboxes/{name}/console-log; omitted: no such route. */
  readonly consoleLogs?: ConsoleLogService;
  /** The host's figures and doctor's checks under /v1/host; omitted: no such route. */
  readonly host?: HostInfoService;
  /** API tokens, checked on the TCP listener and managed under /v1/tokens. */
  readonly tokens: TokenStore;
  /** TCP port of the API: the Host header must name it, and sandbox URLs use it. */
  readonly port: number;
  /** hob's version, sent as `Sprite-Version` (sprites-go reads it to choose the attach URL form). */
  readonly version: string;
  /** Host names besides localhost/127.0.0.1/[::1] the TCP listener answers to (lower case, no port). */
  readonly extraHosts?: readonly string[];
  /**
   * Serves sandbox URLs (`Host: <name>.localhost:<port>`: requests, upgrades,
   * login links; see sandbox-host.ts). Without it such requests get 404.
   */
  readonly sandboxHost?: SandboxHost;
  /** Secrets and grants under /v1/secrets and /v1/sandboxes/{name}/secrets (docs/architecture.md §11); omitted: no such routes. */
  readonly secrets?: SandboxSecrets;
  /** Where unexpected errors are logged. Default: console. */
  readonly log?: ApiLog;
  /** The dashboard's logins; without it the TCP listener serves no dashboard (docs/architecture.md §13). */
  readonly dashboard?: DashboardSessions;
}

/** Hono environment of every handler. */
export interface ApiEnv {
  Bindings: {
    readonly listener: ListenerKind;
    readonly incoming: IncomingMessage;
    readonly outgoing: ServerResponse;
  };
  Variables: {
    /** Id of the token that authenticated the request (TCP only). */
    tokenId: string | undefined;
    /** What the request's token may reach (auth/scope.ts); UNSCOPED on the unix socket. */
    scope: TokenScope;
    /** The request is for a sandbox URL and was handed to `sandboxHost`. */
    sandboxHost: boolean | undefined;
    /** The dashboard session whose cookie authenticated the request (TCP only). */
    dashboardSession: DashboardSession | undefined;
  };
}

export type ApiContext = Context<ApiEnv>;

/** The JSON error response for `err`; unexpected errors are logged with their stack. */
export function errorJson(err: unknown, log: ApiLog, where: string): Response {
  const { status, body, unexpected } = errorResponse(err);
  if (unexpected) log.error(`unexpected error in ${where}`, { error: err instanceof Error ? err.stack : String(err) });
  return Response.json(body, { status });
}

/** The error response of a file operation on `path` (Sprites' filesystem error shape for guest errors). */
export function fsErrorJson(err: unknown, path: string, log: ApiLog, where: string): Response {
  const { status, body, unexpected } = fsErrorResponse(err, path);
  if (unexpected) log.error(`unexpected error in ${where}`, { error: err instanceof Error ? err.stack : String(err) });
  return Response.json(body, { status });
}
