/**
 * Services on the wire, in the Sprites shapes plus hob's fields
 * (daemon/api/routes/services.ts serves them, the CLI reads them).
 *
 * Key order is the order the CLI's `--json` prints parsed objects in (zod puts
 * known keys first, in this order): keep it. Then the requests: the service
 * body of PUT, the signal body, the stream, stop and logs queries.
 */
import * as z from 'zod';
import { ServiceNameSchema } from '../protocol/index.js';
import { DurationSchema, QueryBool, signalName } from './request-primitives.js';

export const ServiceStateObject = z.looseObject({
  name: z.string(),
  /** stopped, starting, running, failed, ... (protocol's ServiceState). */
  status: z.string(),
  pid: z.number().optional(),
  /** ISO 8601 (guest clock). */
  started_at: z.string().optional(),
  error: z.string().optional(),
  restart_count: z.number(),
  /** ISO 8601; set while a restart is scheduled (status `failed`). */
  next_restart_at: z.string().optional(),
  /** hob: started at boot; false after an explicit stop. */
  enabled: z.boolean(),
});
export type ServiceStateObject = z.infer<typeof ServiceStateObject>;

/** A service (Sprites' fields, and hob's `user` and `log_file`). */
export const ServiceObject = z.looseObject({
  name: z.string(),
  cmd: z.string(),
  args: z.array(z.string()).default([]),
  env: z.record(z.string(), z.string()),
  dir: z.string().optional(),
  needs: z.array(z.string()).default([]),
  http_port: z.number().optional(),
  /** User the process runs as (default root). */
  user: z.string().optional(),
  /** The log file in the guest. */
  log_file: z.string(),
  state: ServiceStateObject,
});
export type ServiceObject = z.infer<typeof ServiceObject>;

/** One line of the services' NDJSON streams (the SDKs' ServiceLogEvent). */
export const ServiceLogEvent = z.looseObject({
  /** stdout, stderr, started, exit, stopping, stopped, error, complete. */
  type: z.string(),
  data: z.string().optional(),
  exit_code: z.number().optional(),
  /** epoch ms. */
  timestamp: z.number(),
  log_files: z.record(z.string(), z.string()).optional(),
  /** hob, on `complete`: the service at the end of the operation. */
  service: ServiceObject.optional(),
});
export type ServiceLogEvent = z.infer<typeof ServiceLogEvent>;

// ---------------------------------------------------------------- requests

const PortSchema = z.number().int().min(1).max(65535);

/** Body of PUT (Sprites' ServiceRequest, snake_case; `user` is hob's). */
export const ServiceBody = z.object({
  cmd: z.string().min(1, 'cmd is required').max(4096),
  args: z.array(z.string().max(128 * 1024)).max(10_000).optional(),
  env: z.record(z.string(), z.string()).optional(),
  dir: z.string().min(1).max(4096).refine((p) => p.startsWith('/'), 'dir must be an absolute path').optional(),
  needs: z.array(ServiceNameSchema).max(64).optional(),
  http_port: PortSchema.nullable().optional(),
  user: z.string().min(1).max(64).optional(),
});
export type ServiceBody = z.infer<typeof ServiceBody>;

/** Only the signals a service might be sent. */
export const ServiceSignalSchema = signalName(['HUP', 'INT', 'QUIT', 'KILL', 'USR1', 'USR2', 'TERM', 'CONT', 'STOP', 'TSTP', 'WINCH', 'ALRM']);

/** Body of `POST .../services/signal`. */
export const ServiceSignalBody = z.object({ name: ServiceNameSchema, signal: ServiceSignalSchema });

/** Longest time an operation streams log events. */
const MAX_STREAM_MS = 10 * 60_000;

/** Query of PUT, start and restart. */
export const ServiceStreamQuery = z.object({ duration: DurationSchema.pipe(z.number().max(MAX_STREAM_MS, 'duration: at most 10m')).optional() });
/** Query of stop. */
export const ServiceStopQuery = z.object({ timeout: DurationSchema.pipe(z.number().max(600_000, 'timeout: at most 10m')).optional() });
/** Query of logs. */
export const ServiceLogsQuery = z.object({
  lines: z.string().regex(/^\d{1,5}$/, 'lines must be a number').transform(Number).pipe(z.number().int().min(0).max(10_000)).optional(),
  follow: QueryBool.optional(),
  duration: DurationSchema.pipe(z.number().max(24 * 3_600_000, 'duration: at most 24h')).optional(),
});
