/**
 * Host side of cloud-hypervisor's vsock-over-unix-socket muxer (the Firecracker scheme):
 * connect to the VM's vsock unix socket, send `CONNECT <port>\n`, read `OK <host port>\n`;
 * from then on the unix connection is the guest's AF_VSOCK stream. If nothing in the guest
 * listens on the port, CH closes the connection instead of answering.
 */
import type net from 'node:net';
import { VmmError } from '../../errors.js';
import { connectUnixOnce } from '../unix.js';

export { AGENT_VSOCK_PORT } from '../../protocol/constants.js';

const MAX_REPLY = 64;

/**
 * Performs the CONNECT handshake on a connected socket. Bytes that arrive after the OK line
 * (the guest may speak first) are pushed back into the socket, so the caller reads them.
 * Rejects with VmmError (and destroys the socket) on a refusal, garbage or timeout.
 */
export function vsockHandshake(sock: net.Socket, port: number, timeoutMs = 5_000): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const fail = (msg: string): void => {
      cleanup();
      sock.destroy();
      reject(new VmmError(`vsock CONNECT ${port}: ${msg}`));
    };
    // Paused-mode reads ('readable' + read()): once the listener is removed the socket is back
    // in its initial state, so the caller's 'data' listener or pipe() starts the flow.
    // (An explicit pause() would leave it paused for a 'data' listener; flowing mode would
    // drop the bytes after the OK line.)
    const onReadable = (): void => {
      let chunk: Buffer | null;
      while ((chunk = sock.read() as Buffer | null) !== null) {
        buf = Buffer.concat([buf, chunk]);
        const nl = buf.indexOf(0x0a);
        if (nl < 0) {
          if (buf.length > MAX_REPLY) fail('reply too long');
          continue;
        }
        const line = buf.subarray(0, nl).toString('utf8').trim();
        const rest = buf.subarray(nl + 1);
        if (!/^OK \d+$/.test(line)) {
          fail(`unexpected reply ${JSON.stringify(line.slice(0, MAX_REPLY))}`);
          return;
        }
        cleanup();
        if (rest.length > 0) sock.unshift(rest);
        resolve(sock);
        return;
      }
    };
    const onClose = (): void => fail('connection closed (nothing listens on that port in the guest?)');
    const onError = (err: Error): void => fail(err.message);
    const timer = setTimeout(() => fail(`no reply within ${timeoutMs} ms`), timeoutMs);
    const cleanup = (): void => {
      clearTimeout(timer);
      sock.off('readable', onReadable);
      sock.off('close', onClose);
      sock.off('error', onError);
    };
    sock.on('readable', onReadable);
    sock.on('close', onClose);
    sock.on('error', onError);
    sock.write(`CONNECT ${port}\n`);
  });
}

/** Connects to the guest's vsock `port` through CH's unix socket at `socketPath`. */
export async function connectVsock(socketPath: string, port: number, timeoutMs = 5_000): Promise<net.Socket> {
  let sock: net.Socket;
  try {
    sock = await connectUnixOnce(socketPath);
  } catch (err) {
    throw new VmmError(`cannot connect to vsock socket ${socketPath}: ${(err as Error).message}`, { cause: err });
  }
  return vsockHandshake(sock, port, timeoutMs);
}
