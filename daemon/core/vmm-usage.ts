/**
 * What a VMM process costs the host, read from /proc/<pid>/stat: CPU time
 * (user + system, every thread: the vCPUs and, under TCG, the emulation) and
 * resident memory. One read of a small file, no process spawned: cheap enough
 * for every VM every few seconds.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

/**
 * Clock ticks per second of /proc's times: USER_HZ, which Linux fixes at 100
 * for userspace on every architecture hob runs on (x86_64, aarch64).
 */
const USER_HZ = 100;

export interface VmmUsage {
  /** CPU time used since the process started, in seconds. */
  readonly cpuSeconds: number;
  /** Resident set size in bytes. */
  readonly rssBytes: number;
}

let pageSizeCache: number | undefined;

/**
 * The kernel's page size (rss in /proc/<pid>/stat counts pages): AT_PAGESZ from
 * this process's auxiliary vector (64-bit entries: type, value), read once.
 * 4096 if it cannot be read.
 */
export function pageSize(): number {
  if (pageSizeCache !== undefined) return pageSizeCache;
  pageSizeCache = 4096;
  try {
    const auxv = readFileSync('/proc/self/auxv');
    const AT_PAGESZ = 6n;
    for (let off = 0; off + 16 <= auxv.length; off += 16) {
      const type = auxv.readBigUInt64LE(off);
      if (type === 0n) break;
      if (type === AT_PAGESZ) {
        pageSizeCache = Number(auxv.readBigUInt64LE(off + 8));
        break;
      }
    }
  } catch {
    // keep the default
  }
  return pageSizeCache;
}

/**
 * Parses /proc/<pid>/stat. The command name (field 2) is in parentheses and may
 * itself hold spaces and parentheses, so fields are counted after the last ')'.
 * Null when the text does not have the fields.
 */
export function parseProcStat(text: string, page = pageSize()): VmmUsage | null {
  const end = text.lastIndexOf(')');
  if (end < 0) return null;
  // After ')': field 3 (state) is index 0, so field N is index N - 3.
  const fields = text.slice(end + 2).trim().split(/\s+/);
  const utime = Number(fields[14 - 3]);
  const stime = Number(fields[15 - 3]);
  const rss = Number(fields[24 - 3]);
  if (![utime, stime, rss].every((n) => Number.isSafeInteger(n) && n >= 0)) return null;
  return { cpuSeconds: (utime + stime) / USER_HZ, rssBytes: rss * page };
}

/** The usage of process `pid`, or null when it is gone (or unreadable). */
export async function readVmmUsage(pid: number): Promise<VmmUsage | null> {
  try {
    return parseProcStat(await readFile(`/proc/${pid}/stat`, 'latin1'));
  } catch {
    return null;
  }
}
