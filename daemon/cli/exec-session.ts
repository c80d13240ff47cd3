/**
 * The client end of an exec websocket (exec, console, sessions attach), in
 * the Sprites framing (daemon/api/exec-frames.ts):
 *
 * - non-TTY: binary frames carry a stream byte — we send 0 stdin and 4 stdin
 *   EOF, we receive 1 stdout, 2 stderr, 3 exit (one byte, the code);
 * - TTY: binary frames are raw terminal bytes both ways;
 * - text frames are JSON: `session_info` first and `exit` last from hobd,
 *   `resize` and `signal` from us.
 *
 * Local behaviour: output goes to our stdout/stderr (or is collected, for
 * `exec --json`), with backpressure (a slow stdout pauses the socket); stdin
 * is forwarded when asked, paused while too much of it is in flight; in TTY
 * mode with a local terminal the terminal is raw and its size follows ours
 * (`resize` on SIGWINCH); SIGINT/SIGTERM/SIGHUP/SIGQUIT received by hob are
 * forwarded to the remote process (three SIGINTs give up waiting and exit
 * 130), except SIGTERM/SIGHUP in TTY mode, which detach; Ctrl+\ detaches
 * when `detachable` (the session keeps running either way).
 * Every way out restores the terminal and flushes our output first.
 */
import { constants as osConstants } from 'node:os';
import { WebSocket, type RawData } from 'ws';
import type { OpenSocket } from './client.js';
import type { CliIo, CliOutput } from './context.js';
import { PortEventFrame } from '../wire/exec.js';
import { ExitFrame, SessionInfoFrame } from './schemas.js';
import { DETACH_KEY, enterRawMode, type RawMode } from './terminal.js';

/** Stream bytes of the non-TTY framing. */
const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
const EXIT = 3;
const STDIN_EOF = 4;
/** End of transmission: what a terminal sends for Ctrl+D; stands for end of input in TTY mode. */
const EOT = 0x04;

/** Stdin bytes in flight above which reading stdin pauses (resumed below half). */
const STDIN_HIGH_WATER = 1024 * 1024;
/** How long a detach waits for the close handshake before dropping the connection. */
const CLOSE_GRACE_MS = 2_000;
/** SIGINTs after which hob stops waiting for the remote process. */
const INTERRUPTS_TO_GIVE_UP = 3;

export interface SessionRunOptions {
  readonly io: CliIo;
  /** An open exec websocket, its messages held (HobClient.openWebSocket). */
  readonly socket: OpenSocket;
  /** TTY mode as requested; `session_info` from hobd overrides it (an attach learns it there). */
  readonly tty: boolean;
  /** Forward our stdin to the process; a function decides once the session's TTY mode is known. */
  readonly forwardStdin: boolean | ((tty: boolean) => boolean);
  /** Ctrl+\ detaches (only in TTY mode with our stdin a terminal in raw mode). */
  readonly detachable: boolean;
  /** Keep the output in memory instead of writing it (`exec --json`). */
  readonly collect: boolean;
  /** Send our terminal size as soon as the session is known (attach: it was sized for another terminal). */
  readonly sendInitialSize: boolean;
  /** Called for each `port_opened` / `port_closed` frame (a port started or stopped listening in the guest). */
  readonly onPortEvent?: (event: PortEventFrame) => void;
}

export type SessionOutcome =
  /** The process ended. `exitCode` is shell-style (128 + n for signal n). `error`: ended without a real status (sandbox stopped). */
  | {
      readonly kind: 'exited';
      readonly sessionId: string | undefined;
      readonly exitCode: number;
      readonly signal: string | null;
      readonly error: string | null;
      readonly stdout: Buffer;
      readonly stderr: Buffer;
    }
  /** We left with Ctrl+\; the process goes on. */
  | { readonly kind: 'detached'; readonly sessionId: string | undefined }
  /** The user interrupted three times; the process may go on for its disconnect grace time. */
  | { readonly kind: 'interrupted'; readonly sessionId: string | undefined }
  /** The connection ended without an exit status. */
  | { readonly kind: 'lost'; readonly sessionId: string | undefined; readonly reason: string };

