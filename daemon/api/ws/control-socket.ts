/**
 * `WSS .../{name}/control`: the SDKs' control mode (docs/architecture.md §20),
 * one websocket that runs operations one after another. A text frame
 * `control:{"type":"op.start","op":"exec","args":{...}}` starts a process (args:
 * the exec query as JSON, wire/sprite-ops.ts); then frames are the exec
 * websocket's (../exec-frames.ts): binary 0 stdin / 4 EOF from the client, 1
 * stdout / 2 stderr / 3 exit to it, raw bytes under a TTY, and resize/signal
 * JSON (the JS SDK sends those as binary frames, so a binary frame that is such
 * a JSON object counts as one). The end is `control:{"type":"op.complete","args":{"exitCode":N}}`;
 * an operation that cannot start (bad args, unknown op, a second one while one
 * runs) is `control:{"type":"op.error","args":{"error":...}}`. Each process is a
 * one-shot exec (core/exec.ts): it holds the sandbox awake while it runs and is
 * abandoned when the socket closes; between operations nothing is held.
 */
import { PassThrough } from 'node:stream';
import type { RawData, WebSocket } from 'ws';
import { runProcess, startExec, type ExecCore } from '../../core/exec.js';
import { specFromQuery } from '../../core/exec-spec.js';
import type { GuestProcess } from '../../core/guest-process.js';
import { ExecQuery } from '../../wire/exec.js';
import { CONTROL_PREFIX, ControlOpStart, type ControlOpEnd } from '../../wire/sprite-ops.js';
import type { ApiLog } from '../context.js';
import { errorResponse } from '../errors.js';
import { decodeClientBinary, decodeClientText, encodeExitFrame, encodeStreamFrame, StreamByte } from '../exec-frames.js';
import { describeIssues } from '../validate.js';
import type { Accepted, EarlyMessage } from './exec-socket.js';

/** Output queued for the client before the process's output is paused. */
const OUTPUT_HIGH_WATER = 1024 * 1024;
/** Stdin queued for the guest before this socket stops being read. */
const STDIN_HIGH_WATER = 1024 * 1024;

export interface ControlSocketDeps {
  readonly core: ExecCore;
  readonly name: string;
  /** The sandbox's environment, which every exec gets (as on the exec websocket). */
  readonly environment: () => Readonly<Record<string, string>>;
  readonly log: ApiLog;
}

interface Running {
  readonly process: GuestProcess;
  readonly tty: boolean;
  readonly stdin: PassThrough | undefined;
}

export function serveControlSocket(accepted: Accepted, deps: ControlSocketDeps): void {
  const { ws } = accepted;
  let running: Running | undefined;
  let starting = false;
  let closed = false;
  const abort = new AbortController();
  let backlog = 0;
  let paused = false;

  const send = (data: Buffer | string): void => {
    if (closed || ws.readyState !== ws.OPEN) return;
    const size = typeof data === 'string' ? Buffer.byteLength(data) : data.length;
    backlog += size;
    ws.send(data, () => {
      backlog -= size;
      if (paused && backlog < OUTPUT_HIGH_WATER / 2 && running) {
        paused = false;
        running.process.stdout.resume();
        running.process.stderr.resume();
      }
    });
  };
  const control = (message: ControlOpEnd): void => send(CONTROL_PREFIX + JSON.stringify(message));
  const opError = (error: string): void => control({ type: 'op.error', args: { error } });

  const start = async (text: string): Promise<void> => {
    let envelope: unknown;
    try {
      envelope = JSON.parse(text.slice(CONTROL_PREFIX.length));
    } catch {
      opError('the control message is not JSON');
      return;
    }
    const parsed = ControlOpStart.safeParse(envelope);
    if (!parsed.success) {
      opError(`not an op.start message: ${describeIssues(parsed.error)}`);
      return;
    }
    if (parsed.data.op !== 'exec') {
      opError(`hob's control connection runs only "exec", not "${parsed.data.op}"`);
      return;
    }
    if (running || starting) {
      opError('an operation is already running on this connection');
      return;
    }
    const args = ExecQuery.safeParse(parsed.data.args);
    if (!args.success) {
      opError(`invalid exec args: ${describeIssues(args.error)}`);
      return;
    }
    const spec = specFromQuery(args.data, deps.environment());
    starting = true;
    let started;
    try {
      started = await startExec(deps.core, deps.name, spec);
    } catch (err) {
      opError(errorResponse(err).body.message);
      return;
    } finally {
      starting = false;
    }
    const tty = spec.tty !== undefined;
    if (!started.ok) {
      const text = Buffer.from(started.failure.text);
      send(tty ? text : encodeStreamFrame(StreamByte.Stderr, text));
      if (!tty) send(encodeExitFrame(started.failure.exitCode));
      control({ type: 'op.complete', args: { exitCode: started.failure.exitCode } });
      return;
    }
    if (closed) {
      started.process.close();
      started.release();
      return;
    }
    const stdin = spec.stdin ? new PassThrough({ highWaterMark: STDIN_HIGH_WATER }) : undefined;
    const op: Running = { process: started.process, tty, stdin };
    running = op;
    const result = await runProcess(
      started.process,
      (stream, data) => {
        send(tty ? data : encodeStreamFrame(stream === 2 ? StreamByte.Stderr : StreamByte.Stdout, data));
        if (!paused && backlog > OUTPUT_HIGH_WATER) {
          paused = true;
          started.process.stdout.pause();
          started.process.stderr.pause();
        }
      },
      { stdin, abort: abort.signal },
    ).finally(started.release);
    running = undefined;
    paused = false;
    ws.resume();
    if (!tty) send(encodeExitFrame(result.exitCode));
    control({ type: 'op.complete', args: { exitCode: result.exitCode } });
  };

  const onMessage = (data: RawData, isBinary: boolean): void => {
    const buffer = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
    const text = isBinary && buffer[0] !== 0x7b ? undefined : buffer.toString('utf8');
    if (text !== undefined && !isBinary && text.startsWith(CONTROL_PREFIX)) {
      start(text).catch((err: unknown) => {
        deps.log.error('unexpected error in the control websocket', { error: err instanceof Error ? err.stack : String(err) });
        opError('internal error');
      });
      return;
    }
    const op = running;
    if (!op) return; // data between operations has no process to go to
    if (text !== undefined) {
      const message = decodeClientText(text);
      if (message.kind === 'resize') {
        op.process.resize(message.rows, message.cols);
        return;
      }
      if (message.kind === 'signal') {
        try {
          op.process.signal(message.signal);
        } catch {
          // Already gone.
        }
        return;
      }
      if (!isBinary) return;
    }
    const frame = decodeClientBinary(buffer, op.tty);
    if (frame.kind === 'stdin' && op.stdin) {
      if (!op.stdin.write(frame.data)) {
        ws.pause();
        op.stdin.once('drain', () => ws.resume());
      }
    } else if (frame.kind === 'stdin_eof') op.stdin?.end();
  };

  ws.on('close', () => {
    closed = true;
    abort.abort();
  });
  ws.on('error', (err) => deps.log.warn('control websocket error', { sandbox: deps.name, error: err.message }));
  accepted.release();
  const early: readonly EarlyMessage[] = accepted.early;
  for (const message of early) onMessage(message.data, message.isBinary);
  ws.on('message', onMessage);
}
