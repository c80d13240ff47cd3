/**
 * fs.write: atomic replacement of a file with the bytes of Stdin.
 *
 * The bytes go to a temporary file in the target's directory; on the host's EOF
 * the agent fsyncs it, renames it over the target and fsyncs the directory, then
 * answers `result {size}`. If the channel closes before the EOF, or anything
 * fails, the temporary file is removed: the target never holds a partial file.
 * A target that is a symlink to a file is written through (the link stays); an
 * existing target keeps its mode and owner, a new one gets `mode` (default 0644).
 */
import { randomBytes } from 'node:crypto';
import type { Stats } from 'node:fs';
import { lstat, mkdir, open, realpath, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { StreamId, type Channel, type RequestOf } from '../../../daemon/protocol/index.js';
import { OpError } from '../errors.js';

async function statOrNull(path: string, follow: boolean): Promise<Stats | null> {
  try {
    return follow ? await stat(path) : await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** Marks a temp file as ours, so a crashed agent's leftovers are recognisable. */
export const TEMP_MARK = '.hob-tmp-';

export async function handleFsWrite(req: RequestOf<'fs.write'>, channel: Channel): Promise<void> {
  let target = req.path;
  let existing = await statOrNull(target, false);
  if (existing?.isSymbolicLink()) {
    const followed = await statOrNull(target, true);
    if (followed) {
      target = await realpath(target);
      existing = followed;
    } else {
      existing = null; // dangling link: replace the link itself
    }
  }
  if (existing?.isDirectory()) throw new OpError('EISDIR', `${req.path} is a directory`);
  const dir = dirname(target);
  if (req.mkdirs) await mkdir(dir, { recursive: true });
  const temp = join(dir, `.${basename(target).slice(0, 200)}${TEMP_MARK}${randomBytes(6).toString('hex')}`);
  const file = await open(temp, 'wx', 0o600);
  let closed = false;
  try {
    await file.chmod(existing ? existing.mode & 0o7777 : (req.mode ?? 0o644));
    if (existing && process.getuid?.() === 0) await file.chown(existing.uid, existing.gid);
    channel.send({ type: 'ready', value: {} });

    let size = 0;
    for await (const chunk of channel.readable(StreamId.Stdin) as AsyncIterable<Buffer>) {
      let done = 0;
      while (done < chunk.length) done += (await file.write(chunk, done, chunk.length - done)).bytesWritten;
      size += chunk.length;
    }
    if (!channel.receivedEof(StreamId.Stdin)) throw new OpError('ECANCELED', 'write abandoned before its end');
    await file.sync();
    closed = true;
    await file.close();
    await rename(temp, target);
    await syncDir(dir);
    channel.send({ type: 'result', value: { size } });
    channel.close();
  } catch (err) {
    if (!closed) await file.close().catch(() => undefined);
    await rm(temp, { force: true }).catch(() => undefined);
    throw err;
  }
}

/** fsync of a directory, making a rename in it durable. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
