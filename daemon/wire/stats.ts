/**
 * Resource stats on the wire (daemon/api/routes/stats.ts serves them, `hob
 * stats` and the dashboard read them): `GET /v1/sandboxes/{name}/stats` (one
 * sandbox, with its history: the last hour at one sample per interval) and
 * `GET /v1/stats` (every running sandbox, every sandbox with `?all=1`;
 * histories with `?history=1`).
 */
import * as z from 'zod';
import { QueryBool } from './request-primitives.js';

/** The guest's own memory figures (from its /proc/meminfo). */
export const GuestMemoryObject = z.looseObject({
  total_bytes: z.number(),
  /** What programs could still get without swapping. */
  available_bytes: z.number(),
  /** total - available. */
  used_bytes: z.number(),
});

/** One sample; a figure that could not be read is null. */
export const StatsSample = z.looseObject({
  /** ISO 8601. */
  at: z.string(),
  /** CPU time of the VMM process on the host since it started, seconds. */
  cpu_seconds: z.number().nullable(),
  /** CPU use since the previous sample, percent of one host core (200 = two busy cores). */
  cpu_percent: z.number().nullable(),
  /** Resident memory of the VMM process on the host. */
  rss_bytes: z.number().nullable(),
  /** The guest's memory as it sees it; null when its agent did not answer (or answered nonsense). */
  guest_memory: GuestMemoryObject.nullable(),
  /** Bytes the sandbox's disk image occupies in the pool. */
  disk_used_bytes: z.number().nullable(),
});
export type StatsSample = z.infer<typeof StatsSample>;

export const SandboxStatsObject = z.looseObject({
  name: z.string(),
  id: z.string(),
  state: z.string(),
  cpus: z.number(),
  memory_mib: z.number(),
  disk_bytes: z.number(),
  /** Seconds between samples. */
  interval_seconds: z.number(),
  /** The newest sample; null when the sandbox is not running or not sampled yet. */
  current: StatsSample.nullable(),
  /** Bytes the disk image occupies in the pool, in any state but creating and destroying (null before the first tick; absent from an older hobd). */
  disk_used_bytes: z.number().nullable().optional(),
  /** Oldest first; empty in `GET /v1/stats` without `history`. */
  history: z.array(StatsSample),
});
export type SandboxStatsObject = z.infer<typeof SandboxStatsObject>;

export const StatsList = z.looseObject({ sandboxes: z.array(SandboxStatsObject) });
export type StatsList = z.infer<typeof StatsList>;

/** `GET /v1/stats?history=1&all=1` (`all`: every sandbox, not only the running ones). */
export const StatsQuery = z.object({ history: QueryBool.optional(), all: QueryBool.optional() });
