/**
 * The HTTP side of exec (the websocket side is in ../ws/):
 *
 * - `GET /{name}/exec` → `{sessions: [...]}` (Sprites' session listing; ended
 *   sessions stay listed for a minute with `exited: true`).
 * - `POST /{name}/exec/{id}/kill?signal=TERM&timeout=0s` → NDJSON events
 *   `{type: "signal"|"exited"|"complete"|"error", message, signal?, pid?, exit_code?}`
 *   (the JS SDK's SessionKillStream fields); 410 when the process already ended.
 * - `POST /{name}/exec`, two forms:
 *   - with `cmd` query parameters: the SDKs' `execFileHTTP` — the raw body is
 *     stdin (when `stdin=true`), the response streams binary frames of the
 *     websocket framing (1 stdout, 2 stderr, 3 exit code), one per HTTP chunk;
 *   - otherwise a JSON body `{command: string | string[], stdin?, env?, dir?, timeout?}`
 *     answered with `{output, stdout, stderr, exit_code, signal, timed_out, truncated, stdout_bytes, stderr_bytes}`
 *     (`output` is stdout and stderr interleaved as they arrived; hob's
 *     `max_output=N` query keeps only the first N bytes of each stream, the
 *     `_bytes` fields count all of it). A command
 *     that cannot start answers exit_code 127/126 with the reason on stderr,
 *     as a shell would.
 *   Both take hob's `user` query parameter (a name or uid; default: the
 *   image's default user); a user the guest does not know is a 400.
 */
import { Readable } from 'node:stream';
import { Hono } from 'hono';
import { killSession, runExec, runProcess, startExec, type KillStep } from '../../core/exec.js';
import { specFromHttpBody, specFromQuery } from '../../core/exec-spec.js';
import { AgentError, BadRequestError, NotFoundError } from '../../errors.js';
import { consoleLog, type ApiDeps, type ApiEnv, type ApiLog } from '../context.js';
import { GONE_STATUS } from '../errors.js';
import { encodeExitFrame, encodeStreamFrame, StreamByte } from '../exec-frames.js';
import { FramePacer } from '../frame-pacer.js';
import { ndjsonStream } from '../ndjson.js';
import { EXEC_QUERY_ARRAYS, ExecQuery, ExecUserQuery, HttpExecBody, KillSessionQuery, MAX_JSON_EXEC_OUTPUT, type HttpExecResult, SessionIdSchema } from '../../wire/exec.js';
import { queryObject } from '../../wire/request-primitives.js';
import { parseInput, readJsonBody } from '../validate.js';
import { nameParam } from './sandboxes.js';

/** Per-stream cap of the JSON exec response (lowered by `max_output`); beyond it output is dropped and `truncated` set. */
export { MAX_JSON_EXEC_OUTPUT } from '../../wire/exec.js';
/** Output the streamed HTTP exec holds before it pauses the process's output. */
const PACER_HIGH_WATER = 1024 * 1024;

