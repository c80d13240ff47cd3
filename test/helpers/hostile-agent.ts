/**
 * A malicious guest agent for hostile-guest tests (issue 12): the real protocol
 * module (Mux, frames, HELLO) on a real unix socket pair, with the real
 * AgentClient on the host end, and scripted attacks on the agent end.
 *
 * Usage:
 *
 *   const agent = await startHostileAgent({ capabilities: ['exec'], onRequest: (channel, request) => {
 *     if (request.op === 'exec') channel.send({ type: 'ready', value: { pid: 1 } });
 *   } });
 *   await agent.floodData(channelId, StreamId.Stdout, 64 << 20);   // ignores the window
 *   await agent.closed;                                             // the host dropped us
 *   agent.dispose();
 *
 * What a test gets:
 *   - `client`: the host's AgentClient (what hobd uses), connected through a real handshake;
 *   - `mux`: the agent end's real Mux, to script answers to specific requests (`onRequest`);
 *   - `socket` / `hostSocket`: the raw agent-side and host-side sockets (write raw bytes,
 *     pause reading, look at the host's unsent bytes with `hostSocket.writableLength`);
 *   - attack helpers below, each writing with backpressure on the agent socket, so the
 *     flood itself never buffers in the test process (whose memory stands for hobd's);
 *   - `closed`: resolves (with the error, if any) when the host end of the connection closes.
 *
 * Every attack writes frames the real encoder makes, except where the point is a
 * frame it would refuse (`rawFrame`: any kind byte, any length field).
 */
import type net from 'node:net';
import { AgentClient, type ConnectOptions } from '../../daemon/agent/index.js';
import { encodeFrame, FrameKind, HEADER_SIZE, MAGIC_0, MAGIC_1, Mux, PROTOCOL_VERSION_MAX, StreamId, type Channel } from '../../daemon/protocol/index.js';
import { unixSocketPair } from './socket-pair.js';

/** A request the host sent, unvalidated (the test knows what it expects). */
export interface HostileRequest {
  readonly op: string;
  readonly [field: string]: unknown;
}

export interface HostileAgentOptions {
  /** Capabilities the agent advertises in its HELLO. Default: every op a test usually needs. */
  readonly capabilities?: readonly string[];
  /** Called for every request the host sends; answer on `channel` (or don't). */
  readonly onRequest?: (channel: Channel, request: HostileRequest) => void;
  /** Options for AgentClient.connect. */
  readonly connect?: ConnectOptions;
}

export interface HostileAgent {
  readonly client: AgentClient;
  /** The agent end's Mux (real protocol). */
  readonly mux: Mux;
  /** Raw agent-side socket. */
  readonly socket: net.Socket;
  /** Raw host-side socket (the one AgentClient reads and writes). */
  readonly hostSocket: net.Socket;
  /** Requests the host sent, in order. */
  readonly requests: HostileRequest[];
  /** Resolves when the host's connection closes; the value is the close error (undefined for a clean close). */
  readonly closed: Promise<Error | undefined>;
  /** Bytes the host wrote that reached the agent socket (counted even while `stopReading` holds them). */
  readonly bytesFromHost: () => number;
  /** Writes raw bytes, waiting for the socket to drain. Resolves false once the connection is gone. */
  writeRaw(bytes: Buffer): Promise<boolean>;
  /** Stops reading what the host sends: the host's writes back up in its socket. */
  stopReading(): void;
  /** DATA frames on `channel`/`stream` totalling `totalBytes`, ignoring the host's window. */
  floodData(channel: number, stream: number, totalBytes: number, chunkBytes?: number): Promise<void>;
  /** `count` CONTROL frames, each on a channel id the host never opened. */
  floodControlOnUnknownChannels(count: number, firstChannel?: number): Promise<void>;
  /** `count` HELLO frames after the handshake. */
  floodHello(count: number, payloadBytes?: number): Promise<void>;
  /** `count` headers whose length field claims `claimedLength` bytes (no payload follows). */
  floodHugeLengths(count: number, claimedLength?: number, kind?: number): Promise<void>;
  /** `count` random frames (random kind/stream/channel/payload, some with valid magic), from a seeded PRNG. */
  floodRandomFrames(seed: number, count: number): Promise<void>;
  /** A header claiming `claimedLength` bytes, then only `sentBytes` of payload, trickled in `chunkBytes` pieces. */
  partialFrame(claimedLength: number, sentBytes: number, chunkBytes?: number): Promise<void>;
  dispose(): void;
}

