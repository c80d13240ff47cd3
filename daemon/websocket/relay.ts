/**
 * A raw byte relay between a websocket and a stream (a guest tunnel on the
 * daemon's side of `WSS .../proxy`, a local TCP connection or stdin/stdout on
 * the CLI's side). Every binary message is a chunk of the byte stream; text
 * messages after the handshake are treated as bytes too.
 *
 * Flow control works both ways: a stream that does not take more pauses the
 * websocket (the peer's sends then back up in TCP), and a websocket whose
 * sends are not flushed pauses the stream.
 *
 * Half-close (a hob extension, negotiated in the proxy handshake with
 * `half_close: true`): an empty binary message means "no more bytes this way"
 * (TCP cannot express an empty write, so no real chunk is ever empty). The
 * websocket is closed once both directions have ended. Without it (Sprites
 * clients), the end of the stream closes the websocket, and the websocket's
 * close ends the stream.
 */
import type { Duplex } from 'node:stream';
import { WebSocket, type RawData } from 'ws';
import { closeReason } from './close-reason.js';

/** Bytes handed to the websocket and not yet flushed above which the stream is paused (resumed below half). */
export const RELAY_HIGH_WATER = 1024 * 1024;
/**
 * After the websocket is gone, how long the stream may take to deliver what it
 * was given and finish before it is destroyed (a guest server that never
 * closes its side would otherwise keep the tunnel open for ever).
 */
export const RELAY_LINGER_MS = 10_000;
/** Close code used when the relayed stream failed. */
export const CLOSE_STREAM_FAILED = 1011;

export interface RelayOptions {
  /** Use the empty-message EOF convention (both ends must agree). */
  readonly halfClose: boolean;
  /** Messages that arrived before the relay started (after the handshake), in order. */
  readonly pending?: readonly RawData[];
  /** Called once, when both the websocket and the stream are finished with. */
  readonly onDone?: (error: Error | undefined) => void;
}

export function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

/** Relays bytes between `ws` (open) and `stream` until both are done; see the module comment. */
export function relay(ws: WebSocket, stream: Duplex, options: RelayOptions): void {
  let inflight = 0;
  let streamPaused = false;
  let peerEnded = false; // no more bytes will come from the websocket
  let localEnded = false; // the stream's readable side ended
  let wsGone = false;
  let streamGone = false;
  let failure: Error | undefined;
  let lingerTimer: NodeJS.Timeout | undefined;
  let done = false;

  const finish = (): void => {
    if (done || !wsGone || !streamGone) return;
    done = true;
    if (lingerTimer) clearTimeout(lingerTimer);
    options.onDone?.(failure);
  };

  const closeWs = (code: number, reason: string): void => {
    if (ws.readyState === WebSocket.OPEN) ws.close(code, closeReason(reason));
    else if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
  };

  // ---- websocket -> stream
  const endStream = (): void => {
    if (peerEnded) return;
    peerEnded = true;
    if (!stream.destroyed && !stream.writableEnded) stream.end();
    // An ended stream emits no more 'drain': read on, or the peer's close frame is never seen.
    if (ws.isPaused && ws.readyState === WebSocket.OPEN) ws.resume();
  };
  const onMessage = (data: RawData): void => {
    const chunk = toBuffer(data);
    if (peerEnded) return;
    if (chunk.length === 0) {
      if (options.halfClose) endStream();
      return;
    }
    if (stream.destroyed || stream.writableEnded) return;
    if (!stream.write(chunk) && !ws.isPaused) {
      ws.pause();
      stream.once('drain', () => {
        if (ws.readyState === WebSocket.OPEN && !peerEnded) ws.resume();
      });
    }
  };

  // ---- stream -> websocket
  const onData = (chunk: Buffer): void => {
    if (ws.readyState !== WebSocket.OPEN || chunk.length === 0) return;
    inflight += chunk.length;
    ws.send(chunk, { binary: true }, () => {
      inflight -= chunk.length;
      if (streamPaused && inflight < RELAY_HIGH_WATER / 2) {
        streamPaused = false;
        stream.resume();
      }
    });
    if (!streamPaused && inflight > RELAY_HIGH_WATER) {
      streamPaused = true;
      stream.pause();
    }
  };
  const onEnd = (): void => {
    localEnded = true;
    if (ws.readyState !== WebSocket.OPEN) return;
    if (!options.halfClose) {
      closeWs(1000, '');
      return;
    }
    ws.send(Buffer.alloc(0), { binary: true });
    // The side that sees both directions end closes; ws sends queued messages before the close frame.
    if (peerEnded) closeWs(1000, '');
  };

  ws.on('message', onMessage);
  ws.on('error', () => undefined); // 'close' follows
  ws.once('close', () => {
    wsGone = true;
    ws.off('message', onMessage);
    // A close without the EOF message (a Sprites client, or the connection dropped): end what we were given.
    endStream();
    if (!stream.destroyed) {
      // Nobody reads any more: drop what the stream still produces. It closes by itself once
      // both of its sides are done (a guest server closes after our EOF); if it does not, it is
      // destroyed after a while. Destroying it at once could lose bytes still on their way in.
      stream.off('data', onData);
      stream.resume();
      lingerTimer = setTimeout(() => stream.destroy(), RELAY_LINGER_MS);
      lingerTimer.unref();
    }
    finish();
  });

  stream.on('data', onData);
  stream.once('end', onEnd);
  stream.on('error', (err: Error) => {
    failure = err;
    closeWs(CLOSE_STREAM_FAILED, err.message);
  });
  stream.once('close', () => {
    streamGone = true;
    if (ws.isPaused && ws.readyState === WebSocket.OPEN) ws.resume();
    // A stream that closed without ending its readable side (destroyed, reset): the websocket has nothing left to relay.
    if (!localEnded) closeWs(failure ? CLOSE_STREAM_FAILED : 1000, failure?.message ?? '');
    else if (peerEnded || !options.halfClose) closeWs(1000, '');
    finish();
  });

  for (const data of options.pending ?? []) onMessage(data);
}
