import { lstat, open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as z from 'zod';
import { VmmError } from '../errors.js';
import type { VmSpec, VmmKind } from './types.js';

/** Name of the file every driver writes last into a snapshot dir. */
export const SNAPSHOT_META_FILE = 'vmm.json';

/** True if snapshot dir `dir` holds a complete snapshot: its SNAPSHOT_META_FILE, written last, is there. */
export async function isSnapshotComplete(dir: string): Promise<boolean> {
  return lstat(join(dir, SNAPSHOT_META_FILE)).then(() => true, (e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT' || e.code === 'ENOTDIR') return false;
    throw e;
  });
}

/**
 * `vmm.json`: what a memory snapshot was taken with. A snapshot restores only into the same
 * driver, a compatible VMM version and a VM of the same shape.
 */
export const snapshotMetaSchema = z.object({
  /** Format of this file. */
  format: z.literal(1),
  kind: z.enum(['qemu', 'cloud-hypervisor']),
  /** Output of the driver's version(). */
  vmmVersion: z.string(),
  arch: z.enum(['x86_64', 'aarch64']),
  cpus: z.number().int().positive(),
  memoryMiB: z.number().int().positive(),
  /** Disk ids in device order. */
  diskIds: z.array(z.string()),
  /** Tap name of the network device, if there was one. */
  tap: z.string().optional(),
  createdAt: z.string(),
  /** qemu only: details of the migration stream. */
  qemu: z
    .object({
      /** Concrete machine type (e.g. pc-q35-7.2, never the alias q35) the stream belongs to. */
      machine: z.string(),
      /** Accelerator the snapshot was taken under; restoring under another one is refused. */
      accel: z.enum(['kvm', 'tcg']),
      /** File (in the snapshot dir) holding the migration stream, and its size. */
      memoryFile: z.string(),
      memoryFileBytes: z.number().int().nonnegative(),
      /** The VM had a vmgenid device (absent in snapshots of older hobs: restored without one). */
      vmgenid: z.boolean().optional(),
      /**
       * The VM's RAM is this file (in the snapshot dir) and the stream holds device state only
       * (qemu/memory-file.ts); absent: the RAM is in the stream.
       */
      ramFile: z.string().regex(/^[A-Za-z0-9._-]+$/).optional(),
    })
    .optional(),
});
export type SnapshotMeta = z.infer<typeof snapshotMetaSchema>;

/**
 * Writes a file (mode 0600 when new: VMM state is root's alone) and fsyncs it and its
 * directory, so it survives a host crash once this resolves.
 */
export async function writeFileDurable(path: string, data: string | Uint8Array): Promise<void> {
  const fh = await open(path, 'w', 0o600);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fsyncDir(join(path, '..'));
}

export async function fsyncDir(dir: string): Promise<void> {
  const dh = await open(dir, 'r');
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}

export async function writeSnapshotMeta(dir: string, meta: SnapshotMeta): Promise<void> {
  await writeFileDurable(join(dir, SNAPSHOT_META_FILE), `${JSON.stringify(meta, null, 2)}\n`);
}

/** Reads and validates vmm.json. Throws VmmError when it is missing (incomplete snapshot) or malformed. */
export async function readSnapshotMeta(dir: string): Promise<SnapshotMeta> {
  let text: string;
  try {
    text = await readFile(join(dir, SNAPSHOT_META_FILE), 'utf8');
  } catch (err) {
    throw new VmmError(`${dir} is not a complete VM snapshot (no ${SNAPSHOT_META_FILE})`, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new VmmError(`${dir}/${SNAPSHOT_META_FILE} is not JSON`, { cause: err });
  }
  const r = snapshotMetaSchema.safeParse(json);
  if (!r.success) throw new VmmError(`${dir}/${SNAPSHOT_META_FILE} is invalid: ${z.prettifyError(r.error)}`);
  return r.data;
}

/** Builds the shape part of the meta from a spec. */
export function metaShape(spec: VmSpec): Pick<SnapshotMeta, 'cpus' | 'memoryMiB' | 'diskIds' | 'tap'> {
  return {
    cpus: spec.cpus,
    memoryMiB: spec.memoryMiB,
    diskIds: spec.disks.map((d) => d.id),
    ...(spec.net ? { tap: spec.net.tap } : {}),
  };
}

/** Throws VmmError naming the first difference between a snapshot and the spec restoring it. */
export function checkSnapshotFits(meta: SnapshotMeta, kind: VmmKind, spec: VmSpec): void {
  const where = `snapshot for ${spec.id}`;
  if (meta.kind !== kind) throw new VmmError(`${where} was taken by the ${meta.kind} driver, not ${kind}`);
  if (meta.cpus !== spec.cpus) throw new VmmError(`${where} has ${meta.cpus} vCPUs, the spec ${spec.cpus}`);
  if (meta.memoryMiB !== spec.memoryMiB) {
    throw new VmmError(`${where} has ${meta.memoryMiB} MiB RAM, the spec ${spec.memoryMiB} MiB`);
  }
  const ids = spec.disks.map((d) => d.id);
  if (ids.join('\0') !== meta.diskIds.join('\0')) {
    throw new VmmError(`${where} has disks [${meta.diskIds.join(', ')}], the spec [${ids.join(', ')}]`);
  }
  if ((meta.tap ?? null) !== (spec.net?.tap ?? null)) {
    throw new VmmError(`${where} has tap ${meta.tap ?? '(none)'}, the spec ${spec.net?.tap ?? '(none)'}`);
  }
}
