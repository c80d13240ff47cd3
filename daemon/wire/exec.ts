/**
 * Exec on the wire: the session listing and the kill stream (daemon/api/routes/exec.ts),
 * and the text frames of the exec websocket (daemon/api/ws/exec-socket.ts).
 * Key order is the order the CLI's `--json` prints them in: keep it.
 */
import { z } from 'zod';

/** One entry of `GET .../exec` (Sprites' session listing, then hob's fields). */
export const SessionListing = z.looseObject({
  id: z.string(),
  command: z.string(),
  workdir: z.string(),
  created: z.string(),
  /** True while a client is attached. */
  is_active: z.boolean(),
  last_activity: z.string(),
  tty: z.boolean(),
  // hob fields
  attached: z.number(),
  exited: z.boolean(),
  exit_code: z.number().nullable(),
  bytes_per_second: z.number(),
  pid: z.number(),
});
export type SessionListing = z.infer<typeof SessionListing>;

export const SessionList = z.looseObject({ sessions: z.array(SessionListing) });
export type SessionList = z.infer<typeof SessionList>;

/** A line of the kill stream (`POST .../exec/{id}/kill`; the JS SDK's SessionKillStream fields). */
export const KillLine = z.looseObject({
  /** signal, exited, error, complete. */
  type: z.string(),
  message: z.string(),
  exit_code: z.number().optional(),
  signal: z.string().optional(),
  pid: z.number(),
  /** ISO 8601. */
  time: z.string(),
});
export type KillLine = z.infer<typeof KillLine>;

/** The first text frame of every exec websocket. */
export const SessionInfoFrame = z.looseObject({
  type: z.literal('session_info'),
  /** Session id (the guest pid, as a string: sprites-go decodes it into a string). */
  session_id: z.string(),
  /** The command line, argv joined by spaces. */
  command: z.string(),
  /** RFC 3339 time the process started. */
  created: z.string(),
  cols: z.number(),
  rows: z.number(),
  /** True for the connection that started the process, false for one that attached later. */
  is_owner: z.boolean(),
  tty: z.boolean(),
});
export type SessionInfoFrame = z.infer<typeof SessionInfoFrame>;

/** The last text frame: how the process ended. hob adds `signal` (e.g. "SIGKILL") when it died of one, and `error` when the sandbox went away. */
export const ExitFrame = z.looseObject({
  type: z.literal('exit'),
  exit_code: z.number().int(),
  signal: z.string().optional(),
  error: z.string().optional(),
});
export type ExitFrame = z.infer<typeof ExitFrame>;
