/**
 * `GET /v1/host` (hob extension; shape in daemon/wire/host.ts, figures in daemon/host/):
 * CPU, memory, the pool, the VMM driver and why, doctor's local checks. Not for scoped
 * tokens (api/scope.ts denies every route it does not list): an agent's token has no
 * business with the host.
 */
import { Hono } from 'hono';
import type { HostInfoService } from '../../host/info.js';
import type { HostObject } from '../../wire/host.js';
import type { ApiEnv } from '../context.js';

export function hostRoutes(host: HostInfoService): Hono<ApiEnv> {
  const router = new Hono<ApiEnv>();
  router.get('/', async (c) => {
    const h = await host.info();
    const body: HostObject = {
      cpu: { count: h.cpu.count, load: [...h.cpu.load], busy_percent: h.cpu.busyPercent },
      memory: { total_bytes: h.memory.totalBytes, available_bytes: h.memory.availableBytes },
      pool: { size_bytes: h.pool.sizeBytes, free_bytes: h.pool.freeBytes, used_bytes: Math.max(0, h.pool.sizeBytes - h.pool.freeBytes) },
      vmm: { driver: h.vmm.kind, kvm: h.vmm.kvm, reason: h.vmm.reason, problems: [...h.vmm.problems] },
      doctor: {
        status: h.doctor.status,
        checked_at: new Date(h.doctor.checkedAt).toISOString(),
        checks: h.doctor.checks.map((k) => (k.fix === undefined ? { name: k.name, status: k.status, detail: k.detail } : { name: k.name, status: k.status, detail: k.detail, fix: k.fix })),
      },
    };
    return c.json(body);
  });
  return router;
}