export function execRoutes(deps: ApiDeps, log: ApiLog = consoleLog): Hono<ApiEnv> {
  const router = new Hono<ApiEnv>();

  router.get('/:name/exec', (c) => {
    const name = nameParam(c.req.param('name'));
    deps.sandboxes.get(name);
    return c.json({ sessions: deps.sessions.list(name).map((s) => s.listing()) });
  });

  router.post('/:name/exec/:id/kill', (c) => {
    const name = nameParam(c.req.param('name'));
    const id = parseInput(SessionIdSchema, c.req.param('id'), 'session id');
    const query = parseInput(KillSessionQuery, queryObject(new URL(c.req.url).searchParams), 'query');
    deps.sandboxes.get(name);
    const session = deps.sessions.get(name, id);
    if (!session) throw new NotFoundError(`no session ${id} in sandbox ${name}`);
    if (session.exited) return c.json({ error: 'gone', message: `session ${id} has already exited` }, GONE_STATUS);

    return ndjsonStream(async (out) => {
      // The client may leave: its lines are dropped, the kill goes on.
      const line = (step: KillStep | { type: 'complete'; message: string; pid: number }): void => out.line({ ...step, time: new Date().toISOString() });
      await killSession(session, query.signal, query.timeout, line);
      line({ type: 'complete', message: 'done', pid: session.pid });
    });
  });

  router.post('/:name/exec', async (c) => {
    const name = nameParam(c.req.param('name'));
    const params = new URL(c.req.url).searchParams;
    if (params.has('cmd')) return streamedExec(c.req.raw, name, params);
    const { user, max_output: maxOutput = MAX_JSON_EXEC_OUTPUT } = parseInput(ExecUserQuery, { user: params.get('user') ?? undefined, max_output: params.get('max_output') ?? undefined }, 'query');
    const body = await readJsonBody(c.req.raw, HttpExecBody);
    const sandbox = deps.sandboxes.get(name);
    const spec = specFromHttpBody(body, sandbox.environment, user);

    const out = new Collector(maxOutput);
    const err = new Collector(maxOutput);
    const all = new Collector(2 * maxOutput);
    const run = await runExec(
      deps,
      name,
      spec,
      (stream, data) => {
        (stream === 1 ? out : err).add(data);
        all.add(data);
      },
      { stdin: body.stdin === undefined ? undefined : Buffer.from(body.stdin, 'utf8'), timeoutMs: body.timeout, abort: c.req.raw.signal },
    );
    if (!run.ok) {
      return c.json({ output: run.failure.text, stdout: '', stderr: run.failure.text, exit_code: run.failure.exitCode, signal: null, timed_out: false, truncated: false } satisfies HttpExecResult);
    }
    const result = run.result;
    if (result.status === null) throw new GuestConnectionLost(result.error ?? 'unknown');
    return c.json({
      output: all.text(),
      stdout: out.text(),
      stderr: err.text(),
      exit_code: result.exitCode,
      signal: result.status.signal,
      timed_out: result.timedOut,
      truncated: out.truncated || err.truncated || all.truncated,
      stdout_bytes: out.seen,
      stderr_bytes: err.seen,
    } satisfies HttpExecResult);
  });

  /** The SDKs' execFileHTTP form. */
  async function streamedExec(request: Request, name: string, params: URLSearchParams): Promise<Response> {
    const query = parseInput(ExecQuery, queryObject(params, EXEC_QUERY_ARRAYS), 'query');
    if (query.tty) throw new BadRequestError('a TTY needs the websocket exec');
    const sandbox = deps.sandboxes.get(name);
    const spec = specFromQuery(query, sandbox.environment);
    const started = await startExec(deps, name, spec);
    const headers = { 'content-type': 'application/octet-stream', 'cache-control': 'no-store' };
    if (!started.ok) {
      const frames = Buffer.concat([encodeStreamFrame(StreamByte.Stderr, Buffer.from(started.failure.text)), encodeExitFrame(started.failure.exitCode)]);
      return new Response(frames, { status: 200, headers });
    }
    const process = started.process;
    const stdin = spec.stdin && request.body ? Readable.fromWeb(request.body as import('node:stream/web').ReadableStream<Uint8Array>) : undefined;
    let pullHook: () => void = () => undefined;
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        let paused = false;
        const pacer = new FramePacer((frame) => {
          try {
            controller.enqueue(frame);
          } catch {
            return; // the client left; the abort signal ends the process
          }
          resumeIfRoom();
        });
        const resumeIfRoom = (): void => {
          if (paused && pacer.backlog < PACER_HIGH_WATER / 2 && (controller.desiredSize ?? 1) > 0) {
            paused = false;
            process.stdout.resume();
            process.stderr.resume();
          }
        };
        runProcess(
          process,
          (streamId, data) => {
            pacer.push(streamId === 1 ? StreamByte.Stdout : StreamByte.Stderr, data);
            // A slow reader: stop taking output from the guest until it catches up.
            if (!paused && (pacer.backlog > PACER_HIGH_WATER || (controller.desiredSize ?? 1) <= 0)) {
              paused = true;
              process.stdout.pause();
              process.stderr.pause();
            }
          },
          { stdin, abort: request.signal },
        ).finally(started.release).then(
          async (result) => {
            pacer.push(StreamByte.Exit, Buffer.from([result.exitCode & 0xff]), false);
            await pacer.drained();
            try {
              controller.close();
            } catch {
              // The client left.
            }
          },
          (err: unknown) => {
            log.error('unexpected error in HTTP exec', { error: err instanceof Error ? err.stack : String(err) });
            controller.error(err);
          },
        );
        pullHook = resumeIfRoom;
      },
      pull() {
        pullHook();
      },
    }, { highWaterMark: 16 });
    return new Response(stream, { status: 200, headers });
  }

  return router;
}

/** The guest connection went away while the process ran (the sandbox stopped or crashed). */
class GuestConnectionLost extends AgentError {
  constructor(reason: string) {
    super(`lost the guest while the command ran: ${reason}`);
  }
}

/** Collects output up to a byte limit. */
class Collector {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  truncated = false;
  /** Bytes offered, kept or not. */
  seen = 0;

  constructor(private readonly limit: number) {}

  add(data: Buffer): void {
    this.seen += data.length;
    const room = this.limit - this.size;
    if (room <= 0) {
      this.truncated = true;
      return;
    }
    const part = data.length > room ? data.subarray(0, room) : data;
    if (part.length < data.length) this.truncated = true;
    this.chunks.push(Buffer.from(part));
    this.size += part.length;
  }

  text(): string {
    return Buffer.concat(this.chunks, this.size).toString('utf8');
  }
}
