/**
 * Websocket upgrades, handled on the node server's `upgrade` event with the
 * `ws` package. Everything that can fail is checked before the handshake, so a
 * refused upgrade gets an ordinary HTTP status and JSON error body (the SDKs
 * report the status): admission (Host, Origin, token on TCP), the route, the
 * query, the sandbox, the session, waking the sandbox's agent.
 *
 * Routes (under `/v1/sprites` and `/v1/sandboxes`):
 * - `GET /{name}/exec?cmd=...`            start a process, as a session (hob's `user=NAME|UID`
 *                                         runs it as that user; default the image's default user)
 * - `GET /{name}/exec/{session_id}`       attach to a session
 * - `GET /{name}/exec?id={session_id}`    attach, legacy form
 * - `GET /{name}/proxy`                   TCP connection to a guest port (proxy-socket.ts)
 * - `GET /{name}/control`                 control mode: execs one after another (control-socket.ts)
 * - `GET /{name}/ports/watch`             listening ports and their changes (watch-sockets.ts)
 * - `GET /{name}/fs/watch`                file changes: answered with a clear error (watch-sockets.ts)
 *
 * Exec websockets also carry `port_opened` / `port_closed` text frames while
 * they are open (core/port-events.ts). Upgrades of any kind addressed to a
 * sandbox URL (`Host: <name>.localhost:<port>`) go to the sandbox host
 * (../sandbox-host.ts), which relays them to the guest.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { abandonExec, startExec, startSession } from '../../core/exec.js';
import { specFromQuery } from '../../core/exec-spec.js';
import { urlPortOf, useAgent, type GuestConnection } from '../../core/guest.js';
import { PortEventHub } from '../../core/port-events.js';
import { NotFoundError, BadRequestError } from '../../errors.js';
import type { PortEventFrame } from '../../wire/exec.js';
import type { ApiDeps, ApiLog } from '../context.js';
import { errorResponse, UnauthorizedError, type ErrorBody } from '../errors.js';
import { writeRawJson } from '../raw-response.js';
import { CAPABILITIES, CAPABILITIES_HEADER } from '../exec-frames.js';
import { admit, type ListenerKind } from '../guard.js';
import { scopeRefusal } from '../scope.js';
import { SandboxNameSchema } from '../../core/names.js';
import { EXEC_QUERY_ARRAYS, ExecQuery, SessionIdSchema } from '../../wire/exec.js';
import { queryObject } from '../../wire/request-primitives.js';
import { parseInput } from '../validate.js';
import { DEFAULT_HTTP_PORT } from '../sandbox-host.js';
import { sandboxUrl } from '../sprite-object.js';
import { failExecSocket, serveExecSocket, type Accepted, type EarlyMessage } from './exec-socket.js';
import { serveProxySocket } from './proxy-socket.js';
import { serveControlSocket } from './control-socket.js';
import { serveFsWatchSocket, servePortsWatchSocket } from './watch-sockets.js';

/** Largest message a client may send (stdin chunks, control messages). */
const MAX_CLIENT_MESSAGE = 4 * 1024 * 1024;
/** Ping interval; a client that has not answered the previous ping by the next one is dropped. */
const HEARTBEAT_MS = 30_000;

const EXEC_ROUTE = /^\/v1\/(?:sprites|sandboxes)\/([^/]+)\/exec(?:\/([^/]+))?\/?$/;
const PROXY_ROUTE = /^\/v1\/(?:sprites|sandboxes)\/([^/]+)\/proxy\/?$/;
/** The SDKs' other websockets, by what follows the sandbox name. */
const EXTRA_ROUTE = /^\/v1\/(?:sprites|sandboxes)\/([^/]+)\/(control|ports\/watch|fs\/watch)\/?$/;

export interface UpgradeHandlers {
  /** The `upgrade` event handler for a server of the given kind. */
  handler(listener: ListenerKind): (request: IncomingMessage, socket: Duplex, head: Buffer) => void;
  /** Drops every websocket and stops the heartbeat. */
  close(): void;
}