/** Shell-style exit code of an `exit` frame: 128 + n for a signal n, else the code (255 when out of range). */
export function exitCodeOf(exit: { readonly exit_code: number; readonly signal?: string | null }): number {
  if (exit.signal) {
    const n = (osConstants.signals as Record<string, number | undefined>)[exit.signal.toUpperCase().startsWith('SIG') ? exit.signal.toUpperCase() : `SIG${exit.signal.toUpperCase()}`];
    if (n !== undefined) return 128 + n;
  }
  return Number.isInteger(exit.exit_code) && exit.exit_code >= 0 && exit.exit_code <= 255 ? exit.exit_code : 255;
}

/**
 * The exit code a websocket close code stands for, when hobd closed without
 * an exit frame we understood: in TTY mode 4000 + n means exit code n
 * (daemon/api/exec-frames.ts closeCodeFor). Undefined otherwise.
 */
export function exitCodeFromClose(code: number, tty: boolean): number | undefined {
  if (tty && code >= 4000 && code <= 4255) return code - 4000;
  return undefined;
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

export function runSession(o: SessionRunOptions): Promise<SessionOutcome> {
  const { io } = o;
  const { ws } = o.socket;
  return new Promise<SessionOutcome>((resolve) => {
    let tty = o.tty;
    let sessionId: string | undefined;
    let exit: ExitFrame | undefined;
    let exitByte: number | undefined;
    let detached = false;
    let interrupts = 0;
    let started = false;
    let finished = false;
    let raw: RawMode | undefined;
    let socketPaused = false;
    let stdinPaused = false;
    let stdinInFlight = 0;
    const collected = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
    const cleanups: Array<() => void> = [];

    const write = (stream: CliOutput, into: Buffer[], data: Buffer): void => {
      if (data.length === 0) return;
      if (o.collect) {
        into.push(data);
        return;
      }
      if (!stream.write(data) && !socketPaused) {
        socketPaused = true;
        ws.pause();
        stream.once('drain', () => {
          socketPaused = false;
          ws.resume();
        });
      }
    };

    const sendJson = (value: unknown): void => {
      if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(value));
    };

    const sendStdin = (data: Buffer): void => {
      if (ws.readyState !== WebSocket.OPEN || data.length === 0) return;
      const frame = tty ? data : Buffer.concat([Buffer.from([STDIN]), data]);
      stdinInFlight += frame.length;
      ws.send(frame, () => {
        stdinInFlight -= frame.length;
        if (stdinPaused && stdinInFlight < STDIN_HIGH_WATER / 2) {
          stdinPaused = false;
          io.stdin.resume();
        }
      });
      if (!stdinPaused && stdinInFlight > STDIN_HIGH_WATER) {
        stdinPaused = true;
        io.stdin.pause();
      }
    };

    const detach = (): void => {
      if (detached) return;
      detached = true;
      if (ws.readyState === WebSocket.OPEN) ws.close(1000, 'detached');
      setTimeout(() => ws.terminate(), CLOSE_GRACE_MS).unref();
    };

    const sendSize = (): void => {
      const { columns, rows } = io.stdout;
      if (columns && rows) sendJson({ type: 'resize', cols: columns, rows });
    };

    /** Wires stdin, the terminal and signals once the session is known. */
    const start = (): void => {
      if (started) return;
      started = true;
      if (typeof o.forwardStdin === 'function' ? o.forwardStdin(tty) : o.forwardStdin) {
        if (tty) raw = enterRawMode(io.stdin);
        const onData = (chunk: Buffer | string): void => {
          const data = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
          if (tty && raw && o.detachable) {
            const at = data.indexOf(DETACH_KEY);
            if (at >= 0) {
              sendStdin(data.subarray(0, at));
              detach();
              return;
            }
          }
          sendStdin(data);
        };
        const onEnd = (): void => {
          if (ws.readyState !== WebSocket.OPEN) return;
          // A TTY has no EOF frame: send what a terminal sends for end of input.
          ws.send(tty ? Buffer.from([EOT]) : Buffer.from([STDIN_EOF]));
        };
        io.stdin.on('data', onData);
        io.stdin.once('end', onEnd);
        io.stdin.resume();
        cleanups.push(() => {
          io.stdin.off('data', onData);
          io.stdin.off('end', onEnd);
          io.stdin.pause();
        });
      }
      if (tty && io.stdout.isTTY) {
        io.stdout.on('resize', sendSize);
        cleanups.push(() => io.stdout.off('resize', sendSize));
        if (o.sendInitialSize) sendSize();
      }
      cleanups.push(
        io.onSignal(['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'], (signal) => {
          // A TTY session outlives its connection: hob being terminated or losing its
          // terminal leaves it running (like Ctrl+\), rather than hitting an interactive
          // shell that ignores TERM.
          if (tty && (signal === 'SIGTERM' || signal === 'SIGHUP')) {
            detach();
            return;
          }
          if (signal === 'SIGINT' && ++interrupts >= INTERRUPTS_TO_GIVE_UP) {
            ws.terminate();
            return;
          }
          sendJson({ type: 'signal', signal: signal.slice(3) });
        }),
      );
    };

    const onText = (text: string): void => {
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch {
        return; // not a control message
      }
      const info = SessionInfoFrame.safeParse(value);
      if (info.success) {
        sessionId = info.data.session_id;
        if (info.data.tty !== undefined) tty = info.data.tty;
        start();
        return;
      }
      const ended = ExitFrame.safeParse(value);
      if (ended.success) {
        exit = ended.data;
        // hobd closes right after the exit frame; closing from our side too saves waiting for it.
        if (ws.readyState === WebSocket.OPEN) ws.close(1000);
      }
      const port = PortEventFrame.safeParse(value);
      if (port.success) o.onPortEvent?.(port.data);
      // Future messages: nothing to do here.
    };

    const onMessage = (data: RawData, isBinary: boolean): void => {
      const buf = toBuffer(data);
      if (!isBinary) {
        onText(buf.toString('utf8'));
        return;
      }
      if (tty) {
        write(io.stdout, collected.stdout, buf);
        return;
      }
      switch (buf[0]) {
        case STDOUT:
          write(io.stdout, collected.stdout, buf.subarray(1));
          break;
        case STDERR:
          write(io.stderr, collected.stderr, buf.subarray(1));
          break;
        case EXIT:
          exitByte = buf[1] ?? 0;
          break;
        default:
          break; // not a stream hobd sends
      }
    };

    ws.on('error', () => undefined); // 'close' follows and says what is left to say

    ws.on('close', (code: number, reason: Buffer) => {
      if (finished) return;
      finished = true;
      for (const cleanup of cleanups.splice(0).reverse()) cleanup();
      raw?.restore();
      const outcome = decideOutcome(code, reason.toString('utf8'));
      const flushed = o.collect ? Promise.resolve() : Promise.all([flush(io.stdout), flush(io.stderr)]);
      void flushed.then(() => resolve(outcome));
    });

    const decideOutcome = (code: number, reason: string): SessionOutcome => {
      if (detached) return { kind: 'detached', sessionId };
      const stdout = Buffer.concat(collected.stdout);
      const stderr = Buffer.concat(collected.stderr);
      if (exit) return { kind: 'exited', sessionId, exitCode: exitCodeOf(exit), signal: exit.signal ?? null, error: exit.error ?? null, stdout, stderr };
      const fromCode = exitByte ?? exitCodeFromClose(code, tty);
      if (fromCode !== undefined) return { kind: 'exited', sessionId, exitCode: fromCode, signal: null, error: null, stdout, stderr };
      if (interrupts >= INTERRUPTS_TO_GIVE_UP) return { kind: 'interrupted', sessionId };
      return { kind: 'lost', sessionId, reason: `the connection to hobd closed before the command exited (code ${code}${reason ? `: ${reason}` : ''})` };
    };

    o.socket.listen(onMessage);
  });
}

/** Resolves once everything written to `stream` so far is handed to the OS. */
function flush(stream: CliOutput): Promise<void> {
  return new Promise((resolve) => {
    if (stream.writableEnded || stream.destroyed) {
      resolve();
      return;
    }
    stream.write('', () => resolve());
  });
}
