/**
 * Content hashes for cache keys and the manifest. Keys are sha256 over a
 * canonical JSON description of the inputs, so adding a field changes the key
 * and the order of object keys does not.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, readFile, readlink, lstat } from 'node:fs/promises';
import path from 'node:path';

/** sha256 (hex) of a file's bytes, streamed. */
export async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

export function sha256Text(text: string | Buffer): string {
  return createHash('sha256').update(text).digest('hex');
}

/** JSON with object keys sorted at every level, so equal values give equal text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      const o = v as Record<string, unknown>;
      return Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]]));
    }
    return v;
  });
}

/** sha256 of canonicalJson(value). */
export function hashInputs(value: unknown): string {
  return sha256Text(canonicalJson(value));
}

/**
 * Hash of a directory tree: every regular file's relative path, mode bits that
 * matter (executable) and content; symlinks by target. Sorted, so stable.
 * `filter` gets the relative path and decides what is included.
 */
export async function hashTree(root: string, filter: (rel: string) => boolean = () => true): Promise<string> {
  const entries: string[] = [];
  async function walk(rel: string): Promise<void> {
    const names = (await readdir(path.join(root, rel))).sort();
    for (const name of names) {
      const r = rel ? `${rel}/${name}` : name;
      if (!filter(r)) continue;
      const abs = path.join(root, r);
      const st = await lstat(abs);
      if (st.isDirectory()) await walk(r);
      else if (st.isSymbolicLink()) entries.push(`l ${r} ${await readlink(abs)}`);
      else if (st.isFile()) entries.push(`f ${r} ${st.mode & 0o111 ? 'x' : '-'} ${sha256Text(await readFile(abs))}`);
    }
  }
  await walk('');
  return sha256Text(entries.join('\n'));
}
