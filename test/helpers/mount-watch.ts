/**
 * Watches the mount table while something runs: polls /proc/self/mountinfo
 * (every POLL_MS) and records every ext2/3/4 mount, or any mount whose source
 * is a file under a given directory, that appears meanwhile. The ext4 diff tests use it to
 * prove that the host kernel never mounts a guest image.
 */
import { readFile } from 'node:fs/promises';

/** Short enough to catch a mount that lives for one diff (a loop mount takes tens of ms). */
const POLL_MS = 2;

export interface MountRecord { readonly mountPoint: string; readonly fsType: string; readonly source: string }

function parse(text: string): MountRecord[] {
  const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  return text.split('\n').filter(Boolean).map((line) => {
    const [left = '', right = ''] = line.split(' - ');
    const f = left.split(' ');
    const r = right.split(' ');
    return { mountPoint: unescape(f[4] ?? ''), fsType: r[0] ?? '', source: unescape(r[1] ?? '') };
  });
}

/** Runs `fn` while polling the mount table; returns its result and the ext mounts that were not there before. */
export async function watchExtMounts<T>(fn: () => Promise<T>): Promise<{ result: T; seen: MountRecord[] }> {
  const key = (m: MountRecord) => `${m.mountPoint} ${m.fsType} ${m.source}`;
  const before = new Set(parse(await readFile('/proc/self/mountinfo', 'utf8')).map(key));
  const seen = new Map<string, MountRecord>();
  let stop = false;
  const poll = (async () => {
    while (!stop) {
      for (const m of parse(await readFile('/proc/self/mountinfo', 'utf8'))) {
        if (/^ext[234]$/.test(m.fsType) && !before.has(key(m))) seen.set(key(m), m);
      }
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  })();
  try {
    const result = await fn();
    return { result, seen: [...seen.values()] };
  } finally {
    stop = true;
    await poll;
  }
}
