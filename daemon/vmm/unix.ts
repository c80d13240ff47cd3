import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { VmmError } from '../errors.js';

/** Connects to a unix socket once. Rejects with the raw error (ENOENT, ECONNREFUSED, ...). */
export function connectUnixOnce(path: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(path);
    const onError = (err: Error): void => {
      sock.destroy();
      reject(err);
    };
    sock.once('error', onError);
    sock.once('connect', () => {
      sock.off('error', onError);
      resolve(sock);
    });
  });
}

/** Retry every this many ms while a VMM is starting: its socket usually appears within ~100-300 ms. */
const FAST_RETRY_MS = 10;
/** For this long; then the retries back off to at most RETRY_MAX_MS (a VMM that takes that long is slow anyway). */
const FAST_RETRY_FOR_MS = 2_000;
const RETRY_MAX_MS = 200;

/**
 * Connects to a unix socket that a just-started VMM is about to create, retrying until
 * `timeoutMs` passes or `gone()` says the VMM died. Rejects with VmmError. The retries are
 * frequent at first: each one is a failed connect() (cheap), while a backoff from the start
 * left a warm create waiting ~50 ms on average after QEMU's QMP socket had appeared.
 */
export async function connectUnixWhenReady(
  path: string,
  opts: { timeoutMs: number; gone?: () => boolean; what: string },
): Promise<net.Socket> {
  const started = Date.now();
  const deadline = started + opts.timeoutMs;
  let delay = FAST_RETRY_MS;
  let last: unknown;
  for (;;) {
    try {
      return await connectUnixOnce(path);
    } catch (err) {
      last = err;
    }
    if (opts.gone?.()) throw new VmmError(`${opts.what}: the VMM exited before ${path} accepted connections`);
    if (Date.now() >= deadline) {
      throw new VmmError(`${opts.what}: ${path} did not accept connections within ${opts.timeoutMs} ms`, {
        cause: last,
      });
    }
    await sleep(delay);
    if (Date.now() - started > FAST_RETRY_FOR_MS) delay = Math.min(delay * 2, RETRY_MAX_MS);
  }
}
