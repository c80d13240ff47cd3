/**
 * Keep-awake holds from inside the guest (`keep-awake.watch`).
 *
 * A program in the guest asks the agent to keep the sandbox awake (the
 * `hob-keep-awake` command, through the agent's unix socket
 * /run/hob/keep-awake.sock). The host learns of it on a `keep-awake.watch`
 * channel it keeps open for as long as it is connected: the agent answers
 * `ready {pending}` and then sends a `keep_awake` message for each hold taken
 * or released in the guest, until the host closes the channel. A change made
 * while no host watched is kept (only the latest) and handed over as `pending`
 * to the next watch. The host turns each change into the sandbox's keep-awake
 * hold, the same one `hob keep-awake` sets (one hold per sandbox: the last
 * change wins, from either side).
 */
import * as z from 'zod';

/** Longest hold, in seconds (a week); the same bound as `hob keep-awake`. */
export const MAX_KEEP_AWAKE_SECONDS = 7 * 86_400;

/** A hold taken (`seconds` from when the host receives it) or released (`seconds` null). */
export const KeepAwakeChangeSchema = z.object({
  seconds: z.number().int().min(1).max(MAX_KEEP_AWAKE_SECONDS).nullable(),
});
export type KeepAwakeChange = z.infer<typeof KeepAwakeChangeSchema>;

export const KeepAwakeWatchRequestSchema = z.object({ op: z.literal('keep-awake.watch') });
