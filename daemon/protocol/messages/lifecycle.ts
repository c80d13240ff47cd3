/** The guest as a whole: flushing and freezing its filesystems, its clock, a liveness check and power off. */
import * as z from 'zod';

export const SyncRequestSchema = z.object({ op: z.literal('sync') });
export const FreezeRequestSchema = z.object({
  op: z.literal('fs.freeze'),
  /** The agent thaws by itself after this long, in case the host never says thaw. */
  autoThawMs: z.number().int().min(100).max(600_000).default(30_000),
});
export const ThawRequestSchema = z.object({ op: z.literal('fs.thaw') });
export const ClockSetRequestSchema = z.object({ op: z.literal('clock.set'), epochMs: z.number().int().positive() });
export const PingRequestSchema = z.object({ op: z.literal('ping') });
export const ShutdownRequestSchema = z.object({ op: z.literal('shutdown'), reboot: z.boolean().default(false) });
