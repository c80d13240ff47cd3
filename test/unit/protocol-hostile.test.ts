/**
 * A hostile guest agent against the real AgentClient (issue 12, finding 3 and
 * the protocol parts of 5): over the real protocol on a real socket pair, the
 * agent end breaks every rule of the wire protocol. For each attack: the host's
 * retained memory (heap + buffers, after a GC) grows by less than a stated bound,
 * and the connection is dropped where the Mux's policy says so (see mux.ts).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AgentError } from '../../daemon/errors.js';
import { encodeFrame, FrameDecoder, FrameKind, INITIAL_WINDOW, MAX_PAYLOAD, MAX_UNSENT_BYTES, StreamId, type Channel } from '../../daemon/protocol/index.js';
import { RUN_OUTPUT_LIMIT } from '../../daemon/agent/client.js';
import { retainedBytes, startHostileAgent, type HostileAgent } from '../helpers/hostile-agent.js';

/**
 * Largest growth of the host's retained bytes an attack may cause: a few
 * windows (INITIAL_WINDOW, 1 MiB, plus what the Readables buffer) and the
 * decoder's one partial frame, with slack for the test's own allocations.
 * Every flood below sends 16-64x this.
 */
const RETAINED_BOUND = 8 * 1024 * 1024;
const FLOOD = 64 * 1024 * 1024;

