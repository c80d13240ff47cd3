/**
 * cloud-hypervisor restores a VM from the `config.json` inside the snapshot, including the
 * paths of disks, the vsock socket and the serial file, and the tap names; v53's RestoreConfig
 * cannot override them. A fork restores into another runDir with other disk files, so the
 * driver builds a restore source: a dir whose `config.json` is the snapshot's with those paths
 * rewritten, and whose other entries are symlinks to the (never modified) snapshot files.
 */
import { mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as z from 'zod';
import { VmmError } from '../../errors.js';
import { SNAPSHOT_META_FILE } from '../snapshot-meta.js';
import type { VmSpec } from '../types.js';
import type { ChVmPaths } from './bodies.js';

const CONFIG_FILE = 'config.json';

// Only the fields rewritten are modelled; everything else passes through untouched.
const snapshotConfigSchema = z
  .object({
    disks: z.array(z.object({ id: z.string().nullish(), path: z.string().nullish() }).loose()).nullish(),
    net: z.array(z.object({ id: z.string().nullish(), tap: z.string().nullish() }).loose()).nullish(),
    vsock: z.object({ socket: z.string() }).loose().nullish(),
    serial: z.object({ mode: z.string().nullish(), file: z.string().nullish(), socket: z.string().nullish() }).loose().nullish(),
  })
  .loose();

/**
 * Pure: the snapshot's config with disk paths (matched by id) and vsock socket taken from the
 * new spec, and a serial port (File in snapshots of an older hob, Socket now) on the new VM's
 * console socket. Throws VmmError when a disk id of the snapshot is not in the spec.
 */
export function rewriteSnapshotConfig(config: unknown, spec: VmSpec, paths: ChVmPaths): Record<string, unknown> {
  const parsed = snapshotConfigSchema.safeParse(config);
  if (!parsed.success) throw new VmmError(`snapshot config.json is not a cloud-hypervisor VmConfig`);
  const c = structuredClone(parsed.data);
  for (const d of c.disks ?? []) {
    const want = spec.disks.find((s) => s.id === d.id);
    if (!want) throw new VmmError(`snapshot disk ${String(d.id)} is not in the spec of ${spec.id}`);
    d.path = want.path;
  }
  if (c.vsock) c.vsock.socket = paths.vsockSocket;
  if (c.serial && (c.serial.mode === 'File' || c.serial.mode === 'Socket')) {
    Object.assign(c.serial, { mode: 'Socket', file: null, socket: paths.consoleSocket });
  }
  return c;
}

/**
 * Creates `target` (inside the runDir) as a restore source for `snapshotDir`. The caller
 * removes it after the restore.
 */
export async function prepareRestoreSource(
  snapshotDir: string,
  target: string,
  spec: VmSpec,
  paths: ChVmPaths,
): Promise<void> {
  let config: unknown;
  try {
    config = JSON.parse(await readFile(join(snapshotDir, CONFIG_FILE), 'utf8'));
  } catch (err) {
    throw new VmmError(`${snapshotDir}/${CONFIG_FILE} is missing or not JSON`, { cause: err });
  }
  await mkdir(target);
  for (const name of await readdir(snapshotDir)) {
    if (name === CONFIG_FILE || name === SNAPSHOT_META_FILE) continue;
    await symlink(join(snapshotDir, name), join(target, name));
  }
  await writeFile(join(target, CONFIG_FILE), JSON.stringify(rewriteSnapshotConfig(config, spec, paths)));
}
