/**
 * zod schemas of every request body, query and path parameter the API accepts.
 *
 * Bodies are parsed loosely (unknown keys are dropped, not refused): Sprites
 * SDKs send fields hob ignores (`wait_for_capacity`, `runtime`, `region`,
 * `asRoot`, ...), and a newer SDK may add more.
 */
import { posix } from 'node:path';
import { z } from 'zod';
import { ExecUser } from '../wire/exec-user.js';
import { ImageNameSchema, SandboxNameSchema } from '../core/names.js';
import { idSchema } from '../db/ids.js';

// ---------------------------------------------------------------- primitives

export { SandboxNameSchema };

/** A boolean in a query string: true/false/1/0 (any case). An empty value counts as true (`?tty`). */
export const QueryBool = z
  .string()
  .regex(/^(true|false|1|0|)$/i, 'must be true or false')
  .transform((v) => v === '' || v.toLowerCase() === 'true' || v === '1');

/** A non-negative integer in a query string. */
const QueryInt = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d{1,9}$/, 'must be an integer')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));

const DURATION_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Parses a Go-style duration ("10s", "1m30s", "250ms", "0") or a plain number
 * of seconds ("10", "1.5") into milliseconds. Undefined when it is neither.
 */
export function parseDuration(text: string): number | undefined {
  const t = text.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Math.round(Number(t) * 1000);
  if (!/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(t)) return undefined;
  let total = 0;
  for (const m of t.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) total += Number(m[1]) * (DURATION_UNITS[m[2] ?? ''] ?? NaN);
  return Number.isFinite(total) ? Math.round(total) : undefined;
}

/** Longest duration hob accepts anywhere (30 days), so timers stay in range. */
export const MAX_DURATION_MS = 30 * 24 * 3_600_000;

export const DurationSchema = z
  .string()
  .max(64)
  .transform((v, ctx) => {
    const ms = parseDuration(v);
    if (ms === undefined || ms > MAX_DURATION_MS) {
      ctx.addIssue({ code: 'custom', message: 'must be a duration such as 10s, 5m or 1h30m (at most 30 days)' });
      return z.NEVER;
    }
    return ms;
  });

/** A path inside the guest as a client writes it: absolute, or relative to a working directory. */
const GuestPathText = z
  .string()
  .min(1, 'path is required')
  .max(4096)
  .refine((p) => !p.includes('\0'), 'path must not contain NUL');

const AbsoluteGuestPath = GuestPathText.refine((p) => p.startsWith('/'), 'must be an absolute path');

/** Resolves a client path against a working directory into a normalized absolute guest path. */
export function resolveGuestPath(path: string, workingDir: string | undefined): string {
  return posix.resolve(workingDir ?? '/', path);
}

/** A file mode: an octal string ("0644", "755") as the Sprites SDKs send it, or a number (the mode's value). */
export const FileModeSchema = z.union([
  z
    .string()
    .regex(/^0?[0-7]{1,4}$/, 'must be an octal mode such as 0644')
    .transform((v) => parseInt(v, 8)),
  z.number().int().min(0).max(0o7777),
]);

/** Formats a mode as Sprites does: four octal digits of the permission bits. */
export function formatMode(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}

/** Environment variable names as POSIX shells accept them. */
const EnvName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,255}$/, 'environment variable names are letters, digits and _');
const EnvMap = z
  .record(EnvName, z.string().max(32 * 1024).refine((v) => !v.includes('\0'), 'must not contain NUL'))
  .refine((env) => Object.keys(env).length <= 256, 'at most 256 environment variables');

/** A label: printable text without commas (Sprites labels are free-form tags). */
const Label = z.string().min(1).max(128).regex(/^[^\x00-\x1f\x7f,]+$/, 'labels are printable text without commas');
const Labels = z.array(Label).max(64);

const UrlSettings = z.object({
  /** "sprite" (private: needs a token) or "public". */
  auth: z.enum(['sprite', 'public']).optional(),
  /** Sprites' org-level access; accepted and ignored (hob has one user). */
  private_access: z.string().max(32).optional(),
});

/** Sprites' `url_settings.auth` to hob's UrlAuth. */
export function urlAuthFromSprites(auth: 'sprite' | 'public'): 'private' | 'public' {
  return auth === 'public' ? 'public' : 'private';
}

/**
 * A checkpoint reference: the user-facing id "vN" (N from 1, at most 9 digits), or the
 * checkpoint's internal uid (db/ids.ts alphabet: a lowercase letter, then lowercase letters
 * or digits; 8 to 32 characters).
 */
export const CheckpointRefSchema = z
  .string()
  .regex(/^(v[1-9][0-9]{0,8}|[a-z][a-z0-9]{7,31})$/, 'must be a checkpoint id such as v3');

