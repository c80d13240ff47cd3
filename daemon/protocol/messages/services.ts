/**
 * Services (capability "services"): `service.*` requests, definitions, states and log lines.
 *
 * Supervised processes inside the guest, in the Sprites services shape. The
 * agent keeps each definition in /etc/hob/services/<name>.json and its output
 * in /var/log/hob/services/<name>.log, restarts a process that exits on its own
 * (backoff 1 s doubling to 60 s, reset after 60 s of uptime) and starts every
 * enabled service again, in `needs` order, when the agent starts (cold boot).
 * Failure codes on these ops: ENOENT unknown service, EINVAL a bad definition
 * (unknown or cyclic `needs`), EBUSY a conflict (another service has the HTTP
 * port; the service is still needed by another), ESRCH signal to a service
 * that is not running.
 */
import * as z from 'zod';
import { GuestEpochMsSchema, GuestPathSchema, SignalNameSchema } from './values.js';

/** A service's name: also its file name in the guest. */
export const ServiceNameSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'a service name: letters, digits, ".", "_" and "-", starting with a letter or digit, at most 63 characters');
const EnvVarName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,255}$/, 'an environment variable name');

/** What the user defines for a service (persisted by the agent). */
export const ServiceDefinitionSchema = z.object({
  /** The program; looked up in PATH (of the service's environment) when it contains no slash. */
  cmd: z.string().min(1).max(4096).refine((c) => !c.includes('\0'), 'cmd must not contain NUL'),
  args: z.array(z.string().max(128 * 1024)).max(10_000).default([]),
  /** Added to the base environment (PATH, HOME, USER, LOGNAME, SHELL, LANG of the user). */
  env: z.record(EnvVarName, z.string().max(128 * 1024)).default({}),
  /** Working directory; default the user's home, or "/". */
  dir: GuestPathSchema.optional(),
  /** Services started before this one (and started with it). Must exist; no cycles. */
  needs: z.array(ServiceNameSchema).max(64).default([]),
  /** The port the sandbox URL routes to; at most one service has one. */
  httpPort: z.number().int().min(1).max(65535).optional(),
  /** User name or numeric uid the process runs as; default root (hob extension). */
  user: z.string().max(64).optional(),
});
export type ServiceDefinition = z.infer<typeof ServiceDefinitionSchema>;
export type ServiceDefinitionInput = z.input<typeof ServiceDefinitionSchema>;

export const ServiceStatusSchema = z.enum(['stopped', 'starting', 'running', 'stopping', 'failed']);
export type ServiceStatus = z.infer<typeof ServiceStatusSchema>;

/**
 * Run state of a service. `failed` with `nextRestartAtMs` means the process
 * exited on its own (or could not be started) and a restart is scheduled.
 */
export const ServiceStateSchema = z.object({
  status: ServiceStatusSchema,
  /** Process (and process group) id while it runs. */
  pid: z.number().int().positive().optional(),
  /** When the current (or last) process started, epoch ms (guest clock). */
  startedAtMs: GuestEpochMsSchema.optional(),
  /** Why the last process ended or could not start. */
  error: z.string().max(4096).optional(),
  /** Restarts after the process exited on its own, since the agent started. */
  restartCount: z.number().int().min(0),
  /** When the scheduled restart happens, epoch ms. */
  nextRestartAtMs: GuestEpochMsSchema.optional(),
  /** Whether the service is started at boot: false after an explicit stop. */
  enabled: z.boolean(),
});
export type ServiceState = z.infer<typeof ServiceStateSchema>;

export const ServiceInfoSchema = z.object({
  name: ServiceNameSchema,
  definition: ServiceDefinitionSchema,
  state: ServiceStateSchema,
  /** The log file in the guest. */
  logFile: z.string().max(4096),
});
export type ServiceInfo = z.infer<typeof ServiceInfoSchema>;

/**
 * One line of a service's log, as `service.logs` streams it (NDJSON on Stdout).
 * `stream` "hob" lines are the supervisor's own (started, exit, ...), with `event` set.
 */
export const ServiceLogEntrySchema = z.object({
  /** epoch ms (guest clock). */
  time: GuestEpochMsSchema,
  stream: z.enum(['stdout', 'stderr', 'hob']),
  /** The line without its newline. */
  data: z.string(),
  event: z.enum(['started', 'exit', 'stopping', 'stopped', 'error']).optional(),
  /** For `exit`: the exit code, or null when a signal ended the process. */
  exitCode: z.number().int().nullable().optional(),
});
export type ServiceLogEntry = z.infer<typeof ServiceLogEntrySchema>;

export const ServiceListRequestSchema = z.object({ op: z.literal('service.list') });
export const ServiceGetRequestSchema = z.object({ op: z.literal('service.get'), name: ServiceNameSchema });
/**
 * Creates or replaces a definition. With `start` (default) the service is
 * enabled and started (restarted when it ran with a different definition);
 * without, it is only saved (and stopped if it ran with a different definition).
 */
export const ServicePutRequestSchema = z.object({
  op: z.literal('service.put'),
  name: ServiceNameSchema,
  definition: ServiceDefinitionSchema,
  start: z.boolean().default(true),
});
/** Stops the service if it runs, then removes its definition; the log stays. */
export const ServiceDeleteRequestSchema = z.object({ op: z.literal('service.delete'), name: ServiceNameSchema, timeoutMs: z.number().int().min(0).max(600_000).default(10_000) });
/** Enables and starts the service (and, first, what it needs). Running: no-op. */
export const ServiceStartRequestSchema = z.object({ op: z.literal('service.start'), name: ServiceNameSchema });
/** Disables the service and stops it: SIGTERM to its process group, SIGKILL after `timeoutMs`. Answers once it ended. */
export const ServiceStopRequestSchema = z.object({ op: z.literal('service.stop'), name: ServiceNameSchema, timeoutMs: z.number().int().min(0).max(600_000).default(10_000) });
/** Sends a signal to the service's process group. */
export const ServiceSignalRequestSchema = z.object({ op: z.literal('service.signal'), name: ServiceNameSchema, signal: SignalNameSchema });
/**
 * A service's log: `ready {logFile}`, then the last `lines` entries as NDJSON
 * (ServiceLogEntry) on Stdout; with `follow`, every later entry as it comes,
 * until the host closes the channel; otherwise EOF and CLOSE. ENOENT for a name
 * with neither a definition nor a log, unless `allowMissing` (used to watch a
 * service that is about to be created).
 */
export const ServiceLogsRequestSchema = z.object({
  op: z.literal('service.logs'),
  name: ServiceNameSchema,
  lines: z.number().int().min(0).max(10_000).default(100),
  follow: z.boolean().default(false),
  allowMissing: z.boolean().default(false),
});
