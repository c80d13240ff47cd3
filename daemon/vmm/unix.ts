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

/**
 * Connects to a unix socket that a just-started VMM is about to create, retrying until
 * `timeoutMs` passes or `gone()` says the VMM died. Rejects with VmmError.
 */
export async function connectUnixWhenReady(
  path: string,
  opts: { timeoutMs: number; gone?: () => boolean; what: string },
): Promise<net.Socket> {
  const deadline = Date.now() + opts.timeoutMs;
  let delay = 10;
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
    delay = Math.min(delay * 2, 200);
  }
}
