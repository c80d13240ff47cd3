/**
 * The framing of `WSS /v1/sprites/{name}/exec`, as the Sprites SDKs speak it
 * (checked against @fly/sprites 0.1.0 `websocket.js` and sprites-go
 * `websocket.go`):
 *
 * - Non-TTY: every binary frame starts with a stream byte, the rest is payload.
 *   Client -> server: 0 stdin data, 4 stdin EOF (no payload).
 *   Server -> client: 1 stdout, 2 stderr, 3 exit (payload: one byte, the exit
 *   code modulo 256; the SDKs read `payload[0]` and stop reading).
 * - TTY: binary frames are raw terminal bytes in both directions.
 * - Text frames are JSON control messages in both modes.
 *   Client -> server: `{"type":"resize","cols","rows"}`, `{"type":"signal","signal":"TERM"}`.
 *   Server -> client: `{"type":"session_info",...}` first, `{"type":"exit","exit_code"}` last.
 *   (Their shapes: wire/exec.ts.)
 *   Go's SDK only sends `signal` when the upgrade response advertises it in
 *   `X-Sprite-Capabilities`.
 * - After the exit the server closes with 1000 (normal). In TTY mode the JS SDK
 *   takes the exit status from the close code alone (1000 -> 0, anything else
 *   -> 1), so hob closes a TTY session whose process failed with 4000 + code
 *   (an application close code), which that SDK reads as 1.
 */
import * as z from 'zod';

export enum StreamByte {
  Stdin = 0,
  Stdout = 1,
  Stderr = 2,
  Exit = 3,
  StdinEof = 4,
}

/** Response header announcing what the server understands (read by sprites-go). */
export const CAPABILITIES_HEADER = 'X-Sprite-Capabilities';
export const CAPABILITIES = 'signal';

/** Normal closure; and the base of hob's close code for a TTY process that exited non-zero. */
export const CLOSE_NORMAL = 1000;
export const CLOSE_EXIT_BASE = 4000;

/** A binary frame for a non-TTY output stream. */
export function encodeStreamFrame(stream: StreamByte.Stdout | StreamByte.Stderr, payload: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(payload.length + 1);
  frame[0] = stream;
  payload.copy(frame, 1);
  return frame;
}

/** The non-TTY exit frame: stream byte 3 and the exit code as one byte. */
export function encodeExitFrame(exitCode: number): Buffer {
  return Buffer.from([StreamByte.Exit, exitCode & 0xff]);
}

/** What a client's binary frame means. */
export type ClientBinary =
  | { readonly kind: 'stdin'; readonly data: Buffer }
  | { readonly kind: 'stdin_eof' }
  /** Empty frames, or stream bytes a client may not send (1, 2, 3, unknown). */
  | { readonly kind: 'ignored' };

export function decodeClientBinary(frame: Buffer, tty: boolean): ClientBinary {
  if (tty) return frame.length === 0 ? { kind: 'ignored' } : { kind: 'stdin', data: frame };
  if (frame.length === 0) return { kind: 'ignored' };
  switch (frame[0]) {
    case StreamByte.Stdin:
      return { kind: 'stdin', data: frame.subarray(1) };
    case StreamByte.StdinEof:
      return { kind: 'stdin_eof' };
    default:
      return { kind: 'ignored' };
  }
}

/** Signals a client may send, by their Sprites names (the SIG prefix is also accepted). */
export const CLIENT_SIGNALS = ['INT', 'TERM', 'HUP', 'KILL', 'QUIT', 'USR1', 'USR2'] as const;

/** `TERM`, `SIGTERM`, `term` -> `SIGTERM`; undefined for a signal clients may not send. */
export function normalizeSignal(name: string): string | undefined {
  const upper = name.trim().toUpperCase();
  const bare = upper.startsWith('SIG') ? upper.slice(3) : upper;
  return (CLIENT_SIGNALS as readonly string[]).includes(bare) ? `SIG${bare}` : undefined;
}

const ResizeSchema = z.object({
  type: z.literal('resize'),
  cols: z.number().int().min(1).max(1000),
  rows: z.number().int().min(1).max(1000),
});
const SignalSchema = z.object({ type: z.literal('signal'), signal: z.string().max(16) });

/** What a client's text frame means. */
export type ClientText =
  | { readonly kind: 'resize'; readonly rows: number; readonly cols: number }
  | { readonly kind: 'signal'; readonly signal: string }
  /** Not JSON, or not a control message hob knows; `reason` is for the log. */
  | { readonly kind: 'unknown'; readonly reason: string };

export function decodeClientText(text: string): ClientText {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { kind: 'unknown', reason: 'not JSON' };
  }
  const resize = ResizeSchema.safeParse(value);
  if (resize.success) return { kind: 'resize', rows: resize.data.rows, cols: resize.data.cols };
  const signal = SignalSchema.safeParse(value);
  if (signal.success) {
    const normalized = normalizeSignal(signal.data.signal);
    return normalized ? { kind: 'signal', signal: normalized } : { kind: 'unknown', reason: `signal ${signal.data.signal} is not allowed` };
  }
  return { kind: 'unknown', reason: 'not a resize or signal message' };
}

/** Close code for the end of a session (see the module comment). */
export function closeCodeFor(tty: boolean, exitCode: number): number {
  return tty && exitCode !== 0 ? CLOSE_EXIT_BASE + (exitCode & 0xff) : CLOSE_NORMAL;
}