export function createUpgradeHandlers(deps: ApiDeps, log: ApiLog): UpgradeHandlers {
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_CLIENT_MESSAGE, perMessageDeflate: false, clientTracking: true });
  wss.on('headers', (headers) => {
    headers.push(`${CAPABILITIES_HEADER}: ${CAPABILITIES}`, `Sprite-Version: ${deps.version}`);
  });

  const alive = new WeakSet<WebSocket>();
  const heartbeat = setInterval(() => {
    for (const ws of wss.clients) {
      if (!alive.has(ws)) {
        ws.terminate();
        continue;
      }
      alive.delete(ws);
      ws.ping();
    }
  }, HEARTBEAT_MS);
  heartbeat.unref();
  // The port the URL routes to, without starting anything (routing itself may start the HTTP service);
  // looked up by the hub once for all websockets of a sandbox, rate-limited.
  const ports = new PortEventHub({
    onError: (message) => log.warn(message),
    ...(deps.sandboxHost ? { urlPortOf: urlPortOf(DEFAULT_HTTP_PORT) } : {}),
  });

  /** Sends the guest's port events on an exec websocket while it is open. */
  const sendPortEvents = (ws: WebSocket, name: string, agent: GuestConnection): void => {
    if (ws.readyState !== ws.OPEN) return; // ended already (a quick exit): its 'close' may have passed
    const unsubscribe = ports.subscribe(agent, (event) => {
      if (ws.readyState !== ws.OPEN) return;
      const message: PortEventFrame = {
        type: event.type === 'opened' ? 'port_opened' : 'port_closed',
        port: event.port,
        address: event.address,
        ...(event.urlPort === event.port ? { url: sandboxUrl(name, deps.port) } : {}),
      };
      ws.send(JSON.stringify(message));
    });
    ws.once('close', unsubscribe);
  };

  /**
   * Completes the handshake. Messages the client sends before the socket is
   * handed to its handler (stdin sent right after 'open') are queued, not lost.
   */
  const complete = (request: IncomingMessage, socket: Duplex, head: Buffer): Promise<Accepted | undefined> =>
    new Promise((resolve) => {
      if (socket.destroyed) {
        resolve(undefined);
        return;
      }
      // If the client goes away during the handshake, ws never calls back.
      socket.once('close', () => resolve(undefined));
      wss.handleUpgrade(request, socket, head, (ws) => {
        alive.add(ws);
        ws.on('pong', () => alive.add(ws));
        const early: EarlyMessage[] = [];
        const queue = (data: RawData, isBinary: boolean): void => {
          early.push({ data, isBinary });
        };
        ws.on('message', queue);
        resolve({ ws, early, release: () => ws.off('message', queue) });
      });
    });

  const handle = async (listener: ListenerKind, request: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> => {
    socket.on('error', () => undefined);
    const admission = admit(
      listener,
      {
        method: request.method ?? 'GET',
        host: request.headers.host,
        origin: header(request, 'origin'),
        authorization: header(request, 'authorization'),
        isUpgrade: true,
        cookie: header(request, 'cookie'),
        // A browser's websocket cannot carry headers: the dashboard puts its CSRF token in the query.
        csrf: csrfQuery(request.url ?? '/'),
        secFetchSite: header(request, 'sec-fetch-site'),
        secFetchMode: header(request, 'sec-fetch-mode'),
      },
      { port: deps.port, extraHosts: deps.extraHosts },
      deps.tokens,
      deps.dashboard,
    );
    if (admission.kind === 'refused') {
      rejectWith(socket, admission.error, log);
      return;
    }
    if (admission.kind === 'sandbox') {
      // Any upgrade to a sandbox URL is the sandbox's business: relayed raw after its own access check.
      if (deps.sandboxHost) deps.sandboxHost.upgrade(request, socket, head, admission.name);
      else rejectWith(socket, new NotFoundError(`no web server is served for ${admission.name}`), log);
      return;
    }
    if ((request.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
      reject(socket, 400, { error: 'bad_request', message: 'only websocket upgrades are supported' });
      return;
    }

    // The guard never admits an upgrade anonymously; a login page is not a websocket.
    if (admission.kind === 'anonymous') {
      rejectWith(socket, new UnauthorizedError('an Authorization: Bearer token is required'), log);
      return;
    }
    const url = requestUrl(request.url ?? '/');
    const refusal = scopeRefusal(admission.scope, request.method ?? 'GET', url.pathname);
    if (refusal) {
      rejectWith(socket, refusal, log);
      return;
    }
    const proxyRoute = PROXY_ROUTE.exec(url.pathname);
    if (proxyRoute && request.method === 'GET') {
      await handleProxy(decodePathSegment(proxyRoute[1] ?? '', 'sandbox name'), request, socket, head);
      return;
    }
    const extraRoute = EXTRA_ROUTE.exec(url.pathname);
    if (extraRoute && request.method === 'GET') {
      await handleExtra(decodePathSegment(extraRoute[1] ?? '', 'sandbox name'), extraRoute[2] ?? '', request, socket, head);
      return;
    }
    const route = EXEC_ROUTE.exec(url.pathname);
    if (!route || request.method !== 'GET') {
      rejectWith(socket, new NotFoundError(`no websocket endpoint at ${url.pathname}`), log);
      return;
    }
    try {
      const name = parseInput(SandboxNameSchema, decodePathSegment(route[1] ?? '', 'sandbox name'), 'sandbox name');
      const query = parseInput(ExecQuery, queryObject(url.searchParams, EXEC_QUERY_ARRAYS), 'query');
      const sessionId = route[2] !== undefined ? parseInput(SessionIdSchema, decodePathSegment(route[2], 'session id'), 'session id') : query.id;
      const sandbox = deps.sandboxes.get(name);

      if (sessionId !== undefined) {
        const session = deps.sessions.get(name, sessionId);
        if (!session) throw new NotFoundError(`no session ${sessionId} in sandbox ${name}`);
        const accepted = await complete(request, socket, head);
        if (!accepted) return;
        serveExecSocket(accepted, session, false, log);
        // The session's process runs, so the sandbox is awake: this does not wake it.
        if (!session.exited) {
          deps.sandboxes.agent(name).then(
            (agent) => sendPortEvents(accepted.ws, name, agent),
            () => undefined,
          );
        }
        return;
      }

      if (query.tty === false && query.cmd.length === 0 && query.path === undefined) {
        // A non-TTY bash without a command would just wait for stdin; Sprites' SDKs always send cmd.
        throw new BadRequestError('cmd is required for a non-TTY exec');
      }
      const spec = specFromQuery(query, sandbox.environment);
      // Started before the handshake (output produced meanwhile is replayed from the scrollback), held until it is a session.
      const started = await startExec(deps, name, spec);
      try {
        const accepted = await complete(request, socket, head);
        if (!started.ok) {
          // Not startable in the guest (no such command, bad dir): answered like a shell would, after the handshake.
          if (accepted) failExecSocket(accepted.ws, spec.tty !== undefined, started.failure.exitCode, started.failure.text);
          return;
        }
        if (!accepted) {
          abandonExec(started); // the client left before it ever saw the process
          return;
        }
        const session = startSession(deps, name, started, spec, { rows: query.rows, cols: query.cols, maxRunAfterDisconnectMs: query.max_run_after_disconnect });
        serveExecSocket(accepted, session, true, log);
        sendPortEvents(accepted.ws, name, started.guest);
      } finally {
        if (started.ok) started.release();
      }
    } catch (err) {
      rejectWith(socket, err, log);
    }
  };

  /** `WSS .../proxy`: the sandbox is checked and woken before the handshake, so failures there are HTTP statuses. */
  const handleProxy = async (rawName: string, request: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> => {
    const name = parseInput(SandboxNameSchema, rawName, 'sandbox name');
    deps.sandboxes.get(name);
    const { agent, release } = await useAgent(deps, name); // held for as long as the connection is open
    let handed = false;
    try {
      const accepted = await complete(request, socket, head);
      if (!accepted) return;
      handed = true;
      serveProxySocket(accepted, { name, agent, release, log });
    } finally {
      if (!handed) release();
    }
  };

  /** control, ports/watch, fs/watch: the sandbox is checked (and for ports woken) before the handshake. */
  const handleExtra = async (rawName: string, kind: string, request: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> => {
    const name = parseInput(SandboxNameSchema, rawName, 'sandbox name');
    deps.sandboxes.get(name);
    if (kind === 'control') {
      const accepted = await complete(request, socket, head);
      if (accepted) serveControlSocket(accepted, { core: deps, name, environment: () => deps.sandboxes.get(name).environment, log });
      return;
    }
    if (kind === 'fs/watch') {
      const accepted = await complete(request, socket, head);
      if (accepted) serveFsWatchSocket(accepted.ws, 'hob cannot watch files in a sandbox yet: poll with stat (fs/list) instead');
      return;
    }
    const { agent, release } = await useAgent(deps, name); // held for as long as the watch is open
    let handed = false;
    try {
      const accepted = await complete(request, socket, head);
      if (!accepted) return;
      handed = true;
      servePortsWatchSocket(accepted, { name, agent, release, ports, url: sandboxUrl(name, deps.port), log });
    } finally {
      if (!handed) release();
    }
  };

  return {
    handler: (listener) => (request, socket, head) => {
      handle(listener, request, socket, head).catch((err: unknown) => rejectWith(socket, err, log));
    },
    close: () => {
      clearInterval(heartbeat);
      ports.close();
      for (const ws of wss.clients) ws.terminate();
      wss.close();
    },
  };
}

/** The request target as a URL; one that does not parse (`//host:99999`) is the client's error. */
function requestUrl(target: string): URL {
  try {
    return new URL(target, 'http://localhost');
  } catch {
    throw new BadRequestError('invalid request target');
  }
}

/** A percent-encoded path segment, decoded; bad encoding (`%zz`, a split UTF-8 sequence) is the client's error. */
function decodePathSegment(raw: string, what: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new BadRequestError(`invalid percent-encoding in the ${what}`);
  }
}

function csrfQuery(target: string): string | undefined {
  try {
    return new URL(target, 'http://localhost').searchParams.get('csrf') ?? undefined;
  } catch {
    return undefined;
  }
}

function header(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function rejectWith(socket: Duplex, err: unknown, log: ApiLog): void {
  const { status, body, unexpected } = errorResponse(err);
  if (unexpected) log.error('unexpected error in websocket upgrade', { error: err instanceof Error ? err.stack : String(err) });
  reject(socket, status, body, status === 401 ? { 'WWW-Authenticate': 'Bearer' } : {});
}

/** Answers an upgrade request with a plain HTTP error response and closes the connection. */
function reject(socket: Duplex, status: number, body: ErrorBody, headers: Record<string, string> = {}): void {
  writeRawJson(socket, status, body, headers);
}