/** `"SRC:vN"`: checkpoint vN (or a uid) of sandbox SRC, parsed into `{sandbox, checkpoint}`. */
export const CheckpointSourceSchema = z
  .string()
  .max(128)
  .regex(/^[^:]+:[^:]+$/, 'must be SANDBOX:CHECKPOINT, e.g. dev:v3')
  .transform((v) => {
    const colon = v.indexOf(':');
    return { sandbox: v.slice(0, colon), checkpoint: v.slice(colon + 1) };
  })
  .pipe(z.object({ sandbox: SandboxNameSchema, checkpoint: CheckpointRefSchema }));

// ---------------------------------------------------------------- sandboxes

/** An idle time in whole seconds: 0 turns the step off, at most 30 days (core/idle.ts). */
const IdleSeconds = z.number().int().min(0).max(30 * 86_400);

/**
 * `idle` of `PUT /{name}` (hob extension): per-sandbox idle times. A key left out
 * follows hobd's configured default (docs/architecture.md §7: 30 s to paused, 30 min to hibernated).
 */
export const IdleBody = z.object({
  /** Running → paused (warm) after this many idle seconds; 0 = never. */
  pause_after_seconds: IdleSeconds.optional(),
  /** → hibernated (memory on disk, no VMM process) after this many idle seconds; 0 = never. */
  hibernate_after_seconds: IdleSeconds.optional(),
});

/** `auto_checkpoint` of `PUT /{name}` (hob extension): a checkpoint every `interval_minutes` while running. */
export const AutoCheckpointBody = z.object({
  /** 1 to 10080 (a week). */
  interval_minutes: z.number().int().min(1).max(10_080),
  /** Automatic checkpoints kept (the oldest are deleted beyond it), 1 to 100. */
  keep: z.number().int().min(1).max(100),
});

export const CreateSandboxBody = z.object({
  name: SandboxNameSchema,
  url_settings: UrlSettings.optional(),
  labels: Labels.optional(),
  config: z
    .object({
      ram_mb: z.number().int().min(128).max(1024 * 1024).optional(),
      cpus: z.number().int().min(1).max(256).optional(),
      storage_gb: z.number().int().min(1).max(64 * 1024).optional(),
      /** Accepted and ignored: hob has one region, this box. */
      region: z.string().max(64).optional(),
    })
    .optional(),
  environment: EnvMap.optional(),
  /** hob extension: the image to create from (default: the configured default image). */
  image: ImageNameSchema.optional(),
  /**
   * hob extension: start from a checkpoint of another sandbox, `"SRC:vN"` (as `hob create NEW --from SRC:vN`).
   * Parsed into `{sandbox, checkpoint}`. Mutually exclusive with `image`.
   */
  from: CheckpointSourceSchema.optional(),
}).refine((b) => b.image === undefined || b.from === undefined, { message: 'give image or from, not both', path: ['from'] });
export type CreateSandboxBody = z.infer<typeof CreateSandboxBody>;

export const UpdateSandboxBody = z.object({
  url_settings: UrlSettings.optional(),
  labels: Labels.optional(),
  /** Removes every label (Sprites' way to say "labels: []" through SDKs that drop empty arrays). */
  clear_labels: z.boolean().optional(),
  /** hob extension: automatic checkpoints while the sandbox runs; null turns them off. */
  auto_checkpoint: AutoCheckpointBody.nullable().optional(),
  /** hob extension: this sandbox's idle times (seconds, 0 = never); null (or `{}`) follows hobd's defaults. */
  idle: IdleBody.nullable().optional(),
});
export type UpdateSandboxBody = z.infer<typeof UpdateSandboxBody>;

/** Body of `POST .../sleep` (hob extension; an empty body is `{}`). */
export const SleepBody = z.object({
  /** Save the memory to disk and end the VMM process (cold sleep) instead of only pausing it (warm). */
  hibernate: z.boolean().optional(),
});

/** Longest keep-awake hold: a week (core/manager.ts refuses more). */
export const MAX_KEEP_AWAKE_SECONDS = 7 * 86_400;

/** Body of `POST .../keep-awake` (hob extension). */
export const KeepAwakeBody = z.object({
  /** How long from now the sandbox is held awake, in whole seconds (1 to a week). */
  seconds: z.number().int().min(1).max(MAX_KEEP_AWAKE_SECONDS),
});

export const ListSandboxesQuery = z.object({
  prefix: z.string().max(63).optional(),
  max_results: QueryInt(1, 50).default(50),
  continuation_token: z.string().max(256).optional(),
  /** Accepted and ignored (hob always returns full objects). */
  bulk_load: QueryBool.optional(),
});

