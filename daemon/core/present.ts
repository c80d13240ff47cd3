import type { Sandbox as SandboxRow } from '../db/index.js';
import type { Sandbox } from './types.js';

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
  };
}
