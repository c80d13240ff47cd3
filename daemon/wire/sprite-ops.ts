/**
 * The rest of the Sprites surface on the wire (docs/architecture.md §20), in the
 * shapes the official SDKs decode: a sprite's health check, restart, the
 * privileges and resources policies, the NDJSON list watch, the port watch
 * websocket, and the control websocket's envelopes. Then their requests.
 */
import * as z from 'zod';
import { PortEventFrame } from './exec.js';

/** `GET .../{name}/check` (JS SDK `checkSprite`). */
export const SpriteCheck = z.looseObject({
  sprite_name: z.string(),
  sprite_id: z.string(),
  /** healthy, unhealthy, stopped, sleeping or busy (core/health.ts). */
  status: z.string(),
  reason: z.string().nullable(),
  checked_at: z.string(),
  /** Milliseconds the check took. */
  elapsed: z.number(),
});
export type SpriteCheck = z.infer<typeof SpriteCheck>;

/** `POST .../{name}/restart` (JS SDK `restartSprite`). */
export const SpriteRestart = z.looseObject({
  sprite_name: z.string(),
  /** hob has no machines apart from the sandbox: its id. */
  machine_id: z.string(),
  message: z.string(),
});
export type SpriteRestart = z.infer<typeof SpriteRestart>;

/**
 * `GET .../{name}/policy/privileges`: fixed in hob. A sandbox is a VM, the
 * boundary is the VM, and inside it processes are unrestricted (root, sudo).
 * The SDK returns this object as it comes, so its keys are the SDK's.
 */
export const PrivilegesPolicy = z.looseObject({
  profile: z.string(),
  devices: z.array(z.string()),
  noNewPrivileges: z.boolean(),
});
export type PrivilegesPolicy = z.infer<typeof PrivilegesPolicy>;

/** The one privileges policy hob has. */
export const HOB_PRIVILEGES: PrivilegesPolicy = { profile: 'privileged', devices: [], noNewPrivileges: false };

/** `POST .../policy/privileges`: the SDK sends its own keys; the API's snake_case is taken too. */
export const PrivilegesPolicyBody = z.strictObject({
  profile: z.enum(['', 'minimal', 'standard', 'privileged']).optional(),
  devices: z.array(z.string().max(256)).max(64).optional(),
  noNewPrivileges: z.boolean().optional(),
  no_new_privileges: z.boolean().optional(),
});
export type PrivilegesPolicyBody = z.infer<typeof PrivilegesPolicyBody>;

/**
 * `GET .../{name}/policy/resources`: the VM's size. `memory.limit_mb` is what the
 * SDK reads; hob adds vCPUs and the disk.
 */
export const ResourcesPolicy = z.looseObject({
  memory: z.looseObject({ limit_mb: z.number(), autoscale: z.boolean() }),
  cpus: z.number(),
  storage_gb: z.number(),
});
export type ResourcesPolicy = z.infer<typeof ResourcesPolicy>;

/** `POST .../policy/resources`: an absent field stays as it is. */
export const ResourcesPolicyBody = z.strictObject({
  memory: z.strictObject({ limit_mb: z.number().int(), autoscale: z.boolean().optional() }).optional(),
  cpus: z.number().int().optional(),
  storage_gb: z.number().int().optional(),
});
export type ResourcesPolicyBody = z.infer<typeof ResourcesPolicyBody>;

/**
 * One line of `GET /v1/sprites` with `Accept: application/x-ndjson` (JS SDK
 * `watchSprites`): first a `snapshot` line per sprite, then an `update` line
 * whenever one's status changes, `deleted` when it goes, `created` for a new one.
 */
export const SpriteListEvent = z.looseObject({
  type: z.enum(['snapshot', 'created', 'update', 'deleted']),
  name: z.string(),
  /** cold, warm or running ("" for deleted). */
  status: z.string(),
  /** hob's state (docs/architecture.md §7). */
  state: z.string(),
  timestamp: z.string(),
  org: z.looseObject({ name: z.string(), running: z.number(), warm: z.number(), cold: z.number() }),
});
export type SpriteListEvent = z.infer<typeof SpriteListEvent>;

/** The query of the list watch: the list's prefix. */
export const WatchSpritesQuery = z.object({
  prefix: z.string().max(63).optional(),
  max_results: z.string().optional(),
});

/** First frame of `WSS .../{name}/ports/watch`: the ports listening now. */
export const PortListFrame = z.looseObject({ type: z.literal('port_list'), ports: z.array(PortEventFrame) });
export type PortListFrame = z.infer<typeof PortListFrame>;

/** A frame of `WSS .../{name}/fs/watch` (the SDK's FilesystemWatchEvent). hob sends only `error`. */
export const FsWatchFrame = z.looseObject({
  type: z.enum(['subscribed', 'event', 'error']),
  message: z.string().optional(),
});
export type FsWatchFrame = z.infer<typeof FsWatchFrame>;

// ---------------------------------------------------------------- control websocket

/** Text frames of the control websocket start with this, then one JSON envelope. */
export const CONTROL_PREFIX = 'control:';

/**
 * `op.start` from the client: run one operation on this connection. Only `exec`;
 * its `args` are the exec websocket's query (wire/exec.ts ExecQuery) as JSON:
 * `{cmd: [...], env?: ["K=V"], dir?, tty?: "true", rows?: "24", cols?: "80", stdin?: "true"}`.
 */
export const ControlOpStart = z.object({
  type: z.literal('op.start'),
  op: z.string().max(64),
  args: z.record(z.string(), z.unknown()).default({}),
});
export type ControlOpStart = z.infer<typeof ControlOpStart>;

/** hob's answers: an operation ended (`op.complete`, with its exit code) or failed to start (`op.error`). */
export const ControlOpEnd = z.union([
  z.object({ type: z.literal('op.complete'), args: z.object({ exitCode: z.number().int() }) }),
  z.object({ type: z.literal('op.error'), args: z.object({ error: z.string() }) }),
]);
export type ControlOpEnd = z.infer<typeof ControlOpEnd>;
