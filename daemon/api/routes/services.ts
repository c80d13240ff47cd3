/**
 * Services of a sandbox: processes supervised by the guest agent, in the
 * Sprites services shapes (mounted at `/v1/sprites` and `/v1/sandboxes`):
 *
 * - `GET /{name}/services` → `[ServiceObject]`, sorted by name.
 * - `GET /{name}/services/{svc}` → ServiceObject.
 * - `PUT /{name}/services/{svc}?duration=5s` `{cmd, args?, env?, dir?, needs?, http_port?, user?}`
 *   creates or replaces the service and starts it (restarts it when it ran
 *   with another definition) → NDJSON ServiceLogEvents for `duration`
 *   (default 5 s; "0" answers at once), ending with `complete`.
 * - `DELETE /{name}/services/{svc}` → 204 (stops it; the log file stays).
 * - `POST /{name}/services/{svc}/start?duration=5s` → NDJSON, as PUT.
 * - `POST /{name}/services/{svc}/stop?timeout=10s` → NDJSON (`stopping`,
 *   `stopped` with `exit_code`, `complete`) once the process ended
 *   (SIGTERM to its process group, SIGKILL after `timeout`).
 * - `POST /{name}/services/{svc}/restart?duration=5s` → NDJSON: stop, then start.
 * - `POST /{name}/services/signal` `{name, signal}` → 204; `signal` is "TERM",
 *   "SIGHUP", ... (to the process group).
 * - `GET /{name}/services/{svc}/logs?lines=100` → NDJSON: the last `lines`
 *   entries (at most 1000 are kept in memory; the whole log is the file
 *   `log_file` in the guest), then `complete`. hob: `follow=true` keeps
 *   streaming new entries until the client disconnects; `duration=10s` (as the
 *   SDK sends it) streams them for that long, then `complete`.
 *
 * ServiceLogEvent (the SDKs' shape): `{type, data?, exit_code?, timestamp (epoch ms), log_files?}`
 * with type `stdout`/`stderr` (data: one line with its "\n"), `started`
 * (data "pid N"), `exit` (the process ended on its own; a restart follows
 * after a backoff), `stopping`, `stopped`, `error` (could not start), and
 * `complete` last (`log_files: {stdout, stderr}`, both the one combined
 * file; hob adds `service`, the ServiceObject at that moment).
 *
 * Failures before a stream starts answer JSON errors: 400 bad input (also an
 * unknown or cyclic `needs`), 404 unknown sandbox or service, 409 another
 * service has an HTTP port / the service is needed by another (delete) / not
 * running (signal), 503 the guest agent is unreachable or too old for
 * services (a sandbox restored from a checkpoint made before services
 * existed: boot it on a current image). After the stream started, a failure
 * is a last line `{type: "error", data: message, timestamp}`.
 */
import { Hono } from 'hono';
import { useAgent, withAgent, type GuestServices, type ServiceLogReader } from '../../core/guest.js';
import { ServiceDefinitionSchema, ServiceNameSchema, type ServiceDefinition, type ServiceInfo, type ServiceLogEntry } from '../../protocol/index.js';
import { queryObject } from '../../wire/request-primitives.js';
import { ServiceBody, ServiceLogsQuery, ServiceSignalBody, ServiceStopQuery, ServiceStreamQuery, type ServiceLogEvent, type ServiceObject } from '../../wire/services.js';
import type { ApiDeps, ApiEnv, ApiLog } from '../context.js';
import { errorResponse } from '../errors.js';
import { ndjsonStream } from '../ndjson.js';
import { parseInput, readJsonBody } from '../validate.js';
import { nameParam } from './sandboxes.js';

// ---------------------------------------------------------------- shapes (wire/services.ts)

export function toServiceObject(info: ServiceInfo): ServiceObject {
  const d = info.definition;
  const s = info.state;
  return {
    name: info.name,
    cmd: d.cmd,
    args: d.args,
    env: d.env,
    ...(d.dir !== undefined ? { dir: d.dir } : {}),
    needs: d.needs,
    ...(d.httpPort !== undefined ? { http_port: d.httpPort } : {}),
    state: {
      name: info.name,
      status: s.status,
      ...(s.pid !== undefined ? { pid: s.pid } : {}),
      ...(s.startedAtMs !== undefined ? { started_at: new Date(s.startedAtMs).toISOString() } : {}),
      ...(s.error !== undefined ? { error: s.error } : {}),
      restart_count: s.restartCount,
      ...(s.nextRestartAtMs !== undefined ? { next_restart_at: new Date(s.nextRestartAtMs).toISOString() } : {}),
      enabled: s.enabled,
    },
    ...(d.user !== undefined ? { user: d.user } : {}),
    log_file: info.logFile,
  };
}

export function toLogEvent(entry: ServiceLogEntry): ServiceLogEvent {
  if (entry.stream !== 'hob') return { type: entry.stream, data: `${entry.data}\n`, timestamp: entry.time };
  return {
    type: entry.event ?? 'error',
    data: entry.data,
    ...(typeof entry.exitCode === 'number' ? { exit_code: entry.exitCode } : {}),
    timestamp: entry.time,
  };
}

