/**
 * Space accounting: the pool as a whole (`btrfs filesystem usage`) and the
 * exclusive bytes of one subvolume, from btrfs simple quotas where they can
 * be used, else from `btrfs filesystem du`.
 */
import { access } from 'node:fs/promises';
import { HobError } from '../errors.js';
import { run } from './errors.js';

/** Space of the whole pool filesystem, in bytes. */
export interface PoolUsage {
  /** Size of the device(s) (for the embedded pool: the image's apparent size). */
  readonly sizeBytes: number;
  /** Bytes used by data and metadata (metadata counted with its DUP copies). */
  readonly usedBytes: number;
  /** btrfs's estimate of what can still be written ("Free (estimated)"). */
  readonly freeBytes: number;
}

/**
 * How exclusive bytes of a subvolume are measured.
 * - `qgroup`: quotas are enabled on the filesystem (simple quotas that hob
 *   enabled on its embedded pool, or any quotas the user enabled): reading
 *   them costs one ioctl.
 * - `du`: `btrfs filesystem du -s`, which walks the subvolume's files and
 *   their extents (FIEMAP); fine for pool subvolumes, which hold few files.
 */
export type UsageMode = 'qgroup' | 'du';

/** Parses `btrfs filesystem usage -b` output. @throws HobError if a field is missing. */
export function parseFilesystemUsage(text: string): PoolUsage {
  const num = (label: RegExp): number => {
    const m = label.exec(text);
    if (!m?.[1]) throw new HobError('internal', `cannot parse 'btrfs filesystem usage' output (missing ${label.source}): ${text.slice(0, 400)}`);
    return Number(m[1]);
  };
  return {
    sizeBytes: num(/Device size:\s+(\d+)/),
    usedBytes: num(/^\s*Used:\s+(\d+)/m),
    freeBytes: num(/Free \(estimated\):\s+(\d+)/),
  };
}

export async function poolUsage(root: string): Promise<PoolUsage> {
  return parseFilesystemUsage(await run('btrfs', ['filesystem', 'usage', '-b', root]));
}

/**
 * Parses `btrfs filesystem du -s --raw` output ("Total Exclusive Set-shared
 * Filename" header, one line per path) and returns the Exclusive column.
 */
export function parseDuExclusive(text: string): number {
  const line = text.split('\n').map((l) => l.trim()).filter(Boolean)[1];
  const n = Number(line?.split(/\s+/)[1]);
  if (!line || !Number.isFinite(n)) throw new HobError('internal', `cannot parse 'btrfs filesystem du' output: ${text.slice(0, 400)}`);
  return n;
}

/**
 * Bytes that only `p` references (would be freed by deleting it; a fresh
 * snapshot and its source both report ~0 until they diverge).
 * With 'qgroup' semantics differ slightly for simple quotas: an extent is
 * charged to the subvolume that wrote it, for as long as it lives.
 */
export async function exclusiveBytes(p: string, mode: UsageMode): Promise<number> {
  if (mode === 'du') return parseDuExclusive(await run('btrfs', ['filesystem', 'du', '-s', '--raw', p]));
  const id = (await run('btrfs', ['inspect-internal', 'rootid', p])).trim();
  // -f: only the qgroup of the subvolume containing p. Columns: Qgroupid Referenced Exclusive ...
  const out = await run('btrfs', ['qgroup', 'show', '-f', '--raw', p]);
  for (const line of out.split('\n')) {
    const cols = line.trim().split(/\s+/);
    if (cols[0] === `0/${id}`) return Number(cols[2]);
  }
  throw new HobError('internal', `no qgroup 0/${id} for ${p} in: ${out.slice(0, 400)}`);
}

/** btrfs-progs version as [major, minor], from `btrfs --version` ("btrfs-progs v6.2"). */
export async function btrfsProgsVersion(): Promise<[number, number]> {
  const m = /v(\d+)\.(\d+)/.exec(await run('btrfs', ['--version']));
  return m ? [Number(m[1]), Number(m[2])] : [0, 0];
}

async function quotasEnabled(root: string): Promise<boolean> {
  try {
    await run('btrfs', ['qgroup', 'show', '--raw', root]);
    return true;
  } catch {
    return false; // "quotas not enabled" (or no qgroup support at all)
  }
}

/**
 * Picks the usage mode for a pool. Quotas already on → 'qgroup'. Else, if
 * `mayEnable` (hob owns the filesystem: the embedded pool) and both the kernel
 * (/sys/fs/btrfs/features/simple_quota, Linux >= 6.7) and btrfs-progs (>= 6.7,
 * `quota enable --simple`) support simple quotas, enables them → 'qgroup'.
 * Otherwise 'du'. Never enables quotas on a user's filesystem: simple quotas
 * set an incompat flag that older kernels refuse to mount, and full qgroups
 * make snapshot deletion slow.
 */
export async function chooseUsageMode(root: string, mayEnable: boolean): Promise<UsageMode> {
  if (await quotasEnabled(root)) return 'qgroup';
  if (!mayEnable) return 'du';
  const kernel = await access('/sys/fs/btrfs/features/simple_quota').then(() => true, () => false);
  const [major, minor] = await btrfsProgsVersion();
  if (!kernel || major < 6 || (major === 6 && minor < 7)) return 'du';
  try {
    await run('btrfs', ['quota', 'enable', '--simple', root]);
    return 'qgroup';
  } catch {
    return 'du'; // still correct, only slower; Pool.usageMode tells which one is in use
  }
}
