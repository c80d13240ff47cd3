import * as z from 'zod';
import { BadRequestError } from '../errors.js';
import type { VmSpec } from './types.js';

/** Longest unix socket path the kernel accepts (sun_path is 108 bytes with the NUL). */
export const MAX_UNIX_SOCKET_PATH = 107;

const absPath = z.string().min(2).startsWith('/', 'must be an absolute path');

const diskSchema = z.object({
  id: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/, 'disk id: 1-32 of [A-Za-z0-9_-]'),
  path: absPath,
  readOnly: z.boolean().optional(),
});

const netSchema = z.object({
  tap: z.string().regex(/^[A-Za-z0-9_.-]{1,15}$/, 'tap name: 1-15 of [A-Za-z0-9_.-]'),
  mac: z.string().regex(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i, 'mac: xx:xx:xx:xx:xx:xx'),
  netns: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/).optional(),
});

/** zod schema of VmSpec; drivers validate every spec they are given with it. */
export const vmSpecSchema = z.object({
  id: z.string().min(1).max(64),
  runDir: absPath,
  kernelPath: absPath,
  initramfsPath: absPath.optional(),
  cmdline: z.string().max(4096),
  disks: z.array(diskSchema).min(1),
  cpus: z.number().int().min(1).max(255),
  memoryMiB: z.number().int().min(64),
  net: netSchema.optional(),
  memoryFile: absPath.optional(),
});

/**
 * Validates a VmSpec, including that every socket the driver will create in runDir fits in
 * a unix socket address and that disk ids are unique. Throws BadRequestError.
 */
export function validateSpec(spec: VmSpec, socketNames: readonly string[]): VmSpec {
  const r = vmSpecSchema.safeParse(spec);
  if (!r.success) {
    throw new BadRequestError(`invalid VM spec for ${spec.id}: ${z.prettifyError(r.error)}`);
  }
  const ids = new Set(spec.disks.map((d) => d.id));
  if (ids.size !== spec.disks.length) throw new BadRequestError(`VM ${spec.id}: disk ids must be unique`);
  for (const name of socketNames) {
    const p = `${spec.runDir}/${name}`;
    if (Buffer.byteLength(p) > MAX_UNIX_SOCKET_PATH) {
      throw new BadRequestError(
        `VM ${spec.id}: socket path ${p} is longer than ${MAX_UNIX_SOCKET_PATH} bytes; use a shorter runDir`,
      );
    }
  }
  return spec;
}
