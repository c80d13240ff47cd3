/**
 * Sandbox URLs: `http://<name>.localhost:<port>/` on the API's TCP listener is
 * a reverse proxy to the sandbox's web server (docs/architecture.md §9).
 *
 * Every request (and every upgrade) reaches the guest through its own agent
 * tunnel to the guest's loopback (so it works with the guest's networking off),
 * on the port `httpPortFor(name)` names (8080 unless told otherwise). Waking:
 * a sleeping sandbox is woken by the request (SandboxService.agent).
 *
 * - Plain HTTP/1.1: the request is sent to the guest with `Connection: close`,
 *   request and response bodies streamed both ways with backpressure (uploads
 *   and downloads of any size, server-sent events, long polls). Hop-by-hop
 *   headers are dropped both ways; the Host header is the sandbox URL's; hob
 *   adds `X-Forwarded-Proto` and `X-Forwarded-Host`.
 * - Upgrades (websockets, or any other `Upgrade:`): after the access check the
 *   request head is written to the tunnel as received (minus hob's
 *   credentials) and the connection is relayed raw both ways; the guest's own
 *   `101 Switching Protocols` (or refusal) goes back to the client untouched.
 *
 * Access: see url-auth.ts (public, or a hob token / hob session for private).
 *
 * Idle: each request in progress, and each upgraded connection while it is
 * open, holds the sandbox (SessionRegistry.hold), so an open connection keeps
 * it awake (docs/architecture.md §7). Idle keep-alive connections between requests
 * hold nothing.
 *
 * Responses made by hob itself are JSON `{error, message}`:
 * - 404 `not_found`: no such sandbox;
 * - 401 `unauthorized`: private URL without valid credentials (also an invalid or used login code);
 * - 502 `no_listener`: nothing listens on the port in the guest;
 * - 502 `bad_gateway`: the guest's server broke the connection or answered something that is not HTTP,
 *   or the connection inside the guest failed otherwise (the guest's errno in the message);
 * - 503 `agent_failed` and the like: the sandbox could not be woken or reached.
 */
import { request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import { Readable, type Duplex } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import type { TokenStore } from '../auth/tokens.js';
import { useAgent } from '../core/guest.js';
import { connectGuestLoopback, isNothingListening, type GuestTunnel } from '../core/guest-tunnel.js';
import type { SessionRegistry } from '../core/sessions.js';
import type { Sandbox, SandboxService } from '../core/types.js';
import { GuestError } from '../errors.js';
import { consoleLog, type ApiLog } from './log.js';
import { errorResponse } from './errors.js';
import { writeRawJson } from './raw-response.js';
import { sandboxUrl } from './sprite-object.js';
import { LOGIN_PARAM, UrlAuthenticator, sessionCookie, withoutHobCookie, type LoginGrant } from './url-auth.js';

/** The guest port sandbox URLs go to unless a sandbox declares another. */
export const DEFAULT_HTTP_PORT = 8080;

/** Headers that belong to one connection, never forwarded (RFC 9110 section 7.6.1), plus ones hob handles itself. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-authorization', 'proxy-authenticate']);

export interface SandboxHostDeps {
  readonly sandboxes: SandboxService;
  /** Holds are taken here while connections are open (the idle policy reads them). */
  readonly sessions: SessionRegistry;
  /** Checks bearer tokens on private URLs. */
  readonly tokens: TokenStore;
  /** The API's TCP port (part of every sandbox URL). */
  readonly port: number;
  /**
   * The guest port a sandbox's URL routes to. Default: 8080 for every sandbox.
   * Hook for services: the declared `http_port` of the sandbox's HTTP service.
   */
  readonly httpPortFor?: (name: string) => number | Promise<number>;
  readonly log?: ApiLog;
}

export interface SandboxHost {
  /** Serves one HTTP request for `<name>.localhost` (ApiDeps.sandboxHost hands them here). Never rejects. */
  http(request: Request, name: string): Promise<Response>;
  /** Serves one upgrade request for `<name>.localhost`: relays it raw, or answers it with an error and closes. */
  upgrade(request: IncomingMessage, socket: Duplex, head: Buffer, name: string): void;
  /** A one-time browser login link for a private sandbox URL (see url-auth.ts). */
  login(name: string, tokenId: string | undefined): { readonly url: string; readonly expiresAt: Date };
  /** The guest port the sandbox's URL routes to. */
  httpPortFor(name: string): Promise<number>;
}

type Result<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly failure: HostFailure };

/** An error answer of the sandbox host. */
interface HostFailure {
  readonly status: number;
  readonly body: { readonly error: string; readonly message: string };
  readonly headers?: Readonly<Record<string, string>>;
}

