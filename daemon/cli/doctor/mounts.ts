/**
 * The mount table (/proc/self/mountinfo), to tell whether the pool is
 * mounted, from which device, and read-only or not, without touching it.
 */
import { readFile } from 'node:fs/promises';

export interface MountEntry {
  readonly mountPoint: string;
  readonly fsType: string;
  /** The mounted device (`/dev/loop3`, `/dev/vda1`, ...). */
  readonly source: string;
  /** Per-mount options; `ro` among them means read-only. */
  readonly options: readonly string[];
  /** Superblock options (btrfs lists `ro` here after an error turned it read-only). */
  readonly superOptions: readonly string[];
}

/** mountinfo escapes space, tab, newline and backslash as \ooo octal. */
function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** Parses mountinfo text (see proc(5)); malformed lines are skipped. */
export function parseMountInfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const [left, right] = line.split(' - ');
    if (left === undefined || right === undefined) continue;
    const l = left.split(' ');
    const r = right.split(' ');
    const mountPoint = l[4];
    const fsType = r[0];
    if (mountPoint === undefined || fsType === undefined) continue;
    out.push({
      mountPoint: unescape(mountPoint),
      fsType,
      source: unescape(r[1] ?? ''),
      options: (l[5] ?? '').split(','),
      superOptions: (r[2] ?? '').split(','),
    });
  }
  return out;
}

/** The mount that holds `path` (longest mount point that is a prefix of it; the last one wins for stacked mounts). */
export function mountOf(entries: readonly MountEntry[], path: string): MountEntry | undefined {
  let best: MountEntry | undefined;
  for (const e of entries) {
    const inside = path === e.mountPoint || e.mountPoint === '/' || path.startsWith(`${e.mountPoint}/`);
    if (inside && (!best || e.mountPoint.length >= best.mountPoint.length)) best = e;
  }
  return best;
}

/** This process's mount table ([] when /proc is not mounted). */
export async function readMounts(): Promise<MountEntry[]> {
  return parseMountInfo(await readFile('/proc/self/mountinfo', 'utf8').catch(() => ''));
}

/** True when the mount is read-only (per mount or per superblock). */
export function isReadOnly(e: MountEntry): boolean {
  return e.options.includes('ro') || e.superOptions.includes('ro');
}
