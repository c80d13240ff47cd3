/**
 * Memory snapshots for qemu as migration streams kept in a file.
 *
 * QEMU 7.2 has no `file:` migration URI (8.2+), an `exec:` URI would need a shell, and
 * Node cannot pass file descriptors over unix sockets (`getfd`). So the stream goes through
 * a unix socket that this module serves or dials, and is copied to or from the file here.
 * Of 7.2's migration capabilities `events` is useful for a paused, file-bound migration,
 * and `x-ignore-shared` for a VM whose RAM is a shared file (memory-file.ts: warm templates);
 * multifd needs several connections, mapped-ram arrives in 9.0. The default 128 MiB/s bandwidth cap is lifted, which matters on fast hosts.
 */
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { open, stat, unlink } from 'node:fs/promises';
import net from 'node:net';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { VmmError } from '../../errors.js';
import { connectUnixWhenReady } from '../unix.js';
import type { MigrationStatus, QmpClient } from './qmp.js';

/** Name of the migration stream file inside a snapshot dir. */
export const QEMU_MEMORY_FILE = 'memory.qemu';

/** Effectively unlimited (bytes/s); QEMU 7.2's default cap is 128 MiB/s. */
const UNLIMITED_BANDWIDTH = 1_000_000_000_000;

async function unlinkQuiet(path: string): Promise<void> {
  await unlink(path).catch(() => undefined);
}

/** `ignoreShared`: shared RAM blocks (a template's RAM file) stay out of the stream (memory-file.ts). Set both ways: a capability outlives the migration. */
async function setCapabilities(qmp: QmpClient, ignoreShared: boolean): Promise<void> {
  await qmp.execute('migrate-set-capabilities', {
    capabilities: [
      { capability: 'events', state: true },
      { capability: 'x-ignore-shared', state: ignoreShared },
    ],
  });
}

/**
 * Polls query-migrate until the migration leaves its active states. MIGRATION events wake
 * the poll early. Resolves on `completed`; rejects with VmmError on `failed`/`cancelled`,
 * on timeout, or when `gone()` reports the process died.
 */
async function waitMigration(
  qmp: QmpClient,
  opts: { timeoutMs: number; gone: () => boolean; what: string },
): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  let wake: (() => void) | undefined;
  const onEvent = (e: { event: string }): void => {
    if (e.event === 'MIGRATION') wake?.();
  };
  qmp.on('event', onEvent);
  try {
    let delay = 10;
    for (;;) {
      if (opts.gone()) throw new VmmError(`${opts.what}: qemu exited during the migration`);
      const info = await qmp.execute('query-migrate', undefined);
      const status: MigrationStatus = info.status ?? 'none';
      if (status === 'completed') return;
      if (status === 'failed' || status === 'cancelled') {
        throw new VmmError(`${opts.what}: migration ${status}${info['error-desc'] ? `: ${info['error-desc']}` : ''}`);
      }
      if (Date.now() > deadline) throw new VmmError(`${opts.what}: migration not done after ${opts.timeoutMs} ms`);
      await Promise.race([sleep(delay), new Promise<void>((r) => (wake = r))]);
      delay = Math.min(delay * 2, 250);
    }
  } finally {
    qmp.off('event', onEvent);
  }
}

/**
 * Streams the (paused) VM's migration into `file`: listens on `socketPath`, has qemu migrate
 * to it, copies the one connection into the file, waits until qemu reports `completed` and
 * the stream ended, and fsyncs the file. Returns the file size. Removes the socket on every
 * path and the partial file on failure (cancelling the migration).
 */
export async function saveMigrationToFile(
  qmp: QmpClient,
  opts: { socketPath: string; file: string; timeoutMs: number; gone: () => boolean; what: string; ignoreShared?: boolean },
): Promise<number> {
  await unlinkQuiet(opts.socketPath);
  const server = net.createServer();
  server.listen(opts.socketPath);
  await once(server, 'listening');
  let copied: Promise<void> | undefined;
  try {
    const connected = new Promise<net.Socket>((resolve) => {
      server.once('connection', (sock) => {
        server.close(); // one stream only
        resolve(sock);
      });
    });
    await setCapabilities(qmp, opts.ignoreShared ?? false);
    await qmp.execute('migrate-set-parameters', { 'max-bandwidth': UNLIMITED_BANDWIDTH });
    await qmp.execute('migrate', { uri: `unix:${opts.socketPath}` });
    const sock = await Promise.race([
      connected,
      sleep(opts.timeoutMs).then(() => {
        throw new VmmError(`${opts.what}: qemu did not connect to ${opts.socketPath}`);
      }),
    ]);
    copied = pipeline(sock, createWriteStream(opts.file, { flags: 'wx', mode: 0o600 /* guest RAM: root's alone */ }));
    copied.catch(() => undefined); // awaited below; avoid an unhandled rejection meanwhile
    await waitMigration(qmp, opts);
    await copied;
    const fh = await open(opts.file, 'r+');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    return (await stat(opts.file)).size;
  } catch (err) {
    await qmp.execute('migrate_cancel', undefined).catch(() => undefined);
    await copied?.catch(() => undefined);
    await unlinkQuiet(opts.file);
    throw err instanceof VmmError ? err : new VmmError(`${opts.what}: ${String(err)}`, { cause: err });
  } finally {
    server.close();
    await unlinkQuiet(opts.socketPath);
  }
}

/**
 * Feeds a saved migration stream into a qemu started with `-incoming defer`: has it listen on
 * `socketPath` (`migrate-incoming`), writes the file into the socket, and waits until qemu
 * reports the incoming migration `completed` and has left the `inmigrate` run state. Removes
 * the socket on every path. A qemu that cannot load the stream exits; that rejects with
 * VmmError (the caller adds qemu's stderr).
 */
export async function loadMigrationFromFile(
  qmp: QmpClient,
  opts: { socketPath: string; file: string; timeoutMs: number; gone: () => boolean; what: string; ignoreShared?: boolean },
): Promise<void> {
  await unlinkQuiet(opts.socketPath);
  try {
    await setCapabilities(qmp, opts.ignoreShared ?? false);
    await qmp.execute('migrate-incoming', { uri: `unix:${opts.socketPath}` });
    const sock = await connectUnixWhenReady(opts.socketPath, { timeoutMs: 10_000, gone: opts.gone, what: opts.what });
    // qemu closes its end once it has read the whole stream; EPIPE, a reset or a close before our
    // end() is seen after that is harmless: qemu's migration status (waited for below) decides.
    const fed = pipeline(createReadStream(opts.file), sock).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE' && err.code !== 'ECONNRESET' && err.code !== 'ERR_STREAM_PREMATURE_CLOSE') throw err;
    });
    fed.catch(() => undefined);
    await waitMigration(qmp, opts);
    await fed;
    const deadline = Date.now() + opts.timeoutMs;
    while ((await qmp.execute('query-status', undefined)).status === 'inmigrate') {
      if (Date.now() > deadline) throw new VmmError(`${opts.what}: qemu stayed in inmigrate`);
      await sleep(10);
    }
  } finally {
    await unlinkQuiet(opts.socketPath);
  }
}
