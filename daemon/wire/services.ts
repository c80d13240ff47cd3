/**
 * Services on the wire, in the Sprites shapes plus hob's fields
 * (daemon/api/routes/services.ts serves them, the CLI reads them).
 *
 * Key order is the order the CLI's `--json` prints parsed objects in (zod puts
 * known keys first, in this order): keep it.
 */
import { z } from 'zod';

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
