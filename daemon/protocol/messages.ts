/**
 * Control messages of the host <-> guest agent protocol, validated with zod on
 * receipt by both sides.
 *
 * Life of a channel: the host picks a fresh channel id and sends a `request`
 * CONTROL frame on it. The agent answers on the same channel with
 *   - `error` then CLOSE, when the operation failed or is unknown;
 *   - `result` then CLOSE, for a unary operation (stat, list, mkdir, sync, ...);
 *   - `ready`, for a streaming operation (exec, fs.read, fs.write, tunnel,
 *     ports.watch, keep-awake.watch), followed by DATA/EOF frames and
 *     operation-specific messages (`exit`, `port`, `keep_awake`), and finally CLOSE.
 * Either side may send CLOSE at any time to abandon the channel; the agent then
 * releases what the channel holds (kills nothing: an exec keeps running only if
 * it was started detached, which protocol v1 does not offer).
 *
 * Compatibility rule: a newer daemon must work with an agent frozen in an old
 * checkpoint. Fields are only ever added as optional; an agent lists what it can
 * do in `capabilities`, and the daemon checks a capability before using a newer
 * operation. Objects are parsed loosely (unknown keys are ignored) so either side
 * may be newer.
 */
import { z } from 'zod';

/** Protocol versions this build speaks. The agent picks the highest common one. */
export const PROTOCOL_VERSION_MIN = 1;
export const PROTOCOL_VERSION_MAX = 1;

// ---------------------------------------------------------------- handshake

export const HostHelloSchema = z.object({
  role: z.literal('host'),
  minVersion: z.number().int().positive(),
  maxVersion: z.number().int().positive(),
  /**
   * Random token of this handshake attempt, echoed by the agent (since agent 0.1). Lets the
   * host tell the answer to its own HELLO from a stale answer still queued in a
   * virtio-serial buffer from an earlier connection.
   */
  nonce: z.string().max(100).optional(),
});
export type HostHello = z.infer<typeof HostHelloSchema>;

export const AgentHelloSchema = z.object({
  role: z.literal('agent'),
  /** Version chosen by the agent, or null when there is no common version. */
  version: z.number().int().positive().nullable(),
  /** The agent's own release, for logs and `hob info`. */
  agentVersion: z.string().max(100),
  /** Operations and features this agent supports, e.g. "exec", "fs.write", "tunnel". */
  capabilities: z.array(z.string().max(100)).max(200),
  /** Random id chosen at each agent start: changes when the guest rebooted. */
  bootId: z.string().max(100),
  /** Set when version is null. */
  error: z.string().max(1000).optional(),
  /** The HostHello's nonce, echoed; absent from agents that predate it. */
  nonce: z.string().max(100).optional(),
});
export type AgentHello = z.infer<typeof AgentHelloSchema>;

// ---------------------------------------------------------------- requests (host -> agent)

const GuestPath = z.string().min(1).max(4096).refine((p) => p.startsWith('/'), 'path must be absolute').refine((p) => !p.includes('\0'), 'path must not contain NUL');
const FileMode = z.number().int().min(0).max(0o7777);
const TtySize = z.object({ rows: z.number().int().min(1).max(1000), cols: z.number().int().min(1).max(1000) });
const SignalName = z.string().regex(/^SIG[A-Z0-9+-]+$/, 'a signal name such as SIGTERM');

/**
 * A time from the guest, epoch ms: bounded to what a JavaScript Date can hold
 * (+-8.64e15 ms, about 275,000 years either side of 1970), so that turning it
 * into a Date and an ISO string never throws. Every real file or process time
 * is far inside.
 */
export const MAX_GUEST_EPOCH_MS = 8.64e15;
export const GuestEpochMsSchema = z.number().min(-MAX_GUEST_EPOCH_MS).max(MAX_GUEST_EPOCH_MS);

/** Longest file name (Linux NAME_MAX is 255 bytes, so never more UTF-16 units). */
export const MAX_FILE_NAME_LENGTH = 255;
/** Longest path or symlink target (Linux PATH_MAX). */
export const MAX_GUEST_PATH_LENGTH = 4096;

