import { createHash, randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeFrame, FrameDecoder, FrameKind, INITIAL_WINDOW, Mux, StreamId, type Channel, type ChannelMessage } from '../../daemon/protocol/index.js';
import { unixSocketPair } from '../helpers/socket-pair.js';

describe('FrameDecoder', () => {
  it('decodes frames split at every byte boundary', () => {
    const frames = Buffer.concat([
      encodeFrame(FrameKind.Control, 7, Buffer.from('{"type":"ready","value":{}}')),
      encodeFrame(FrameKind.Data, 7, Buffer.from('hello'), StreamId.Stderr),
      encodeFrame(FrameKind.Close, 7),
    ]);
    const decoder = new FrameDecoder();
    const out = [];
    for (const byte of frames) out.push(...decoder.push(Buffer.from([byte])));
    expect(out.map((f) => f.kind)).toEqual([FrameKind.Control, FrameKind.Data, FrameKind.Close]);
    expect(out[1]?.stream).toBe(StreamId.Stderr);
    expect(out[1]?.payload.toString()).toBe('hello');
    expect(out.every((f) => f.channel === 7)).toBe(true);
  });

  it('resynchronises after garbage such as a half frame from an earlier connection', () => {
    const decoder = new FrameDecoder();
    const half = encodeFrame(FrameKind.Data, 1, Buffer.alloc(100)).subarray(0, 30);
    const good = encodeFrame(FrameKind.Hello, 0, Buffer.from('{"role":"host"}'));
    const out = decoder.push(Buffer.concat([Buffer.from('junk'), half.subarray(12), good]));
    expect(out).toHaveLength(1);
    expect(out[0]?.kind).toBe(FrameKind.Hello);
    expect(decoder.skippedBytes).toBeGreaterThan(0);
  });

  it('rejects an oversized length instead of waiting for it forever', () => {
    const decoder = new FrameDecoder();
    const bad = encodeFrame(FrameKind.Data, 1, Buffer.alloc(4));
    bad.writeUInt32BE(0xffffffff, 8);
    const good = encodeFrame(FrameKind.Close, 3);
    const out = decoder.push(Buffer.concat([bad, good]));
    expect(out.map((f) => f.channel)).toEqual([3]);
  });
});

describe('Mux', () => {
  let dispose: (() => void) | undefined;
  afterEach(() => dispose?.());

  async function pair(): Promise<{ host: Mux; agent: Mux }> {
    const p = await unixSocketPair();
    dispose = p.dispose;
    return { host: new Mux(p.a), agent: new Mux(p.b) };
  }

  it('delivers a request as a new channel and the answer back', async () => {
    const { host, agent } = await pair();
    agent.on('channel', (channel: Channel, first: ChannelMessage) => {
      expect(first.type).toBe('request');
      channel.send({ type: 'result', value: { echoed: first.type === 'request' ? first.request : null } });
      channel.close();
    });
    const channel = host.openChannel();
    const answer = new Promise<ChannelMessage>((resolve) => channel.once('control', resolve));
    const closed = new Promise((resolve) => channel.once('close', resolve));
    channel.send({ type: 'request', request: { op: 'ping' } });
    expect(await answer).toEqual({ type: 'result', value: { echoed: { op: 'ping' } } });
    await closed;
    expect(channel.isClosed).toBe(true);
  });

  it('moves 8 MiB through a slow reader while buffering at most one window', async () => {
    const { host, agent } = await pair();
    const data = randomBytes(8 * 1024 * 1024);
    const received = new Promise<{ hash: string; maxBuffered: number; highWaterMark: number }>((resolve) => {
      agent.on('channel', (channel) => {
        const readable = channel.readable(StreamId.Stdin);
        const hash = createHash('sha256');
        let maxBuffered = 0;
        let ended = false;
        readable.once('end', () => { ended = true; });
        readable.pause();
        const timer = setInterval(() => {
          maxBuffered = Math.max(maxBuffered, readable.readableLength);
          let chunk: Buffer | null;
          let taken = 0;
          while (taken < 512 * 1024 && (chunk = readable.read() as Buffer | null) !== null) {
            hash.update(chunk);
            taken += chunk.length;
          }
          if (ended) {
            clearInterval(timer);
            resolve({ hash: hash.digest('hex'), maxBuffered, highWaterMark: readable.readableHighWaterMark });
          }
        }, 5);
      });
    });
    const channel = host.openChannel();
    channel.send({ type: 'request', request: { op: 'fs.write', path: '/x' } });
    await channel.sendData(StreamId.Stdin, data);
    channel.sendEof(StreamId.Stdin);
    const result = await received;
    expect(result.hash).toBe(createHash('sha256').update(data).digest('hex'));
    // Bounded by the credit window plus what the Readable itself buffers before asking for more.
    expect(result.maxBuffered).toBeLessThanOrEqual(INITIAL_WINDOW + result.highWaterMark);
    expect(result.maxBuffered).toBeLessThan(data.length / 4);
  });

  it('closes every channel with an error when the connection drops', async () => {
    const { host } = await pair();
    const channel = host.openChannel();
    const closed = new Promise<Error | undefined>((resolve) => channel.once('close', resolve));
    dispose?.();
    dispose = undefined;
    const error = await closed;
    expect(error).toBeInstanceOf(Error);
    expect(() => host.openChannel()).toThrow(/closed/);
  });

  it('tells a stream ended by EOF from one abandoned by a channel close', async () => {
    const { host, agent } = await pair();
    const ends = new Map<number, { eof: boolean; data: string }>();
    const done = new Promise<void>((resolve) => {
      agent.on('channel', (channel) => {
        const readable = channel.readable(StreamId.Stdin);
        let data = '';
        readable.on('data', (d: Buffer) => (data += d.toString()));
        readable.on('end', () => {
          ends.set(channel.id, { eof: channel.receivedEof(StreamId.Stdin), data });
          if (ends.size === 2) resolve();
        });
      });
    });
    const complete = host.openChannel();
    complete.send({ type: 'request', request: { op: 'fs.write', path: '/a' } });
    await complete.sendData(StreamId.Stdin, Buffer.from('all'));
    complete.sendEof(StreamId.Stdin);
    const abandoned = host.openChannel();
    abandoned.send({ type: 'request', request: { op: 'fs.write', path: '/b' } });
    await abandoned.sendData(StreamId.Stdin, Buffer.from('half'));
    abandoned.close();
    await done;
    expect(ends.get(complete.id)).toEqual({ eof: true, data: 'all' });
    expect(ends.get(abandoned.id)).toEqual({ eof: false, data: 'half' });
  });

  it('reports invalid control messages without dropping the connection', async () => {
    const { host, agent } = await pair();
    const errors: Error[] = [];
    agent.on('protocolError', (e) => errors.push(e));
    const channel = host.openChannel();
    host.writeFrame(encodeFrame(FrameKind.Control, channel.id, Buffer.from('{"type":"bogus"}')));
    const ok = new Promise<ChannelMessage>((resolve) => agent.once('channel', (_c, first) => resolve(first)));
    channel.send({ type: 'request', request: { op: 'ping' } });
    expect((await ok).type).toBe('request');
    expect(errors.length).toBe(1);
  });
});
