/**
 * Resource stats (hob extension; shapes in daemon/wire/stats.ts, sampling in core/stats.ts):
 *
 * - `GET /v1/stats[?history=1][&all=1]` → `{sandboxes: [...]}`, every running sandbox (every sandbox with `all`).
 * - `GET /v1/sandboxes/{name}/stats` (and under /v1/sprites) → one sandbox with its last hour.
 *
 * Failures: 400 bad query or name, 404 unknown sandbox.
 */
import { Hono } from 'hono';
import type { SandboxStats, StatsSample as CoreSample, StatsService } from '../../core/stats.js';
import { queryObject } from '../../wire/request-primitives.js';
import { StatsQuery, type SandboxStatsObject, type StatsSample } from '../../wire/stats.js';
import type { ApiEnv } from '../context.js';
import { parseInput } from '../validate.js';
import { nameParam } from './sandboxes.js';

function toSample(s: CoreSample): StatsSample {
  const m = s.guestMemory;
  return {
    at: new Date(s.at).toISOString(),
    cpu_seconds: s.cpuSeconds,
    cpu_percent: s.cpuPercent,
    rss_bytes: s.rssBytes,
    guest_memory: m ? { total_bytes: m.totalBytes, available_bytes: m.availableBytes, used_bytes: m.usedBytes } : null,
    disk_used_bytes: s.diskUsedBytes,
  };
}

export function toStatsObject(s: SandboxStats, intervalMs: number): SandboxStatsObject {
  return {
    name: s.name,
    id: s.id,
    state: s.state,
    cpus: s.cpus,
    memory_mib: s.memoryMiB,
    disk_bytes: s.diskBytes,
    interval_seconds: intervalMs / 1000,
    current: s.current ? toSample(s.current) : null,
    disk_used_bytes: s.diskUsedBytes,
    history: s.history.map(toSample),
  };
}

/** `GET /v1/stats`. */
export function statsRoutes(stats: StatsService): Hono<ApiEnv> {
  const router = new Hono<ApiEnv>();
  router.get('/', (c) => {
    const q = parseInput(StatsQuery, queryObject(new URL(c.req.url).searchParams), 'query');
    return c.json({ sandboxes: stats.running({ history: q.history ?? false, all: q.all ?? false }).map((s) => toStatsObject(s, stats.intervalMs)) });
  });
  return router;
}

/** `GET /{name}/stats`, mounted with the sandbox routes. */
export function sandboxStatsRoutes(stats: StatsService): Hono<ApiEnv> {
  const router = new Hono<ApiEnv>();
  router.get('/:name/stats', (c) => c.json(toStatsObject(stats.sandbox(nameParam(c.req.param('name'))), stats.intervalMs)));
  return router;
}