export const ExecRequestSchema = z.object({
  op: z.literal('exec'),
  /** argv[0] is looked up in PATH when it contains no slash. */
  argv: z.array(z.string().max(128 * 1024)).min(1).max(10_000),
  /** Environment; replaces the agent's default environment when given, except that the user's HOME, USER and LOGNAME are kept unless set here. */
  env: z.record(z.string(), z.string()).optional(),
  /** Working directory; default: the user's home directory, or "/". */
  cwd: GuestPath.optional(),
  /** User name or numeric uid to run as; default: the image's default user (/etc/hob/default-user), else root. */
  user: z.string().max(64).optional(),
  /** Run under a PTY of this size; the output then arrives on Stdout only, and stdin is always open. */
  tty: TtySize.optional(),
  /** Whether the host will send stdin; when false the process's stdin is /dev/null. */
  stdin: z.boolean().default(false),
});

export const FsReadRequestSchema = z.object({
  op: z.literal('fs.read'),
  path: GuestPath,
  offset: z.number().int().min(0).optional(),
  length: z.number().int().min(0).optional(),
});

export const FsWriteRequestSchema = z.object({
  op: z.literal('fs.write'),
  path: GuestPath,
  /** Mode of a newly created file; an existing file keeps its mode. */
  mode: FileMode.optional(),
  /** Create missing parent directories. */
  mkdirs: z.boolean().default(false),
});

export const FsStatRequestSchema = z.object({ op: z.literal('fs.stat'), path: GuestPath });
export const FsListRequestSchema = z.object({ op: z.literal('fs.list'), path: GuestPath });
export const FsMkdirRequestSchema = z.object({ op: z.literal('fs.mkdir'), path: GuestPath, recursive: z.boolean().default(false), mode: FileMode.optional() });
export const FsRenameRequestSchema = z.object({ op: z.literal('fs.rename'), from: GuestPath, to: GuestPath });
export const FsRemoveRequestSchema = z.object({ op: z.literal('fs.remove'), path: GuestPath, recursive: z.boolean().default(false) });
export const FsChmodRequestSchema = z.object({ op: z.literal('fs.chmod'), path: GuestPath, mode: FileMode });

export const TunnelRequestSchema = z.object({
  op: z.literal('tunnel'),
  port: z.number().int().min(1).max(65535),
  /** Address to dial inside the guest; default 127.0.0.1. */
  host: z.string().max(255).default('127.0.0.1'),
});

export const SyncRequestSchema = z.object({ op: z.literal('sync') });
export const FreezeRequestSchema = z.object({
  op: z.literal('fs.freeze'),
  /** The agent thaws by itself after this long, in case the host never says thaw. */
  autoThawMs: z.number().int().min(100).max(600_000).default(30_000),
});
export const ThawRequestSchema = z.object({ op: z.literal('fs.thaw') });
export const PortsWatchRequestSchema = z.object({ op: z.literal('ports.watch') });
export const ClockSetRequestSchema = z.object({ op: z.literal('clock.set'), epochMs: z.number().int().positive() });
export const PingRequestSchema = z.object({ op: z.literal('ping') });
export const ShutdownRequestSchema = z.object({ op: z.literal('shutdown'), reboot: z.boolean().default(false) });

// ---------------------------------------------------------------- keep-awake holds from inside the guest
//
// A program in the guest asks the agent to keep the sandbox awake (the
// `hob-keep-awake` command, through the agent's unix socket
// /run/hob/keep-awake.sock). The host learns of it on a `keep-awake.watch`
// channel it keeps open for as long as it is connected: the agent answers
// `ready {pending}` and then sends a `keep_awake` message for each hold taken
// or released in the guest, until the host closes the channel. A change made
// while no host watched is kept (only the latest) and handed over as `pending`
// to the next watch. The host turns each change into the sandbox's keep-awake
// hold, the same one `hob keep-awake` sets (one hold per sandbox: the last
// change wins, from either side).

/** Longest hold, in seconds (a week); the same bound as `hob keep-awake`. */
export const MAX_KEEP_AWAKE_SECONDS = 7 * 86_400;

