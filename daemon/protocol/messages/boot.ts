/**
 * The guest's side of a cold boot's timeline (docs/architecture.md §24): the guest uptime
 * at which each boot step began, as the initramfs, the init and the agent recorded it, and
 * the uptime now, so that the host can place the steps on its own clock. Bounded here; what
 * the numbers mean is checked on the host (core/boot-timeline.ts): the guest may lie.
 */
import * as z from 'zod';

/** Most phases an answer may carry. */
export const MAX_BOOT_PHASES = 32;

export const BootTimelineRequestSchema = z.object({ op: z.literal('boot.timeline') });

export const BootTimelineResultSchema = z.object({
  /** The guest's uptime (ms since its kernel's clock started) when it answered. */
  uptimeMs: z.number(),
  /** Step name and the guest uptime (ms) at which it began, in the order they were recorded. */
  phases: z.array(z.object({ name: z.string().max(32), atMs: z.number() })).max(MAX_BOOT_PHASES),
});
