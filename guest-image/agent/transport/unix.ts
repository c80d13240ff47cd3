/** A unix-socket listener: each connection is one host session. */
import { lstat, mkdir, unlink } from 'node:fs/promises';
import net from 'node:net';
import { dirname } from 'node:path';

/** Listens on `path` (replacing a stale socket there, never another kind of file), mode 0600. */
export async function listenUnix(path: string, onConnection: (socket: net.Socket) => void): Promise<net.Server> {
  await mkdir(dirname(path), { recursive: true });
  try {
    if ((await lstat(path)).isSocket()) await unlink(path);
  } catch {
    // nothing there
  }
  const server = net.createServer({ allowHalfOpen: false }, (socket) => {
    socket.on('error', () => undefined); // the session sees the close; an error event alone must not crash
    onConnection(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const previous = process.umask(0o177);
    server.listen(path, () => {
      process.umask(previous);
      resolve();
    });
  });
  return server;
}