/** A hold taken (`seconds` from when the host receives it) or released (`seconds` null). */
export const KeepAwakeChangeSchema = z.object({
  seconds: z.number().int().min(1).max(MAX_KEEP_AWAKE_SECONDS).nullable(),
});
export type KeepAwakeChange = z.infer<typeof KeepAwakeChangeSchema>;

export const KeepAwakeWatchRequestSchema = z.object({ op: z.literal('keep-awake.watch') });

// ---------------------------------------------------------------- services (capability "services")
//
// Supervised processes inside the guest, in the Sprites services shape. The
// agent keeps each definition in /etc/hob/services/<name>.json and its output
// in /var/log/hob/services/<name>.log, restarts a process that exits on its own
// (backoff 1 s doubling to 60 s, reset after 60 s of uptime) and starts every
// enabled service again, in `needs` order, when the agent starts (cold boot).
// Failure codes on these ops: ENOENT unknown service, EINVAL a bad definition
// (unknown or cyclic `needs`), EBUSY a conflict (another service has the HTTP
// port; the service is still needed by another), ESRCH signal to a service
// that is not running.

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
  dir: GuestPath.optional(),
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
export const ServiceSignalRequestSchema = z.object({ op: z.literal('service.signal'), name: ServiceNameSchema, signal: SignalName });
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

export const RequestSchema = z.discriminatedUnion('op', [
  ExecRequestSchema,
  FsReadRequestSchema,
  FsWriteRequestSchema,
  FsStatRequestSchema,
  FsListRequestSchema,
  FsMkdirRequestSchema,
  FsRenameRequestSchema,
  FsRemoveRequestSchema,
  FsChmodRequestSchema,
  TunnelRequestSchema,
  SyncRequestSchema,
  FreezeRequestSchema,
  ThawRequestSchema,
  PortsWatchRequestSchema,
  ClockSetRequestSchema,
  PingRequestSchema,
  ShutdownRequestSchema,
  KeepAwakeWatchRequestSchema,
  ServiceListRequestSchema,
  ServiceGetRequestSchema,
  ServicePutRequestSchema,
  ServiceDeleteRequestSchema,
  ServiceStartRequestSchema,
  ServiceStopRequestSchema,
  ServiceSignalRequestSchema,
  ServiceLogsRequestSchema,
]);
export type Request = z.infer<typeof RequestSchema>;
/** Input form of a request (defaults not yet applied), as the host writes it. */
export type RequestInput = z.input<typeof RequestSchema>;
export type Op = Request['op'];
export type RequestOf<O extends Op> = Extract<Request, { op: O }>;
export type RequestInputOf<O extends Op> = Extract<RequestInput, { op: O }>;

// ---------------------------------------------------------------- results (agent -> host)

/**
 * The name of one directory entry: a single path component, as readdir gives
 * it. Names are joined to the listed directory's path by the host, so a name
 * with "/", NUL, or "." / ".." would make the host talk about another file.
 */
export const DirEntryNameSchema = z
  .string()
  .min(1)
  .max(MAX_FILE_NAME_LENGTH)
  .refine((n) => !n.includes('/') && !n.includes('\0'), 'an entry name must not contain "/" or NUL')
  .refine((n) => n !== '.' && n !== '..', 'an entry name must not be "." or ".."');

export const FileTypeSchema = z.enum(['file', 'directory', 'symlink', 'other']);
export const FileStatSchema = z.object({
  /** The last path component ("/" for the root). */
  name: z.string().max(MAX_FILE_NAME_LENGTH),
  type: FileTypeSchema,
  size: z.number().int().min(0),
  /** Permission bits only (the type is `type`). */
  mode: FileMode,
  uid: z.number().int().min(0).max(0xffff_ffff),
  gid: z.number().int().min(0).max(0xffff_ffff),
  mtimeMs: GuestEpochMsSchema,
  /** Target of a symlink. */
  linkTarget: z.string().max(MAX_GUEST_PATH_LENGTH).optional(),
});
export type FileStat = z.infer<typeof FileStatSchema>;
/** One entry of an fs.list answer: a FileStat whose name is a valid single component. */
export const DirEntrySchema = FileStatSchema.extend({ name: DirEntryNameSchema });

