/** A TCP connection made inside the guest, as a Duplex on the host (AgentClient.openTunnel). */
import { Duplex, type Readable } from 'node:stream';
import { GuestError } from '../errors.js';
import { StreamId, type Channel } from '../protocol/index.js';
import { lostChannel } from './answer.js';

/**
 * Half-close works both ways: end() sends EOF (the guest socket gets a FIN),
 * and the readable side ends when the guest peer closes its side. destroy()
 * closes the channel and the agent drops the guest connection. A reset in the
 * guest arrives as an 'error' (GuestError, ECONNRESET).
 *
 * The agent decides when a tunnel fails, possibly in the same read as its
 * `ready` (before whoever opened the tunnel got it and listened): the stream
 * therefore has an 'error' listener of its own from the moment it exists, so
 * such an error can never be an uncaught exception in hobd. The failure stays
 * readable as `errored`; `ensureUsable` turns a tunnel that failed before it
 * was handed over into a rejection.
 */
export class TunnelStream extends Duplex {
  private readonly incoming: Readable;

  constructor(private readonly channel: Channel, what: string) {
    super({ allowHalfOpen: true });
    // Consumers attach their own listeners; this one only keeps an early error from being fatal.
    this.on('error', () => undefined);
    this.incoming = channel.readable(StreamId.Stdout);
    this.incoming.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) this.incoming.pause();
    });
    this.incoming.on('end', () => {
      if (channel.receivedEof(StreamId.Stdout)) this.push(null);
    });
    channel.on('control', (message) => {
      if (message.type === 'error') this.destroy(new GuestError(message.code, `${what}: ${message.message}`));
    });
    channel.once('close', (error) => {
      if (this.destroyed) return;
      // Closed by the agent after both directions ended: a normal end.
      if (!error && channel.receivedEof(StreamId.Stdout) && this.writableFinished) return;
      this.destroy(lostChannel(what, error));
    });
  }

  override _read(): void {
    this.incoming.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.channel.sendData(StreamId.Stdin, chunk).then(() => callback(), (err: Error) => callback(err));
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.channel.sendEof(StreamId.Stdin);
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.channel.close();
    callback(error);
  }
}

/**
 * The tunnel if it is still usable when its opener gets it, or else (the
 * agent answered `ready` and then `error` or CLOSE at once) throws its failure,
 * so that no caller is handed a stream whose 'error' and 'close' already passed.
 */
export function ensureUsable(tunnel: TunnelStream, what: string): TunnelStream {
  if (!tunnel.destroyed) return tunnel;
  throw tunnel.errored ?? lostChannel(what, undefined);
}
