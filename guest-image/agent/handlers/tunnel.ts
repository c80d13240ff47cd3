/**
 * tunnel: a TCP connection from inside the guest, relayed raw. Stdin -> socket,
 * socket -> Stdout; an EOF either way half-closes the other side. The channel
 * closes when both directions have ended, on a socket error (after an `error`
 * message), or when the host closes it (the socket is then destroyed).
 */
import net from 'node:net';
import { StreamId, type Channel, type RequestOf } from '../../../daemon/protocol/index.js';

export async function handleTunnel(req: RequestOf<'tunnel'>, channel: Channel): Promise<void> {
  const socket = net.connect({ host: req.host, port: req.port, allowHalfOpen: true });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  if (channel.isClosed) {
    socket.destroy();
    return;
  }
  socket.setNoDelay(true);
  channel.send({ type: 'ready', value: {} });

  const out = channel.writable(StreamId.Stdout);
  const input = channel.readable(StreamId.Stdin);
  let inputDone = false;
  let outputDone = false;
  const maybeClose = (): void => {
    if (inputDone && outputDone) {
      socket.destroy();
      channel.close();
    }
  };

  socket.on('error', (err: NodeJS.ErrnoException) => {
    if (!channel.isClosed) channel.send({ type: 'error', code: err.code ?? 'EIO', message: err.message });
    channel.close();
  });
  out.on('error', () => socket.destroy());
  socket.pipe(out); // socket end -> EOF on Stdout
  out.on('finish', () => {
    outputDone = true;
    maybeClose();
  });
  input.pipe(socket, { end: false });
  input.on('end', () => {
    if (!channel.receivedEof(StreamId.Stdin)) return; // channel closed: handled below
    socket.end(); // host's EOF -> FIN
    inputDone = true;
    maybeClose();
  });
  channel.once('close', () => socket.destroy());
}
