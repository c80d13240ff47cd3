/**
 * Exec on the wire: the session listing and the kill stream (daemon/api/routes/exec.ts),
 * and the text frames of the exec websocket (daemon/api/ws/exec-socket.ts); then the
 * requests: the exec query (websocket and streamed HTTP), the JSON exec body, the kill query.
 * Key order is the order the CLI's `--json` prints them in: keep it.
 */
import * as z from 'zod';
import { AbsoluteGuestPath, DurationSchema, EnvMap, GuestPathText, MAX_DURATION_MS, QueryBool, QueryInt, signalName } from './request-primitives.js';

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

/** A port started or stopped listening in the guest, sent while the exec websocket is open (core/port-events.ts). */
export const PortEventFrame = z.looseObject({
  type: z.enum(['port_opened', 'port_closed']),
  /** The guest TCP port. */
  port: z.number().int().min(1).max(65535),
  /** The address the guest listens on, as its kernel reports it ("0.0.0.0", "::", "127.0.0.1"); hob always sends it. */
  address: z.string().optional(),
  /** hob: the sandbox URL, when it routes to this port (`http://<name>.localhost:<apiport>/`). */
  url: z.string().optional(),
});
export type PortEventFrame = z.infer<typeof PortEventFrame>;

/**
 * Sent on an exec websocket every KEEPALIVE_INTERVAL_MS while it is open: the JS
 * SDK drops a connection that has received nothing for 45 s (it cannot see
 * websocket pings), which would end every quiet command. Clients ignore it.
 */
export const KeepaliveFrame = z.looseObject({ type: z.literal('keepalive') });
export type KeepaliveFrame = z.infer<typeof KeepaliveFrame>;
export const KEEPALIVE_INTERVAL_MS = 15_000;

// ---------------------------------------------------------------- requests

const Argv = z.array(z.string().max(128 * 1024).refine((a) => !a.includes('\0'), 'arguments must not contain NUL')).max(10_000);
const EnvPair = z
  .string()
  .max(32 * 1024)
  .regex(/^[A-Za-z_][A-Za-z0-9_]*=[^\0]*$/s, 'env entries are KEY=VALUE');

/**
 * Who an exec runs as: the `user` query parameter of the exec endpoints (HTTP
 * and websocket), a hob extension to the Sprites shapes. Without it the guest
 * agent runs the command as the image's default user (docs/architecture.md §5).
 * A user name (as useradd accepts it, also `.` inside) or a numeric uid.
 */
export const ExecUser = z
  .string()
  .min(1, 'user must not be empty')
  .max(64, 'user must be at most 64 characters')
  .regex(/^(?:[A-Za-z_][A-Za-z0-9_.-]*\$?|\d{1,10})$/, 'user must be a user name or a numeric uid');

/** Most output the JSON form of `POST .../exec` keeps of each stream (api/routes/exec.ts). */
export const MAX_JSON_EXEC_OUTPUT = 8 * 1024 * 1024;

/** The query of the JSON form of `POST .../exec` (the `cmd` form has `user` in ExecQuery). */
export const ExecUserQuery = z.object({
  user: ExecUser.optional(),
  /** hob: keep at most this many bytes of each stream (the first ones; `truncated` says when more came), default and maximum 8 MiB. */
  max_output: QueryInt(1, MAX_JSON_EXEC_OUTPUT).optional(),
});

/** Query of `WSS .../exec` (and of the SDK's streamed HTTP exec). Repeatable keys arrive as arrays. */
export const ExecQuery = z.object({
  cmd: Argv.default([]),
  /** The executable; defaults to the first `cmd`. */
  path: GuestPathText.optional(),
  tty: QueryBool.default(false),
  rows: QueryInt(1, 1000).default(24),
  cols: QueryInt(1, 1000).default(80),
  /** Whether the client sends stdin; default true for a TTY, false otherwise. */
  stdin: QueryBool.optional(),
  env: z.array(EnvPair).max(256).default([]),
  dir: AbsoluteGuestPath.optional(),
  /** Legacy attach to a session by id. */
  id: z.string().regex(/^[0-9A-Za-z_-]{1,64}$/).optional(),
  max_run_after_disconnect: DurationSchema.optional(),
  /** Sent by the JS SDK for detachable sessions; every TTY exec is detachable in hob. */
  detachable: QueryBool.optional(),
  /** Sprites' control mode; hob does not offer it and treats the connection as a normal exec. */
  cc: QueryBool.optional(),
  /** hob: who to run as; default the image's default user. */
  user: ExecUser.optional(),
});
export type ExecQuery = z.infer<typeof ExecQuery>;

/** Keys of ExecQuery that may repeat. */
export const EXEC_QUERY_ARRAYS = ['cmd', 'env'] as const;

/** Splits `KEY=VALUE` pairs into a record (later keys win). */
export function envPairsToRecord(pairs: readonly string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return env;
}

export const SessionIdSchema = z.string().regex(/^[0-9A-Za-z_-]{1,64}$/, 'not a session id');

export const KillSessionQuery = z.object({
  signal: signalName(['INT', 'TERM', 'HUP', 'KILL', 'QUIT', 'USR1', 'USR2']).default('SIGTERM'),
  /** How long to wait for the process to exit before SIGKILL; "0s" (the default) means do not escalate. */
  timeout: DurationSchema.optional(),
});

/** Body of the plain HTTP exec, `POST .../exec` with a JSON body (hob's shape; see the routes for the SDK's streamed form). */
export const HttpExecBody = z.object({
  /** A shell command line (run with `sh -c`) or an argv. */
  command: z.union([z.string().min(1).max(128 * 1024), Argv.min(1)]),
  /** Text written to the process's stdin, then EOF. */
  stdin: z.string().max(1024 * 1024).optional(),
  env: EnvMap.optional(),
  dir: AbsoluteGuestPath.optional(),
  /** Seconds (number) or a duration string; the process is killed when it runs longer. */
  timeout: z.union([z.number().positive().max(MAX_DURATION_MS / 1000).transform((s) => Math.round(s * 1000)), DurationSchema]).optional(),
});
export type HttpExecBody = z.infer<typeof HttpExecBody>;

/** Answer of the JSON form of `POST .../exec` (daemon/api/routes/exec.ts). */
export const HttpExecResult = z.looseObject({
  /** stdout and stderr interleaved as they arrived. */
  output: z.string(),
  stdout: z.string(),
  stderr: z.string(),
  exit_code: z.number(),
  /** The signal that ended the process ("SIGKILL"), or null. */
  signal: z.string().nullable(),
  timed_out: z.boolean(),
  /** A stream went over the cap (8 MiB, or `max_output`) and was cut. */
  truncated: z.boolean(),
  /** hob: how many bytes each stream produced in all, kept or not. */
  stdout_bytes: z.number().optional(),
  stderr_bytes: z.number().optional(),
});
export type HttpExecResult = z.infer<typeof HttpExecResult>;