export function createSandboxHost(deps: SandboxHostDeps): SandboxHost {
  const log = deps.log ?? consoleLog;
  const auth = new UrlAuthenticator(deps.tokens);
  const httpPortFor = async (name: string): Promise<number> => (deps.httpPortFor ? deps.httpPortFor(name) : DEFAULT_HTTP_PORT);

  const failureOf = (err: unknown, name: string, port: number | undefined): HostFailure => {
    if (isNothingListening(err)) {
      return {
        status: 502,
        body: {
          error: 'no_listener',
          message: `nothing is listening on port ${port ?? DEFAULT_HTTP_PORT} in sandbox ${name}: start a web server there (on 0.0.0.0, :: or localhost)`,
        },
      };
    }
    if (err instanceof GuestError) {
      // The guest could not connect (or failed the tunnel at once): the upstream is broken, not hob.
      return { status: 502, body: { error: 'bad_gateway', message: `cannot reach port ${port ?? DEFAULT_HTTP_PORT} in sandbox ${name}: ${err.message}` } };
    }
    const { status, body, unexpected } = errorResponse(err);
    if (unexpected) log.error(`unexpected error serving the URL of ${name}`, { error: err instanceof Error ? err.stack : String(err) });
    return { status, body };
  };

  /** Whether the request may reach the sandbox (which must exist). */
  const admit = (name: string, authorization: string | undefined, cookie: string | undefined): Result<Sandbox> => {
    let sandbox: Sandbox;
    try {
      sandbox = deps.sandboxes.get(name);
    } catch (err) {
      return { ok: false, failure: failureOf(err, name, undefined) };
    }
    if (sandbox.urlAuth === 'public') return { ok: true, value: sandbox };
    const access = auth.check(name, { authorization, cookie });
    if (access.ok) return { ok: true, value: sandbox };
    return { ok: false, failure: { status: 401, body: { error: 'unauthorized', message: access.reason }, headers: { 'WWW-Authenticate': 'Bearer' } } };
  };

  /** Wakes the sandbox and connects to its HTTP port, holding it; the hold ends when the tunnel closes. */
  const connect = async (name: string): Promise<Result<GuestTunnel>> => {
    let release: (() => void) | undefined;
    let port: number | undefined;
    try {
      const use = await useAgent(deps, name);
      release = use.release;
      port = await httpPortFor(name);
      const tunnel = await connectGuestLoopback(use.agent, port);
      tunnel.once('close', use.release);
      return { ok: true, value: tunnel };
    } catch (err) {
      release?.();
      return { ok: false, failure: failureOf(err, name, port) };
    }
  };

  const http = async (request: Request, name: string): Promise<Response> => {
    const admitted = admit(name, request.headers.get('authorization') ?? undefined, request.headers.get('cookie') ?? undefined);
    if (!admitted.ok && admitted.failure.status !== 401) return failureResponse(admitted.failure);
    const url = new URL(request.url);
    const code = url.searchParams.get(LOGIN_PARAM);
    if (code !== null && (request.method === 'GET' || request.method === 'HEAD')) return redeemLogin(name, code, url);
    if (!admitted.ok) return failureResponse(admitted.failure);
    const connected = await connect(name);
    if (!connected.ok) return failureResponse(connected.failure);
    return forward(request, url, connected.value);
  };

  /** `?hob_login=CODE`: trades the code for a session cookie and redirects to the URL without it. */
  const redeemLogin = (name: string, code: string, url: URL): Response => {
    const session = auth.redeem(name, code);
    if (session === undefined) {
      return failureResponse({
        status: 401,
        body: { error: 'unauthorized', message: `this login link is invalid, expired or already used: get a new one with \`hob url ${name} --login\`` },
      });
    }
    url.searchParams.delete(LOGIN_PARAM);
    return new Response(null, {
      status: 303,
      headers: { Location: `${url.pathname}${url.search}`, 'Set-Cookie': sessionCookie(session), 'Cache-Control': 'no-store' },
    });
  };

  /** Sends the request through the tunnel and turns the guest's answer into the Response. */
  const forward = (request: Request, url: URL, tunnel: GuestTunnel): Promise<Response> =>
    new Promise<Response>((resolve) => {
      const headers: OutgoingHttpHeaders = {};
      request.headers.forEach((value, key) => {
        if (HOP_BY_HOP.has(key) || key === 'expect') return;
        if (key === 'authorization' && auth.isHobAuthorization(value)) return;
        if (key === 'cookie') {
          const kept = withoutHobCookie(value);
          if (kept !== undefined) headers.cookie = kept;
          return;
        }
        headers[key] = value;
      });
      headers.connection = 'close';
      headers['x-forwarded-proto'] = 'http';
      const host = request.headers.get('host');
      if (host !== null) headers['x-forwarded-host'] = host;

      let settled = false;
      const answer = (response: Response): void => {
        if (settled) return;
        settled = true;
        resolve(response);
      };
      const outgoing = httpRequest({
        method: request.method,
        path: `${url.pathname}${url.search}`,
        headers,
        // No agent: one tunnel per request, closed after it. node's HTTP client needs only a Duplex
        // here (it calls no socket-only method unless asked to, e.g. for timeouts, which hob does not set).
        createConnection: () => tunnel as unknown as Socket,
      });
      const abort = (): void => {
        outgoing.destroy();
        tunnel.destroy();
      };
      request.signal.addEventListener('abort', abort, { once: true });
      tunnel.once('close', () => request.signal.removeEventListener('abort', abort));

      outgoing.on('error', (err) => {
        tunnel.destroy();
        answer(failureResponse({ status: 502, body: { error: 'bad_gateway', message: `the web server in the sandbox broke the connection: ${err.message}` } }));
      });
      outgoing.on('response', (res) => {
        const status = res.statusCode ?? 0;
        if (status < 200 || status > 599) {
          abort();
          answer(failureResponse({ status: 502, body: { error: 'bad_gateway', message: `the web server in the sandbox answered with status ${status}` } }));
          return;
        }
        const responseHeaders = new Headers();
        try {
          for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) {
            const key = res.rawHeaders[i]!;
            if (!HOP_BY_HOP.has(key.toLowerCase())) responseHeaders.append(key, res.rawHeaders[i + 1]!);
          }
        } catch (err) {
          abort();
          answer(failureResponse({ status: 502, body: { error: 'bad_gateway', message: `the web server in the sandbox sent an unusable header: ${(err as Error).message}` } }));
          return;
        }
        res.once('end', () => tunnel.destroy());
        res.once('error', () => tunnel.destroy());
        const bodyless = request.method === 'HEAD' || status === 204 || status === 205 || status === 304;
        if (bodyless) {
          res.resume();
          answer(new Response(null, { status, headers: responseHeaders }));
          return;
        }
        answer(new Response(Readable.toWeb(res) as ReadableStream<Uint8Array>, { status, statusText: res.statusMessage ?? '', headers: responseHeaders }));
      });

      if (request.body) {
        const body = Readable.fromWeb(request.body as NodeReadableStream<Uint8Array>);
        body.on('error', () => abort()); // the client went away mid-upload
        body.pipe(outgoing);
      } else {
        outgoing.end();
      }
    });

  const upgrade = (request: IncomingMessage, socket: Duplex, head: Buffer, name: string): void => {
    socket.on('error', () => undefined);
    const admitted = admit(name, header(request, 'authorization'), header(request, 'cookie'));
    if (!admitted.ok) {
      writeRawJson(socket, admitted.failure.status, admitted.failure.body, admitted.failure.headers);
      return;
    }
    connect(name).then(
      (connected) => {
        if (!connected.ok) {
          writeRawJson(socket, connected.failure.status, connected.failure.body, connected.failure.headers);
          return;
        }
        const tunnel = connected.value;
        if (socket.destroyed) {
          tunnel.destroy();
          return;
        }
        tunnel.write(requestHead(request, auth));
        if (head.length > 0) tunnel.write(head);
        tunnel.on('error', () => socket.destroy());
        socket.on('error', () => tunnel.destroy());
        socket.once('close', () => tunnel.destroy());
        tunnel.once('close', () => socket.destroy());
        socket.pipe(tunnel);
        tunnel.pipe(socket);
      },
      (err: unknown) => {
        const failure = failureOf(err, name, undefined);
        writeRawJson(socket, failure.status, failure.body);
      },
    );
  };

  return {
    http: (request, name) =>
      http(request, name).catch((err: unknown) => failureResponse(failureOf(err, name, undefined))),
    upgrade,
    login: (name, tokenId) => {
      deps.sandboxes.get(name); // NotFoundError for an unknown sandbox
      const grant: LoginGrant = auth.grant(name, tokenId);
      return { url: `${sandboxUrl(name, deps.port)}?${LOGIN_PARAM}=${grant.code}`, expiresAt: grant.expiresAt };
    },
    httpPortFor,
  };
}

function failureResponse(failure: HostFailure): Response {
  return Response.json(failure.body, {
    status: failure.status,
    headers: { 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff', ...failure.headers },
  });
}

function header(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

/** The request line and headers of an upgrade request, as received, without hob's credentials. */
export function requestHead(request: IncomingMessage, auth: Pick<UrlAuthenticator, 'isHobAuthorization'>): string {
  const lines = [`${request.method ?? 'GET'} ${request.url ?? '/'} HTTP/1.1`];
  const raw = request.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const key = raw[i]!;
    let value = raw[i + 1]!;
    const lower = key.toLowerCase();
    if (lower === 'authorization' && auth.isHobAuthorization(value)) continue;
    if (lower === 'cookie') {
      const kept = withoutHobCookie(value);
      if (kept === undefined) continue;
      value = kept;
    }
    lines.push(`${key}: ${value}`);
  }
  return `${lines.join('\r\n')}\r\n\r\n`;
}