const until = async (what: string, cond: () => boolean, timeoutMs = 20_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

/** An exec the agent answers `ready` for; resolves with the agent's end of its channel. */
function execAnswering(): { onRequest: (channel: Channel) => void; channel: Promise<Channel> } {
  let resolve!: (c: Channel) => void;
  const channel = new Promise<Channel>((r) => (resolve = r));
  return {
    onRequest: (c) => {
      c.send({ type: 'ready', value: { pid: 42 } });
      resolve(c);
    },
    channel,
  };
}

describe('a hostile guest agent against the host protocol stack', () => {
  let agent: HostileAgent | undefined;
  afterEach(() => {
    agent?.dispose();
    agent = undefined;
  });

  it('drops the connection of an agent that overruns the window, without buffering the flood', async () => {
    const exec = execAnswering();
    agent = await startHostileAgent({ onRequest: exec.onRequest });
    const before = await retainedBytes();
    const proc = await agent.client.exec({ argv: ['cat'] });
    const channel = await exec.channel;
    // The host never reads stdout: a well-behaved agent would stop after INITIAL_WINDOW.
    await agent.floodData(channel.id, StreamId.Stdout, FLOOD);
    const grown = (await retainedBytes()) - before;
    expect(agent.client.isClosed).toBe(true);
    expect(await agent.closed).toBeInstanceOf(Error);
    await expect(proc.exited).rejects.toBeInstanceOf(AgentError);
    expect(grown).toBeLessThan(RETAINED_BOUND);
  });

  it('drops the connection of an agent sending DATA on a stream id that does not exist', async () => {
    const exec = execAnswering();
    agent = await startHostileAgent({ onRequest: exec.onRequest });
    await agent.client.exec({ argv: ['cat'] });
    const channel = await exec.channel;
    await agent.floodData(channel.id, 7, 4 * 1024 * 1024);
    expect(await agent.closed).toBeInstanceOf(Error);
  });

  it('answers nothing to CONTROL frames on channels it never opened, even when the agent never reads', async () => {
    agent = await startHostileAgent();
    agent.stopReading();
    const before = await retainedBytes();
    await agent.floodControlOnUnknownChannels(400_000);
    await new Promise((r) => setTimeout(r, 50));
    expect(agent.hostSocket.writableLength).toBe(0);
    expect((await retainedBytes()) - before).toBeLessThan(RETAINED_BOUND);
    expect(agent.client.isClosed).toBe(false);
  });

  it('coalesces window grants: 1-byte DATA frames within the window do not make the host write a frame each', async () => {
    const exec = execAnswering();
    agent = await startHostileAgent({ onRequest: exec.onRequest });
    const proc = await agent.client.exec({ argv: ['cat'] });
    const channel = await exec.channel;
    let received = 0;
    proc.stdout.on('data', (d: Buffer) => (received += d.length));
    proc.stderr.resume();
    const sentBefore = agent.hostSocket.bytesWritten;
    // Exactly the window the host granted, in 1-byte frames.
    await agent.floodData(channel.id, StreamId.Stdout, INITIAL_WINDOW, 1);
    await until('all bytes delivered', () => received === INITIAL_WINDOW);
    const written = agent.hostSocket.bytesWritten - sentBefore;
    // One 16-byte WINDOW frame per 1-byte DATA frame would be 16 MiB.
    expect(written).toBeLessThan(64 * 1024);
    expect(agent.client.isClosed).toBe(false);
  });

  it('drops the connection of an agent that never reads once hob has MAX_UNSENT_BYTES queued for it', async () => {
    agent = await startHostileAgent();
    agent.stopReading();
    const client = agent.client;
    const long = '/' + 'x'.repeat(4000);
    const calls: Array<Promise<unknown>> = [];
    for (let i = 0; i < (2 * MAX_UNSENT_BYTES) / 4000 && !client.isClosed; i++) {
      calls.push(client.stat(long).catch((err: unknown) => err));
      if (i % 500 === 0) await new Promise((r) => setImmediate(r));
    }
    await until('the connection to drop', () => client.isClosed, 5000);
    expect(agent.hostSocket.writableLength).toBeLessThanOrEqual(MAX_UNSENT_BYTES + MAX_PAYLOAD);
    for (const result of await Promise.all(calls)) expect(result).toBeInstanceOf(AgentError);
  });

  it('does not allocate for a length field claiming 4 GiB, and drops an agent that sends only garbage', async () => {
    agent = await startHostileAgent();
    const before = await retainedBytes();
    await agent.floodHugeLengths(1, 0xffff_ffff, FrameKind.Control);
    expect((await retainedBytes()) - before).toBeLessThan(RETAINED_BOUND);
    await agent.floodHugeLengths(1_000_000, 0xffff_ffff);
    expect(await agent.closed).toBeInstanceOf(Error);
    expect((await retainedBytes()) - before).toBeLessThan(RETAINED_BOUND);
  });

  it('drops the connection after a flood of HELLOs following the handshake', async () => {
    agent = await startHostileAgent();
    await agent.floodHello(10_000, 1000);
    expect(await agent.closed).toBeInstanceOf(Error);
  });

  it('keeps bounded memory under a partial frame trickled in small pieces', async () => {
    agent = await startHostileAgent();
    const before = await retainedBytes();
    await agent.partialFrame(MAX_PAYLOAD, MAX_PAYLOAD - 100, 64);
    expect((await retainedBytes()) - before).toBeLessThan(RETAINED_BOUND);
    expect(agent.client.isClosed).toBe(false);
  });

  it('survives seeded random frames: memory stays bounded, and the client still works or was dropped', async () => {
    for (const seed of [1, 2, 3]) {
      agent = await startHostileAgent({ onRequest: (c, r) => r.op === 'ping' && c.send({ type: 'result', value: { uptimeMs: 1 } }) });
      const before = await retainedBytes();
      await agent.floodRandomFrames(seed, 20_000);
      expect((await retainedBytes()) - before).toBeLessThan(RETAINED_BOUND);
      if (!agent.client.isClosed) {
        // Our own frames come after the garbage; a partial random frame may swallow some, so resync with a burst of pings.
        await agent.writeRaw(Buffer.alloc(MAX_PAYLOAD + 16, 0));
        expect(await agent.client.ping()).toBe(1);
      }
      agent.dispose();
      agent = undefined;
    }
  });

  it('run() refuses output beyond RUN_OUTPUT_LIMIT instead of buffering it', async () => {
    agent = await startHostileAgent({
      onRequest: (c) => {
        c.send({ type: 'ready', value: { pid: 42 } });
        // A well-behaved flood: it honours the window, the host reads as fast as it can.
        const out = c.writable(StreamId.Stdout);
        const chunk = Buffer.alloc(64 * 1024, 0x62);
        let sent = 0;
        const pump = (): void => {
          while (sent < FLOOD && !c.isClosed) {
            sent += chunk.length;
            if (!out.write(chunk)) return void out.once('drain', pump);
          }
        };
        out.on('error', () => undefined);
        pump();
      },
    });
    const before = await retainedBytes();
    await expect(agent.client.run(['yes'])).rejects.toThrow(/output/);
    expect((await retainedBytes()) - before).toBeLessThan(RETAINED_BOUND + RUN_OUTPUT_LIMIT);
  });
});

describe('FrameDecoder bounds', () => {
  it('copies each byte of a frame sent in small pieces a bounded number of times (no quadratic re-copy)', () => {
    const frame = encodeFrame(FrameKind.Control, 1, Buffer.alloc(MAX_PAYLOAD, 0x20));
    const decoder = new FrameDecoder();
    const originalConcat = Buffer.concat;
    let copied = 0;
    const concat = vi.spyOn(Buffer, 'concat').mockImplementation((list, total) => {
      const out = originalConcat.call(Buffer, list, total);
      copied += out.length;
      return out;
    });
    let frames = 0;
    try {
      for (let offset = 0; offset < frame.length; offset += 256) frames += decoder.push(frame.subarray(offset, offset + 256)).length;
    } finally {
      concat.mockRestore();
    }
    expect(frames).toBe(1);
    expect(copied).toBeLessThan(4 * frame.length);
  });

  it('rejects a DATA frame longer than MAX_DATA_CHUNK and a WINDOW frame that is not 4 bytes, as garbage', () => {
    const decoder = new FrameDecoder();
    const bigData = encodeFrame(FrameKind.Data, 1, Buffer.alloc(512 * 1024), StreamId.Stdout);
    const badWindow = encodeFrame(FrameKind.Window, 1, Buffer.alloc(4096));
    const good = encodeFrame(FrameKind.Close, 9);
    const out = decoder.push(Buffer.concat([bigData.subarray(0, 12), badWindow.subarray(0, 12), good]));
    expect(out.map((f) => f.channel)).toEqual([9]);
  });
});