// ---------------------------------------------------------------- exec

const Argv = z.array(z.string().max(128 * 1024).refine((a) => !a.includes('\0'), 'arguments must not contain NUL')).max(10_000);
const EnvPair = z
  .string()
  .max(32 * 1024)
  .regex(/^[A-Za-z_][A-Za-z0-9_]*=[^\0]*$/s, 'env entries are KEY=VALUE');

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
  signal: z
    .string()
    .max(16)
    .default('TERM')
    .transform((v, ctx) => {
      const upper = v.trim().toUpperCase();
      const bare = upper.startsWith('SIG') ? upper.slice(3) : upper;
      if (!['INT', 'TERM', 'HUP', 'KILL', 'QUIT', 'USR1', 'USR2'].includes(bare)) {
        ctx.addIssue({ code: 'custom', message: 'signal must be one of INT TERM HUP KILL QUIT USR1 USR2' });
        return z.NEVER;
      }
      return `SIG${bare}`;
    }),
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

// ---------------------------------------------------------------- filesystem

const WorkingDir = AbsoluteGuestPath.optional();

export const FsPathQuery = z.object({ path: GuestPathText, workingDir: WorkingDir });

export const FsWriteQuery = z.object({
  path: GuestPathText,
  workingDir: WorkingDir,
  mode: FileModeSchema.optional(),
  mkdirParents: QueryBool.optional(),
  /** The Sprites docs' name for mkdirParents. */
  mkdir: QueryBool.optional(),
});

export const FsDeleteQuery = z.object({
  path: GuestPathText,
  workingDir: WorkingDir,
  recursive: QueryBool.default(false),
});

export const FsRenameBody = z.object({ source: GuestPathText, dest: GuestPathText, workingDir: WorkingDir });

export const FsChmodBody = z.object({ path: GuestPathText, workingDir: WorkingDir, mode: FileModeSchema });

// ---------------------------------------------------------------- checkpoints, fork, diff

/** Body of `POST .../checkpoint` (an empty body is `{}`). */
export const CheckpointBody = z.object({
  /** Free text, at most 1024 characters. */
  comment: z
    .string()
    .max(1024)
    .refine((c) => !c.includes('\0'), 'must not contain NUL')
    .optional(),
  /** hob extension: also save the VM's memory (a live checkpoint); needs a running sandbox. */
  memory: z.boolean().optional(),
});

/** Query of `GET .../checkpoints`. */
export const ListCheckpointsQuery = z.object({
  /** Also list the automatic checkpoints (Sprites' name). */
  includeAuto: QueryBool.optional(),
  /** Same as includeAuto. */
  include_auto: QueryBool.optional(),
  /** Sprites' history filter: accepted and ignored (hob checkpoints have no history chain). */
  history: z.string().max(64).optional(),
});

/** Body of `POST .../fork`. */
export const ForkBody = z.object({
  /** Name of the new sandbox. */
  name: SandboxNameSchema,
  /** Checkpoint of the source to fork from; default: its current state. */
  from: CheckpointRefSchema.optional(),
});

/** An absolute guest path as the diff takes it, normalized (no `..`, no trailing slash). */
const DiffPath = AbsoluteGuestPath.transform((p) => posix.resolve('/', p));

/** Query of `GET .../diff`. */
export const DiffQuery = z
  .object({
    /** Older state: a checkpoint. */
    from: CheckpointRefSchema,
    /** Newer state: a checkpoint, or "current" (the default) for the sandbox's disk now. */
    to: z.union([z.literal('current'), CheckpointRefSchema]).optional(),
    /** Only paths at or under this one. */
    path: DiffPath.optional(),
    /** Instead of the list of changes: the unified text diff of this one file. */
    file: DiffPath.optional(),
  })
  .refine((q) => q.path === undefined || q.file === undefined, { message: 'give path or file, not both', path: ['file'] });

// ---------------------------------------------------------------- tokens

export const CreateTokenBody = z.object({
  /** What the token is for, shown in listings. */
  name: z.string().min(1).max(64).regex(/^[^\x00-\x1f\x7f]+$/, 'a name is printable text'),
});

/** Token ids are database ids (db/ids.ts). */
export const TokenIdSchema = idSchema;

// ---------------------------------------------------------------- helpers

/**
 * Turns URLSearchParams into a plain object for a zod schema: keys listed in
 * `arrays` become arrays of every value, other keys keep their first value.
 */
export function queryObject(params: URLSearchParams, arrays: readonly string[] = []): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const key of new Set(params.keys())) {
    out[key] = arrays.includes(key) ? params.getAll(key) : (params.get(key) ?? '');
  }
  return out;
}
