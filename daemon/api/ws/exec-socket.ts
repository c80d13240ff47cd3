/**
 * Binds one exec websocket to a session: session_info first, then the
 * scrollback replay and live output, client input to the process, and the
 * exit frames and close at the end (framing in ../exec-frames.ts).
 */
import type { RawData, WebSocket } from 'ws';
import type { Session, SessionClient, SessionExit } from '../../core/session.js';
import { KEEPALIVE_INTERVAL_MS, type ExitFrame, type KeepaliveFrame, type SessionInfoFrame } from '../../wire/exec.js';
import type { ApiLog } from '../context.js';
import {
  closeCodeFor,
  decodeClientBinary,
  decodeClientText,
  encodeExitFrame,
  encodeStreamFrame,
  StreamByte,
} from '../exec-frames.js';

/** A message that arrived between the handshake and the socket's handler taking over. */
export interface EarlyMessage {
  readonly data: RawData;
  readonly isBinary: boolean;
}

/** A websocket just accepted, with what the client already sent. */
export interface Accepted {
  readonly ws: WebSocket;
  readonly early: readonly EarlyMessage[];
  /** Stops queueing (the handler listens itself from now on). */
  release(): void;
}

/** Serves an accepted websocket as a client of `session`. `isOwner`: this connection started the process. */
export function serveExecSocket(accepted: Accepted, session: Session, isOwner: boolean, log: ApiLog): void {
  const { ws } = accepted;
  const tty = session.tty;
  const { rows, cols } = session.size;
  const info: SessionInfoFrame = {
    type: 'session_info',
    session_id: session.id,
    command: session.command,
    created: session.created.toISOString(),
    cols,
    rows,
    is_owner: isOwner,
    tty,
  };
  ws.send(JSON.stringify(info));

  let backlog = 0;
  let closed = false;
  const send = (data: Buffer | string): void => {
    if (closed || ws.readyState !== ws.OPEN) return;
    const size = typeof data === 'string' ? Buffer.byteLength(data) : data.length;
    backlog += size;
    ws.send(data, (err) => {
      backlog -= size;
      if (!err) session.onClientDrain();
    });
  };

  const client: SessionClient = {
    get backlog() {
      return backlog;
    },
    output(stream, data) {
      send(tty ? data : encodeStreamFrame(stream === 2 ? StreamByte.Stderr : StreamByte.Stdout, data));
    },
    exit(exit: SessionExit) {
      if (!tty) send(encodeExitFrame(exit.exitCode));
      const message: ExitFrame = {
        type: 'exit',
        exit_code: exit.exitCode,
        ...(exit.signal ? { signal: exit.signal } : {}),
        ...(exit.error ? { error: exit.error } : {}),
      };
      send(JSON.stringify(message));
      closed = true;
      // ws sends queued frames before the close frame, so nothing is lost.
      if (ws.readyState === ws.OPEN) ws.close(closeCodeFor(tty, exit.exitCode), '');
    },
  };

  const detach = session.attach(client);
  const keepalive: KeepaliveFrame = { type: 'keepalive' };
  const keepaliveTimer = setInterval(() => send(JSON.stringify(keepalive)), KEEPALIVE_INTERVAL_MS);
  keepaliveTimer.unref();
  ws.on('close', () => {
    closed = true;
    clearInterval(keepaliveTimer);
    detach();
  });
  ws.on('error', (err) => log.warn('exec websocket error', { session: session.id, error: err.message }));

  const onMessage = (data: RawData, isBinary: boolean): void => {
    const buffer = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
    if (isBinary) {
      const frame = decodeClientBinary(buffer, tty);
      if (frame.kind === 'stdin') {
        if (!session.writeStdin(frame.data)) {
          // The guest is not consuming stdin: stop reading this socket until it does.
          ws.pause();
          session.onceStdinDrain(() => ws.resume());
        }
      } else if (frame.kind === 'stdin_eof') {
        session.endStdin();
      }
      return;
    }
    const text = buffer.toString('utf8');
    const message = decodeClientText(text);
    switch (message.kind) {
      case 'resize':
        session.resize(message.rows, message.cols);
        break;
      case 'signal':
        session.signal(message.signal);
        break;
      case 'unknown':
        // Simple terminal clients send keystrokes as text frames: in TTY mode, text that is not a control message is input.
        if (tty && !text.trimStart().startsWith('{')) session.writeStdin(buffer);
        break;
    }
  };
  accepted.release();
  for (const message of accepted.early) onMessage(message.data, message.isBinary);
  ws.on('message', onMessage);
}

/**
 * Reports an exec that could not start (no such command, bad directory) the
 * way a shell would: the message on stderr, then exit 126/127, then close.
 */
export function failExecSocket(ws: WebSocket, tty: boolean, exitCode: number, text: string): void {
  const data = Buffer.from(tty ? text.replace(/\n/g, '\r\n') : text, 'utf8');
  ws.send(tty ? data : encodeStreamFrame(StreamByte.Stderr, data));
  if (!tty) ws.send(encodeExitFrame(exitCode));
  const message: ExitFrame = { type: 'exit', exit_code: exitCode };
  ws.send(JSON.stringify(message));
  ws.close(closeCodeFor(tty, exitCode), '');
}
