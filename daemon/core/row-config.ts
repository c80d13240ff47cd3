/**
 * A sandbox row's `config` JSON, read into the domain's values: the keys core/ owns
 * (egress policy, idle override, keep-awake hold, automatic checkpoints, where a fork
 * came from), validated on the way out of the database, and the Sandbox the API shows.
 */
import type { Sandbox as SandboxRow } from '../db/index.js';
import * as z from 'zod';
import { NetworkPolicySchema, UNRESTRICTED_POLICY, type NetworkPolicy } from '../net/policy.js';
import { IdleOverrideSchema, type IdleOverride } from './idle.js';
import type { AutoCheckpointPolicy, Sandbox } from './types.js';

/** Keys of the row's `config` JSON that core/ owns, validated on the way out. */
export const AutoCheckpointSchema = z.object({
  intervalMinutes: z.number().int().min(1).max(10_080),
  keep: z.number().int().min(1).max(100),
});
const ForkedFromSchema = z.object({ sandbox: z.string(), checkpoint: z.string().nullable() });

/** The end of an active keep-awake hold (config key `keepAwakeUntil`, epoch ms), if any. */
export function keepAwakeUntilOf(row: SandboxRow, now = Date.now()): Date | undefined {
  const until = row.config['keepAwakeUntil'];
  return typeof until === 'number' && until > now ? new Date(until) : undefined;
}

/** The sandbox's egress policy (config key `networkPolicy`); unrestricted when none was set. */
export function networkPolicyOf(row: SandboxRow): NetworkPolicy {
  return NetworkPolicySchema.safeParse(row.config['networkPolicy']).data ?? UNRESTRICTED_POLICY;
}

export function idleOverrideOf(row: SandboxRow): IdleOverride | undefined {
  return IdleOverrideSchema.safeParse(row.config['idle']).data;
}

export function autoCheckpointOf(row: SandboxRow): AutoCheckpointPolicy | null {
  const parsed = AutoCheckpointSchema.safeParse(row.config['autoCheckpoint']);
  return parsed.success ? parsed.data : null;
}

/** The public view of a sandbox row. */
export function toSandbox(row: SandboxRow): Sandbox {
  return {
    id: row.id,
    name: row.name,
    state: row.state,
    stateSince: row.stateSince.toISOString(),
    image: row.image,
    cpus: row.cpus,
    memoryMiB: row.memoryMiB,
    diskBytes: row.diskBytes,
    vmm: row.vmm,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
    lastError: row.lastError,
    urlAuth: row.urlAuth,
    labels: row.labels,
    environment: row.environment,
    autoCheckpoint: autoCheckpointOf(row),
    idle: IdleOverrideSchema.safeParse(row.config['idle']).data ?? {},
    keepAwakeUntil: keepAwakeUntilOf(row)?.toISOString() ?? null,
    forkedFrom: ForkedFromSchema.safeParse(row.config['forkedFrom']).data ?? null,
  };
}