// ---------------------------------------------------------------- input

export function definitionFromBody(body: ServiceBody): ServiceDefinition {
  return parseInput(
    ServiceDefinitionSchema,
    {
      cmd: body.cmd,
      args: body.args ?? [],
      env: body.env ?? {},
      ...(body.dir !== undefined ? { dir: body.dir } : {}),
      needs: body.needs ?? [],
      ...(body.http_port !== undefined && body.http_port !== null ? { httpPort: body.http_port } : {}),
      ...(body.user !== undefined ? { user: body.user } : {}),
    },
    'body',
  );
}

/** Sprites' default for `duration`. */
export const DEFAULT_DURATION_MS = 5000;
const DEFAULT_STOP_TIMEOUT_MS = 10_000;

function serviceParam(value: string | undefined): string {
  return parseInput(ServiceNameSchema, value ?? '', 'service name');
}

// ---------------------------------------------------------------- streaming

/**
 * Bytes of events queued for an HTTP client before writers wait for it to
 * read (backpressure). A client that stops reading then stops the relay, the
 * log stream stops reading from the agent, and the agent, out of channel
 * credit, drops lines for it with a marker (the guest agent's service handlers).
 */
const MAX_QUEUED_RESPONSE_BYTES = 64 * 1024;

/** Writes one event; resolves once the response has room for more (or the client went away). */
type WriteEvent = (event: ServiceLogEvent) => Promise<void>;

/**
 * An NDJSON response fed by `run`, which writes events until it resolves.
 * `abort` fires when the client goes away; `release` runs once at the end.
 */
function eventStream(run: (write: WriteEvent, aborted: AbortSignal) => Promise<void>, options: { signal: AbortSignal; release: () => void; log: ApiLog }): Response {
  return ndjsonStream(
    async (out) => {
      const write: WriteEvent = async (event) => {
        out.line(event);
        await out.room();
      };
      try {
        await run(write, out.aborted);
      } catch (err) {
        const { body, unexpected } = errorResponse(err);
        if (unexpected) options.log.error('unexpected error in a service event stream', { error: err instanceof Error ? err.stack : String(err) });
        await write({ type: 'error', data: body.message, timestamp: Date.now() });
      } finally {
        options.release();
      }
    },
    { signal: options.signal, highWaterMark: MAX_QUEUED_RESPONSE_BYTES },
  );
}

/**
 * Writes the follower's entries as events until `stopAfter` settles (then
 * those already received), the client goes away, or the follower ends by
 * itself (the connection to the guest was lost: that is rethrown, unless an
 * `operation` is given, whose own outcome is then what counts). Closes the
 * follower, then waits for `operation`.
 */
async function relay(
  follower: ServiceLogReader,
  write: WriteEvent,
  aborted: AbortSignal,
  stopAfter: Promise<unknown>,
  operation?: Promise<unknown>,
): Promise<void> {
  const stop = (): void => follower.close();
  aborted.addEventListener('abort', stop, { once: true });
  // Entries the agent sent before `stopAfter` settled are already on their way: give them a moment to arrive.
  void stopAfter.then(
    () => setTimeout(stop, 50),
    () => stop(),
  );
  let lost: unknown;
  try {
    for (;;) {
      const entry = await follower.next();
      if (entry === undefined) break;
      await write(toLogEvent(entry));
    }
  } catch (err) {
    lost = err;
  } finally {
    aborted.removeEventListener('abort', stop);
    follower.close();
  }
  if (operation) await operation;
  else if (lost) throw lost;
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (ms <= 0 || signal.aborted) return resolve();
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });

function complete(info: ServiceInfo | undefined, logFile: string): ServiceLogEvent {
  return {
    type: 'complete',
    timestamp: Date.now(),
    log_files: { stdout: logFile, stderr: logFile },
    ...(info ? { service: toServiceObject(info) } : {}),
  };
}

// ---------------------------------------------------------------- routes