export const DEFAULT_HOSTILE_CAPABILITIES = ['exec', 'ping', 'fs.read', 'fs.write', 'fs.stat', 'fs.list', 'tunnel', 'ports.watch', 'keep-awake.watch', 'sync', 'hello.nonce'];

/** A frame header+payload with whatever fields the caller likes, bypassing encodeFrame's checks. */
export function rawFrame(kind: number, channel: number, payload: Buffer = Buffer.alloc(0), stream = 0, lengthField = payload.length): Buffer {
  const header = Buffer.alloc(HEADER_SIZE);
  header[0] = MAGIC_0;
  header[1] = MAGIC_1;
  header[2] = kind & 0xff;
  header[3] = stream & 0xff;
  header.writeUInt32BE(channel >>> 0, 4);
  header.writeUInt32BE(lengthField >>> 0, 8);
  return Buffer.concat([header, payload]);
}

/**
 * Writes `bytes` to `socket` and waits until it drained. Resolves false once the socket is
 * gone (destroyed, not writable, or closed while waiting), so a flood never buffers in the writer.
 */
export async function writeDrained(socket: net.Socket, bytes: Buffer): Promise<boolean> {
  if (socket.destroyed || !socket.writable) return false;
  if (socket.write(bytes)) return true;
  return new Promise<boolean>((resolve) => {
    const done = (ok: boolean): void => {
      socket.off('drain', onDrain);
      socket.off('close', onClose);
      resolve(ok);
    };
    const onDrain = (): void => done(true);
    const onClose = (): void => done(false);
    socket.on('drain', onDrain);
    socket.on('close', onClose);
  });
}

