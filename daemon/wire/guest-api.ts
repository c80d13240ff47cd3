/**
 * Shapes of the API inside the guest (/.sprite/api.sock, docs/architecture.md
 * §14) that the host API does not already have: Sprites' tasks (keep-awake
 * holds) and the answer to a restore a sandbox asks of itself. The rest of
 * that API answers with the host API's own shapes (wire/sprite.ts,
 * wire/checkpoints.ts, wire/services.ts).
 */
import * as z from 'zod';
import { parseDuration } from './request-primitives.js';

/** Longest task: Sprites' limit, an hour (refresh to hold longer). */
export const MAX_TASK_SECONDS = 3600;

export const TaskNameSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'a task name: letters, digits, ".", "_" and "-", at most 63 characters');

/** `expire`: seconds (a number) or a duration ("30m", "1h"); 1 s to an hour; default an hour. */
export const TaskExpireSchema = z
  .union([z.number(), z.string().max(64)])
  .optional()
  .transform((v, ctx) => {
    if (v === undefined) return MAX_TASK_SECONDS;
    const ms = typeof v === 'number' ? v * 1000 : parseDuration(v);
    if (ms === undefined || !Number.isFinite(ms) || ms < 1000 || ms > MAX_TASK_SECONDS * 1000) {
      ctx.addIssue({ code: 'custom', message: `expire: 1s to ${MAX_TASK_SECONDS / 60}m, as seconds or a duration such as 30m` });
      return z.NEVER;
    }
    return Math.round(ms / 1000);
  });

/** `POST /v1/tasks` and `PUT /v1/tasks`. */
export const TaskCreateBody = z.object({ name: TaskNameSchema, expire: TaskExpireSchema });
/** `PUT /v1/tasks/{name}`. */
export const TaskRefreshBody = z.object({ expire: TaskExpireSchema });

export const TaskObject = z.looseObject({
  name: z.string(),
  /** ISO 8601. */
  started_at: z.string(),
  /** ISO 8601. */
  expires_at: z.string(),
});
export type TaskObject = z.infer<typeof TaskObject>;

export const TaskList = z.looseObject({ tasks: z.array(TaskObject) });
export type TaskList = z.infer<typeof TaskList>;

/** Answer (202) to `POST /v1/checkpoints/{id}/restore` from inside: the restore happens after it. */
export const RestoreScheduled = z.looseObject({
  status: z.literal('scheduled'),
  checkpoint: z.string(),
  message: z.string(),
});
export type RestoreScheduled = z.infer<typeof RestoreScheduled>;
