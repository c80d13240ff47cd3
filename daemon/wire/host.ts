/**
 * The host as hobd sees it (hob extension; daemon/api/routes/host.ts serves it, the
 * dashboard's overview reads it): `GET /v1/host`. Cheap figures read at each request, the
 * VMM driver hobd chose at its start and why, and `hob doctor`'s checks of this host
 * (the ones that need no hobd), refreshed at most every 30 s.
 */
import * as z from 'zod';

export const HostCheckObject = z.looseObject({
  /** Stable identifier (`kvm`, `pool`, ...), as `hob doctor --json`. */
  name: z.string(),
  status: z.enum(['ok', 'warn', 'fail']),
  detail: z.string(),
  fix: z.string().optional(),
});
export type HostCheckObject = z.infer<typeof HostCheckObject>;

export const HostObject = z.looseObject({
  cpu: z.looseObject({
    /** CPUs hobd may use. */
    count: z.number(),
    /** 1, 5 and 15 minute load averages. */
    load: z.array(z.number()),
    /** Share of all CPUs busy since the previous reading (at least a second ago), percent; null before there is one. */
    busy_percent: z.number().nullable(),
  }),
  memory: z.looseObject({
    total_bytes: z.number(),
    /** What programs (new VMs) could still get without swapping (MemAvailable). */
    available_bytes: z.number(),
  }),
  /** The btrfs pool (statfs: an estimate, as df's). */
  pool: z.looseObject({ size_bytes: z.number(), free_bytes: z.number(), used_bytes: z.number() }),
  vmm: z.looseObject({
    /** `qemu` or `cloud-hypervisor`. */
    driver: z.string(),
    kvm: z.boolean(),
    /** Why this driver, as `hob doctor` says it. */
    reason: z.string(),
    /** What will make VMs fail with this choice (empty when it works). */
    problems: z.array(z.string()),
  }),
  doctor: z.looseObject({
    /** The worst status among the checks. */
    status: z.enum(['ok', 'warn', 'fail']),
    /** ISO 8601: when the checks ran. */
    checked_at: z.string(),
    checks: z.array(HostCheckObject),
  }),
});
export type HostObject = z.infer<typeof HostObject>;
