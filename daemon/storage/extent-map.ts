/**
 * A file's extents as the filesystem maps them (FIEMAP, read through `xfs_io fiemap -v`),
 * and the plan that makes one file a copy of another by cloning only the ranges where the
 * two differ (docs/architecture.md §30). Restore uses it so that the ranges a sandbox's disk
 * shares with the checkpoint keep their place in the host's page cache.
 *
 * The disk's contents are the guest's: they decide how many extents there are (a guest that
 * alternates compressible and random blocks makes one per 4 KiB). The map read is bounded
 * (MAX_FIEMAP_OUTPUT); a larger one is an ExtentMapTooLargeError and the caller copies the
 * whole file another way.
 */
import { HobError } from '../errors.js';
import { XfsIoOutputTooLargeError, xfsIo } from './xfs-io.js';

/** One mapped extent of a file, in bytes. Holes are not listed. */
export interface Extent {
  /** Offset in the file. */
  readonly offset: number;
  readonly length: number;
  /** Where the data lies on the device; for an encoded (compressed) extent, where its encoded data starts. */
  readonly physical: number;
  /** FIEMAP flags, without the ones that say nothing about the data (FLAGS_IGNORED). */
  readonly flags: number;
}

/** What `planResync` asks for, in bytes: copy `[offset, offset + length)` from the source (clone), or make it a hole (punch). */
export interface RangeAction {
  readonly kind: 'clone' | 'punch';
  readonly offset: number;
  readonly length: number;
}

/** FIEMAP_EXTENT_ENCODED: compressed on btrfs; `physical` is where the compressed data starts. */
export const FIEMAP_ENCODED = 0x8;
/** FIEMAP_EXTENT_LAST | _MERGED | _SHARED: true of an extent whatever its data. */
const FLAGS_IGNORED = 0x1 | 0x1000 | 0x2000;

/** Bytes of `xfs_io fiemap -v` output read at most: about 200,000 extents. */
export const MAX_FIEMAP_OUTPUT = 16 * 1024 * 1024;

/** The file has more extents than a map is read for (MAX_FIEMAP_OUTPUT). */
export class ExtentMapTooLargeError extends HobError {
  constructor(file: string) {
    super('internal', `${file} has too many extents to compare them one by one`);
  }
}

const SECTOR = 512;
const EXTENT_LINE = /^\s*\d+:\s+\[(\d+)\.\.(\d+)\]:\s+(?:hole\s+\d+|(\d+)\.\.(\d+)\s+\d+(?:\s+(0x[0-9a-f]+))?)\s*$/;

/**
 * Parses `xfs_io -r -c 'fiemap -v' FILE` (offsets in 512-byte sectors, inclusive ranges).
 * @throws HobError 'internal' on a line it does not understand (a map read wrong must not be used).
 */
export function parseFiemap(text: string): Extent[] {
  const extents: Extent[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '' || /^\s*EXT:/.test(line)) continue;
    const m = EXTENT_LINE.exec(line);
    if (!m) throw new HobError('internal', `unexpected line in xfs_io's extent map: ${JSON.stringify(line.slice(0, 200))}`);
    if (m[3] === undefined) continue; // a hole
    const first = Number(m[1]);
    const last = Number(m[2]);
    extents.push({
      offset: first * SECTOR,
      length: (last - first + 1) * SECTOR,
      physical: Number(m[3]) * SECTOR,
      flags: Number.parseInt(m[5] ?? '0x0', 16) & ~FLAGS_IGNORED,
    });
  }
  extents.sort((a, b) => a.offset - b.offset);
  return extents;
}

/**
 * Reads the extent maps of `files` with one xfs_io run (it prints a `<file>:` header before
 * each map). Their dirty pages must have been written (fsync) first, or they show as delayed
 * allocations, which `planResync` never takes as shared.
 * @throws ExtentMapTooLargeError past `maxOutput` bytes of output in all; HobError 'internal'
 *   if xfs_io fails or is missing, or its output does not follow `files`.
 */
export async function readExtentMaps(files: readonly string[], maxOutput = MAX_FIEMAP_OUTPUT): Promise<Extent[][]> {
  if (files.length === 0) return [];
  let stdout: string;
  try {
    stdout = await xfsIo(['-r', '-c', 'fiemap -v', ...files], { maxOutput });
  } catch (err) {
    throw err instanceof XfsIoOutputTooLargeError ? new ExtentMapTooLargeError(files.join(', ')) : err;
  }
  const sections: string[][] = [];
  for (const line of stdout.split('\n')) {
    if (line === `${files[sections.length]}:`) sections.push([]);
    else if (sections.length > 0) sections.at(-1)!.push(line);
    else if (line.trim() !== '') throw new HobError('internal', `xfs_io fiemap: output before the first file's map: ${JSON.stringify(line.slice(0, 200))}`);
  }
  if (sections.length !== files.length) throw new HobError('internal', `xfs_io fiemap printed ${sections.length} maps for ${files.length} files`);
  return sections.map((lines) => parseFiemap(lines.join('\n')));
}

/**
 * The clones and punches that turn `dest` into a copy of `source`, both `size` bytes long
 * (the caller truncates `dest` first), given their extent maps. A range is left alone only
 * where both are holes, or both map it to the same bytes on the device: for plain extents,
 * the same physical address at that offset; for encoded ones, the very same extent (same
 * offset, length and start), since where a byte lies inside compressed data is unknown.
 * Extents with any other flag (delayed, unwritten, inline...) always count as different.
 * Adjacent actions of one kind are merged.
 */
export function planResync(source: readonly Extent[], dest: readonly Extent[], size: number): RangeAction[] {
  const cuts = new Set<number>([0, size]);
  for (const e of [...source, ...dest]) {
    if (e.offset < size) cuts.add(e.offset);
    if (e.offset + e.length < size) cuts.add(e.offset + e.length);
  }
  const points = [...cuts].sort((a, b) => a - b);
  const actions: Array<{ kind: RangeAction['kind']; offset: number; length: number }> = [];
  let si = 0;
  let di = 0;
  for (let i = 0; i + 1 < points.length; i++) {
    const at = points[i]!;
    const end = points[i + 1]!;
    while (si < source.length && source[si]!.offset + source[si]!.length <= at) si++;
    while (di < dest.length && dest[di]!.offset + dest[di]!.length <= at) di++;
    const s = covering(source[si], at);
    const d = covering(dest[di], at);
    if (sameBytes(s, d, at)) continue;
    const kind = s ? 'clone' : 'punch';
    const last = actions.at(-1);
    if (last && last.kind === kind && last.offset + last.length === at) last.length += end - at;
    else actions.push({ kind, offset: at, length: end - at });
  }
  return actions;
}

function covering(e: Extent | undefined, at: number): Extent | undefined {
  return e && e.offset <= at && at < e.offset + e.length ? e : undefined;
}

function sameBytes(s: Extent | undefined, d: Extent | undefined, at: number): boolean {
  if (!s || !d) return !s && !d;
  if (s.flags === 0 && d.flags === 0) return s.physical + (at - s.offset) === d.physical + (at - d.offset);
  if (s.flags === FIEMAP_ENCODED && d.flags === FIEMAP_ENCODED) return s.offset === d.offset && s.length === d.length && s.physical === d.physical;
  return false;
}