export const ExecReadySchema = z.object({ pid: z.number().int().positive() });
export const FsReadReadySchema = z.object({ size: z.number().int().min(0) });
export const PortInfoSchema = z.object({
  port: z.number().int().min(1).max(65535),
  /** Listening address as the guest kernel reports it: "0.0.0.0", "127.0.0.1", "::", ... */
  address: z.string().max(64),
  family: z.enum(['ipv4', 'ipv6']),
});
export type PortInfo = z.infer<typeof PortInfoSchema>;

/** Result schemas per unary op; streaming ops' `ready` payloads are listed in ReadySchemas. */
export const ResultSchemas = {
  'fs.stat': FileStatSchema,
  'fs.list': z.object({ entries: z.array(DirEntrySchema) }),
  'fs.mkdir': z.object({}),
  'fs.rename': z.object({}),
  'fs.remove': z.object({}),
  'fs.chmod': z.object({}),
  'fs.write': z.object({ size: z.number().int().min(0) }),
  sync: z.object({}),
  'fs.freeze': z.object({}),
  'fs.thaw': z.object({}),
  'clock.set': z.object({ previousEpochMs: z.number() }),
  ping: z.object({ uptimeMs: z.number() }),
  shutdown: z.object({}),
  'service.list': z.object({ services: z.array(ServiceInfoSchema) }),
  'service.get': ServiceInfoSchema,
  'service.put': ServiceInfoSchema,
  'service.delete': z.object({}),
  'service.start': ServiceInfoSchema,
  'service.stop': ServiceInfoSchema,
  'service.signal': z.object({}),
} as const;
export type UnaryOp = keyof typeof ResultSchemas;
export type ResultOf<O extends UnaryOp> = z.infer<(typeof ResultSchemas)[O]>;

export const ReadySchemas = {
  exec: ExecReadySchema,
  'fs.read': FsReadReadySchema,
  'fs.write': z.object({}),
  tunnel: z.object({}),
  'ports.watch': z.object({ ports: z.array(PortInfoSchema) }),
  'service.logs': z.object({ logFile: z.string().max(4096) }),
  /** The change made in the guest while no host watched (a hold's `seconds` counted from now), or null. */
  'keep-awake.watch': z.object({ pending: KeepAwakeChangeSchema.nullable() }),
} as const;
export type StreamingOp = keyof typeof ReadySchemas;
export type ReadyOf<O extends StreamingOp> = z.infer<(typeof ReadySchemas)[O]>;

// ---------------------------------------------------------------- in-channel messages

/** Every CONTROL message after the request, in either direction. */
export const ChannelMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('request'), request: z.unknown() }),
  /** Streaming op accepted; payload per ReadySchemas. */
  z.object({ type: z.literal('ready'), value: z.unknown() }),
  /** Unary op succeeded (payload per ResultSchemas), or a fs.write finished after the host's EOF. */
  z.object({ type: z.literal('result'), value: z.unknown() }),
  /** The operation failed. `code` is an errno name (ENOENT, EACCES, ...) or a protocol code (EBADREQ, ENOTSUP, ...). */
  z.object({ type: z.literal('error'), code: z.string().max(64), message: z.string().max(4096) }),
  /** Host -> agent: new PTY size for a tty exec. */
  z.object({ type: z.literal('resize'), rows: z.number().int().min(1).max(1000), cols: z.number().int().min(1).max(1000) }),
  /** Host -> agent: send a signal to an exec'd process (its process group for a tty). */
  z.object({ type: z.literal('signal'), signal: SignalName }),
  /** Agent -> host: the exec'd process ended; exactly one of code/signal is non-null. Sent after its output's EOFs. */
  z.object({ type: z.literal('exit'), code: z.number().int().nullable(), signal: z.string().max(32).nullable() }),
  /** Agent -> host on a ports.watch channel. */
  z.object({ type: z.literal('port'), event: z.enum(['opened', 'closed']), port: PortInfoSchema }),
  /** Agent -> host on a keep-awake.watch channel: a hold taken or released in the guest (KeepAwakeChange). */
  z.object({ type: z.literal('keep_awake'), seconds: KeepAwakeChangeSchema.shape.seconds }),
]);
export type ChannelMessage = z.infer<typeof ChannelMessageSchema>;