export function serviceRoutes(deps: ApiDeps, log: ApiLog): Hono<ApiEnv> {
  const router = new Hono<ApiEnv>();
  const query = (c: { req: { url: string } }) => queryObject(new URL(c.req.url).searchParams);

  /**
   * The streamed operations: follow the log first (so nothing is missed),
   * perform `operation` (its failure is a plain JSON error), then stream.
   */
  const streamed = async (
    c: { req: { raw: Request } },
    name: string,
    svc: string,
    allowMissing: boolean,
    operation: (services: GuestServices) => Promise<unknown>,
    streamFor: (services: GuestServices, aborted: AbortSignal) => { readonly stopAfter: Promise<unknown>; readonly operation?: Promise<unknown> },
  ): Promise<Response> => {
    const { agent, release } = await useAgent(deps, name);
    let follower: ServiceLogReader | undefined;
    try {
      follower = await agent.services.logs(svc, { lines: 0, follow: true, allowMissing });
      await operation(agent.services);
    } catch (err) {
      follower?.close();
      release();
      throw err;
    }
    const following = follower;
    return eventStream(
      async (write, aborted) => {
        const { stopAfter, operation: running } = streamFor(agent.services, aborted);
        // A failure is reported by relay (or below): do not let it go unhandled meanwhile.
        running?.catch(() => undefined);
        await relay(following, write, aborted, stopAfter, running);
        await write(complete(await agent.services.get(svc).catch(() => undefined), following.logFile));
      },
      { signal: c.req.raw.signal, release, log },
    );
  };

  router.get('/:name/services', async (c) => {
    const name = nameParam(c.req.param('name'));
    const services = await withAgent(deps, name, (agent) => agent.services.list());
    return c.json(services.map(toServiceObject));
  });

  router.post('/:name/services/signal', async (c) => {
    const name = nameParam(c.req.param('name'));
    const body = await readJsonBody(c.req.raw, ServiceSignalBody);
    await withAgent(deps, name, (agent) => agent.services.signal(body.name, body.signal));
    return c.body(null, 204);
  });

  router.get('/:name/services/:svc', async (c) => {
    const name = nameParam(c.req.param('name'));
    const svc = serviceParam(c.req.param('svc'));
    return c.json(toServiceObject(await withAgent(deps, name, (agent) => agent.services.get(svc))));
  });

  router.put('/:name/services/:svc', async (c) => {
    const name = nameParam(c.req.param('name'));
    const svc = serviceParam(c.req.param('svc'));
    const q = parseInput(ServiceStreamQuery, query(c), 'query');
    const definition = definitionFromBody(await readJsonBody(c.req.raw, ServiceBody));
    const duration = q.duration ?? DEFAULT_DURATION_MS;
    return streamed(c, name, svc, true, (services) => services.put(svc, definition), (_services, aborted) => ({ stopAfter: sleep(duration, aborted) }));
  });

  router.delete('/:name/services/:svc', async (c) => {
    const name = nameParam(c.req.param('name'));
    const svc = serviceParam(c.req.param('svc'));
    await withAgent(deps, name, (agent) => agent.services.delete(svc));
    return c.body(null, 204);
  });

  router.post('/:name/services/:svc/start', async (c) => {
    const name = nameParam(c.req.param('name'));
    const svc = serviceParam(c.req.param('svc'));
    const duration = parseInput(ServiceStreamQuery, query(c), 'query').duration ?? DEFAULT_DURATION_MS;
    return streamed(c, name, svc, false, (services) => services.start(svc), (_services, aborted) => ({ stopAfter: sleep(duration, aborted) }));
  });

  router.post('/:name/services/:svc/restart', async (c) => {
    const name = nameParam(c.req.param('name'));
    const svc = serviceParam(c.req.param('svc'));
    const duration = parseInput(ServiceStreamQuery, query(c), 'query').duration ?? DEFAULT_DURATION_MS;
    return streamed(
      c,
      name,
      svc,
      false,
      (services) => services.get(svc),
      (services, aborted) => {
        const operation = (async () => {
          await services.stop(svc, { timeoutMs: DEFAULT_STOP_TIMEOUT_MS });
          await services.start(svc);
        })();
        return { operation, stopAfter: operation.then(() => sleep(duration, aborted)) };
      },
    );
  });

  router.post('/:name/services/:svc/stop', async (c) => {
    const name = nameParam(c.req.param('name'));
    const svc = serviceParam(c.req.param('svc'));
    const timeoutMs = parseInput(ServiceStopQuery, query(c), 'query').timeout ?? DEFAULT_STOP_TIMEOUT_MS;
    // The service must exist before the stream starts (404 otherwise); the stop itself is streamed.
    return streamed(c, name, svc, false, (services) => services.get(svc), (services) => {
      const operation = services.stop(svc, { timeoutMs });
      return { operation, stopAfter: operation };
    });
  });

  router.get('/:name/services/:svc/logs', async (c) => {
    const name = nameParam(c.req.param('name'));
    const svc = serviceParam(c.req.param('svc'));
    const q = parseInput(ServiceLogsQuery, query(c), 'query');
    const follow = q.follow === true || q.duration !== undefined;
    const { agent, release } = await useAgent(deps, name);
    let reader: ServiceLogReader;
    try {
      reader = await agent.services.logs(svc, { lines: q.lines ?? 100, follow });
    } catch (err) {
      release();
      throw err;
    }
    return eventStream(
      async (write, aborted) => {
        if (follow) {
          // Without a duration: until the client goes away (relay closes the reader on abort).
          await relay(reader, write, aborted, q.duration !== undefined ? sleep(q.duration, aborted) : new Promise<never>(() => undefined));
        } else {
          for await (const entry of reader) await write(toLogEvent(entry));
        }
        await write(complete(undefined, reader.logFile));
      },
      { signal: c.req.raw.signal, release, log },
    );
  });

  return router;
}
