/**
 * Control messages of the host <-> guest agent protocol, validated with zod on
 * receipt by both sides.
 *
 * Life of a channel: the host picks a fresh channel id and sends a `request`
 * CONTROL frame on it. The agent answers on the same channel with
 *   - `error` then CLOSE, when the operation failed or is unknown;
 *   - `result` then CLOSE, for a unary operation (stat, list, mkdir, sync, ...);
 *   - `ready`, for a streaming operation (exec, fs.read, fs.write, tunnel,
 *     ports.watch, keep-awake.watch, guest-api.serve), followed by DATA/EOF
 *     frames and operation-specific messages (`exit`, `port`, `keep_awake`,
 *     `api_request`/`api_response`), and finally CLOSE.
 * Either side may send CLOSE at any time to abandon the channel; the agent then
 * releases what the channel holds (kills nothing: an exec keeps running only if
 * it was started detached, which protocol v1 does not offer).
 *
 * Compatibility rule: a newer daemon must work with an agent frozen in an old
 * checkpoint. Fields are only ever added as optional; an agent lists what it can
 * do in `capabilities`, and the daemon checks a capability before using a newer
 * operation. Objects are parsed loosely (unknown keys are ignored) so either side
 * may be newer.
 *
 * This file is the envelope: the union of requests, the answer each op gets and
 * the messages inside a channel. The schemas of each area are in messages/.
 */
import * as z from 'zod';
import { BootTimelineRequestSchema, BootTimelineResultSchema } from './messages/boot.js';
import { ExecReadySchema, ExecRequestSchema } from './messages/exec.js';
import {
  DirEntrySchema,
  FileStatSchema,
  FsChmodRequestSchema,
  FsListRequestSchema,
  FsMkdirRequestSchema,
  FsReadReadySchema,
  FsReadRequestSchema,
  FsRemoveRequestSchema,
  FsRenameRequestSchema,
  FsStatRequestSchema,
  FsWriteRequestSchema,
} from './messages/files.js';
import { GuestApiRequestMessageSchema, GuestApiResponseMessageSchema, GuestApiServeRequestSchema } from './messages/guest-api.js';
import { KeepAwakeChangeSchema, KeepAwakeWatchRequestSchema } from './messages/keep-awake.js';
import { ClockSetRequestSchema, FreezeRequestSchema, PingRequestSchema, ShutdownRequestSchema, SyncRequestSchema, ThawRequestSchema } from './messages/lifecycle.js';
import { PortInfoSchema, PortsWatchRequestSchema, TunnelRequestSchema } from './messages/ports.js';
import { RandomReseedRequestSchema, RandomReseedResultSchema } from './messages/random.js';
import { IdentitySetRequestSchema, IdentitySetResultSchema } from './messages/identity.js';
import {
  ServiceDeleteRequestSchema,
  ServiceGetRequestSchema,
  ServiceInfoSchema,
  ServiceListRequestSchema,
  ServiceLogsRequestSchema,
  ServicePutRequestSchema,
  ServiceSignalRequestSchema,
  ServiceStartRequestSchema,
  ServiceStopRequestSchema,
} from './messages/services.js';
import { SecretsConfigureRequestSchema } from './messages/secrets.js';
import { SignalNameSchema } from './messages/values.js';

// ---------------------------------------------------------------- requests (host -> agent)

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
  SecretsConfigureRequestSchema,
  GuestApiServeRequestSchema,
  RandomReseedRequestSchema,
  BootTimelineRequestSchema,
  IdentitySetRequestSchema,
]);
export type Request = z.infer<typeof RequestSchema>;
/** Input form of a request (defaults not yet applied), as the host writes it. */
export type RequestInput = z.input<typeof RequestSchema>;
export type Op = Request['op'];
export type RequestOf<O extends Op> = Extract<Request, { op: O }>;
export type RequestInputOf<O extends Op> = Extract<RequestInput, { op: O }>;

// ---------------------------------------------------------------- results (agent -> host)

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
  'secrets.configure': z.object({}),
  ping: z.object({ uptimeMs: z.number() }),
  shutdown: z.object({}),
  'service.list': z.object({ services: z.array(ServiceInfoSchema) }),
  'service.get': ServiceInfoSchema,
  'service.put': ServiceInfoSchema,
  'service.delete': z.object({}),
  'service.start': ServiceInfoSchema,
  'service.stop': ServiceInfoSchema,
  'service.signal': z.object({}),
  'random.reseed': RandomReseedResultSchema,
  'boot.timeline': BootTimelineResultSchema,
  'identity.set': IdentitySetResultSchema,
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
  'guest-api.serve': z.object({}),
} as const;
export type StreamingOp = keyof typeof ReadySchemas;
export type ReadyOf<O extends StreamingOp> = z.infer<(typeof ReadySchemas)[O]>;

// ---------------------------------------------------------------- in-channel messages

/** Every CONTROL message after the request, in either direction. */
/**
 * The `error` code an agent answers a request with on a connection that has no
 * handshake: nothing ran. The host drops the connection and reconnects.
 */
export const NO_SESSION_ERROR_CODE = 'EPROTO';

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
  z.object({ type: z.literal('signal'), signal: SignalNameSchema }),
  /** Agent -> host: the exec'd process ended; exactly one of code/signal is non-null. Sent after its output's EOFs. */
  z.object({ type: z.literal('exit'), code: z.number().int().nullable(), signal: z.string().max(32).nullable() }),
  /** Agent -> host on a ports.watch channel. */
  z.object({ type: z.literal('port'), event: z.enum(['opened', 'closed']), port: PortInfoSchema }),
  /** Agent -> host on a keep-awake.watch channel: a hold taken or released in the guest (KeepAwakeChange). */
  z.object({ type: z.literal('keep_awake'), seconds: KeepAwakeChangeSchema.shape.seconds }),
  /** On a guest-api.serve channel: a request from the guest (agent -> host) and its answer (host -> agent). */
  GuestApiRequestMessageSchema,
  GuestApiResponseMessageSchema,
]);
export type ChannelMessage = z.infer<typeof ChannelMessageSchema>;
