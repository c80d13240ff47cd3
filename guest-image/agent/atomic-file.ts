/** Replacing a file in the guest so that a crash leaves the old one or the new one, never a mix. */
import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Writes a file atomically: temp file in the same directory, fsync, rename, fsync of the directory.
 * `durable: false` leaves out both fsyncs, for files something else rewrites after a crash anyway:
 * the rename still shows the old file or the new one, never a mix, once the kernel has written it.
 */
export async function writeFileAtomic(path: string, data: string, mode = 0o644, options: { durable?: boolean } = {}): Promise<void> {
  const durable = options.durable ?? true;
  const dir = join(path, '..');
  const temp = join(dir, `.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(temp, 'wx', mode);
  try {
    await handle.writeFile(data);
    await handle.chmod(mode); // exactly `mode`, whatever the umask
    if (durable) await handle.sync();
  } catch (err) {
    await handle.close().catch(() => undefined);
    await rm(temp, { force: true });
    throw err;
  }
  await handle.close();
  try {
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
  if (!durable) return;
  const dirHandle = await open(dir, 'r');
  try {
    await dirHandle.sync();
  } finally {
    await dirHandle.close();
  }
}
