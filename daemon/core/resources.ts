/**
 * A sandbox's size, changed after create (the Sprites resources policy;
 * docs/architecture.md §20). vCPUs and memory are the VM's: they change only
 * while no VM exists (stopped, or error), because a running, paused or
 * hibernated VM (its memory image included) keeps the size it booted with; the
 * new size applies at the next boot. The disk's size is fixed after create.
 * A refused change changes nothing.
 */
import * as z from 'zod';
import { updateSandbox, type Sandbox as SandboxRow } from '../db/index.js';
import { BadRequestError, ConflictError, NotSupportedError } from '../errors.js';
import { formatZodError } from './input-schemas.js';
import { toSandbox } from './row-config.js';
import type { SandboxContext } from './sandbox-context.js';
import type { Sandbox } from './types.js';

/** What a resize may set; an absent field stays as it is. The limits are create's. */
export const ResizeInputSchema = z.strictObject({
  cpus: z.number().int().min(1).max(64).optional(),
  memoryMiB: z.number().int().min(256).max(256 * 1024).optional(),
  diskBytes: z.number().int().min(0).optional(),
});
export type ResizeInput = z.infer<typeof ResizeInputSchema>;

/** Lock held: applies a resize to `row` (as the database has it now). */
export function resize(ctx: SandboxContext, row: SandboxRow, input: ResizeInput): Sandbox {
  const parsed = ResizeInputSchema.safeParse(input);
  if (!parsed.success) throw new BadRequestError(formatZodError(parsed.error));
  const want = parsed.data;
  if (want.diskBytes !== undefined && want.diskBytes !== row.diskBytes) {
    throw new NotSupportedError(`the disk of ${row.name} stays ${row.diskBytes} bytes: hob sets a disk's size at create (hob create --disk); it is sparse, so a large one costs only what is written`);
  }
  const patch = {
    ...(want.cpus !== undefined && want.cpus !== row.cpus ? { cpus: want.cpus } : {}),
    ...(want.memoryMiB !== undefined && want.memoryMiB !== row.memoryMiB ? { memoryMiB: want.memoryMiB } : {}),
  };
  if (Object.keys(patch).length === 0) return toSandbox(row);
  if (row.state !== 'stopped' && row.state !== 'error') {
    throw new ConflictError(
      `sandbox ${row.name} is ${row.state}: its VM keeps ${row.cpus} vCPUs and ${row.memoryMiB} MiB while it exists; stop it first (hob stop ${row.name}), the new size applies at the next boot`,
    );
  }
  ctx.log(`sandbox ${row.name}: resized to ${patch.cpus ?? row.cpus} vCPUs, ${patch.memoryMiB ?? row.memoryMiB} MiB`);
  return toSandbox(updateSandbox(ctx.deps.db, row.id, patch));
}

/** The size a resize back to hobd's defaults asks for (deleting the resources policy). */
export function defaultSize(ctx: SandboxContext): ResizeInput {
  return { cpus: ctx.deps.config.sandboxDefaults.cpus, memoryMiB: ctx.deps.config.sandboxDefaults.memoryMiB };
}
