/**
 * identity.set: a guest resumed from someone else's memory (a warm template, a live fork) takes
 * its own hostname and machine-id, and new ssh host keys if it has any. The agent does it
 * without starting a process where it can (docs/architecture.md §27); older agents get the
 * same work as a shell script (daemon/core/identity.ts).
 */
import * as z from 'zod';

export const IdentitySetRequestSchema = z.object({
  op: z.literal('identity.set'),
  /** The guest's hostname: a DNS label (a sandbox's name). */
  hostname: z.string().min(1).max(63).regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/, 'a DNS label'),
  /** The guest's /etc/machine-id: 32 lowercase hex digits. */
  machineId: z.string().regex(/^[0-9a-f]{32}$/, '32 lowercase hex digits'),
});

export const IdentitySetResultSchema = z.object({
  /** The guest had ssh host keys, and they were replaced by new ones. */
  sshHostKeys: z.boolean(),
});