/** mulberry32: a tiny seeded PRNG, so a failing random-frame run can be replayed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export async function startHostileAgent(options: HostileAgentOptions = {}): Promise<HostileAgent> {
  const { a: hostSocket, b: socket, dispose: disposePair } = await unixSocketPair();
  let fromHost = 0;
  socket.on('data', (chunk: Buffer) => (fromHost += chunk.length));
  socket.on('error', () => undefined);
  hostSocket.on('error', () => undefined);
  const mux = new Mux(socket);
  const requests: HostileRequest[] = [];
  const capabilities = options.capabilities ?? DEFAULT_HOSTILE_CAPABILITIES;
  mux.on('hello', (payload) => {
    const nonce = (payload as { nonce?: unknown } | null)?.nonce;
    mux.sendHello({
      role: 'agent',
      version: PROTOCOL_VERSION_MAX,
      agentVersion: 'hostile-test-agent',
      capabilities: [...capabilities],
      bootId: 'hostile',
      ...(typeof nonce === 'string' ? { nonce } : {}),
    });
  });
  mux.on('channel', (channel, first) => {
    if (first.type !== 'request') return;
    const request = first.request as HostileRequest;
    requests.push(request);
    options.onRequest?.(channel, request);
  });
  mux.on('protocolError', () => undefined);
  const client = await AgentClient.connect(hostSocket, options.connect);
  const closed = new Promise<Error | undefined>((resolve) => {
    if (client.isClosed) resolve(undefined);
    client.once('close', resolve);
  });
  let gone = false;
  void closed.then(() => (gone = true));

  const writeRaw = async (bytes: Buffer): Promise<boolean> => !gone && (await writeDrained(socket, bytes));

  /** Writes `count` frames made by `make`, in batches, until done or the host hangs up. */
  const writeMany = async (count: number, make: (i: number) => Buffer): Promise<void> => {
    const batch: Buffer[] = [];
    let batched = 0;
    for (let i = 0; i < count; i++) {
      const frame = make(i);
      batch.push(frame);
      batched += frame.length;
      if (batched >= 64 * 1024 || i === count - 1) {
        if (!(await writeRaw(Buffer.concat(batch)))) return;
        batch.length = 0;
        batched = 0;
      }
    }
  };

  return {
    client,
    mux,
    socket,
    hostSocket,
    requests,
    closed,
    bytesFromHost: () => fromHost,
    writeRaw,
    stopReading: () => {
      // Detach the Mux's reader and stop the socket: nothing more is read from the kernel.
      socket.pause();
      socket.removeAllListeners('data');
    },
    floodData: async (channel, stream, totalBytes, chunkBytes = 64 * 1024) => {
      const payload = Buffer.alloc(chunkBytes, 0x61);
      const frames = Math.ceil(totalBytes / chunkBytes);
      await writeMany(frames, () => encodeFrame(FrameKind.Data, channel, payload, stream));
    },
    floodControlOnUnknownChannels: async (count, firstChannel = 0x4000_0000) => {
      const payload = Buffer.from(JSON.stringify({ type: 'result', value: {} }));
      await writeMany(count, (i) => encodeFrame(FrameKind.Control, firstChannel + i, payload));
    },
    floodHello: async (count, payloadBytes = 0) => {
      const hello = { role: 'agent', version: PROTOCOL_VERSION_MAX, agentVersion: 'x'.repeat(Math.max(1, payloadBytes)), capabilities: [], bootId: 'hostile' };
      const payload = Buffer.from(JSON.stringify(hello));
      await writeMany(count, () => rawFrame(FrameKind.Hello, 0, payload));
    },
    floodHugeLengths: async (count, claimedLength = 0xffff_ffff, kind = FrameKind.Data) => {
      await writeMany(count, (i) => rawFrame(kind, i + 1, Buffer.alloc(0), StreamId.Stdout, claimedLength));
    },
    floodRandomFrames: async (seed, count) => {
      const random = seededRandom(seed);
      const byte = (): number => Math.floor(random() * 256);
      await writeMany(count, () => {
        const length = Math.floor(random() ** 3 * 4096);
        const payload = Buffer.alloc(length);
        for (let j = 0; j < length; j++) payload[j] = byte();
        const roll = random();
        if (roll < 0.2) return payload; // pure garbage
        const kind = roll < 0.6 ? 1 + Math.floor(random() * 6) : byte();
        const channel = random() < 0.5 ? Math.floor(random() * 4) : Math.floor(random() * 2 ** 32);
        const lengthField = random() < 0.1 ? Math.floor(random() * 2 ** 32) : length;
        return rawFrame(kind, channel, payload, Math.floor(random() * 4), lengthField);
      });
    },
    partialFrame: async (claimedLength, sentBytes, chunkBytes = 16) => {
      if (!(await writeRaw(rawFrame(FrameKind.Control, 1, Buffer.alloc(0), 0, claimedLength)))) return;
      const chunk = Buffer.alloc(chunkBytes, 0x20);
      for (let sent = 0; sent < sentBytes; sent += chunkBytes) {
        if (!(await writeRaw(chunk.subarray(0, Math.min(chunkBytes, sentBytes - sent))))) return;
        // Let the host read each piece separately, as a trickling guest would make it.
        if ((sent / chunkBytes) % 64 === 0) await new Promise((resolve) => setImmediate(resolve));
      }
    },
    dispose: () => {
      client.close();
      disposePair();
    },
  };
}

/** Forces a full GC (when the runtime allows it) and returns the bytes the process retains (heap + buffers). */
export async function retainedBytes(): Promise<number> {
  const gc = await loadGc();
  for (let i = 0; i < 2; i++) {
    gc?.();
    await new Promise((resolve) => setImmediate(resolve));
  }
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
}

let gcFn: (() => void) | null | undefined;
async function loadGc(): Promise<(() => void) | null> {
  if (gcFn !== undefined) return gcFn;
  const v8 = await import('node:v8');
  const vm = await import('node:vm');
  v8.setFlagsFromString('--expose-gc');
  gcFn = (vm.runInNewContext('gc') as (() => void) | undefined) ?? null;
  return gcFn;
}
