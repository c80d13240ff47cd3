/**
 * The guest agent's side of keep-awake (guest-image/agent/keep-awake/holds.ts)
 * over the real protocol on a socket pair: a program calling `hob-keep-awake`
 * in a tight loop reaches the host as a few changes (the latest winning), well
 * under the rate at which the host closes a flooded watch.
 */
import { describe, expect, it } from 'vitest';
import { KEEP_AWAKE_BURST } from '../../daemon/agent/keep-awake.js';
import { Mux, type Channel, type ChannelMessage } from '../../daemon/protocol/index.js';
import { changeKeepAwake, handleKeepAwakeWatch, SEND_INTERVAL_MS } from '../../guest-image/agent/keep-awake/holds.js';
import { unixSocketPair } from '../helpers/socket-pair.js';

describe('keep-awake changes sent by the guest agent', () => {
  it('coalesces a tight loop of changes into a few messages, the last one winning', async () => {
    const { a, b, dispose } = await unixSocketPair();
    try {
      const host = new Mux(a);
      const agent = new Mux(b);
      const watched = new Promise<Channel>((resolve) => agent.once('channel', (channel) => resolve(channel)));
      const channel = host.openChannel();
      const received: ChannelMessage[] = [];
      channel.on('control', (m) => received.push(m));
      channel.send({ type: 'request', request: { op: 'keep-awake.watch' } });
      const agentSide = await watched;
      void handleKeepAwakeWatch({ op: 'keep-awake.watch' }, agentSide);
      const started = performance.now();
      for (let i = 0; i < 10_000; i++) changeKeepAwake(i % 2 === 0 ? null : 60 + (i % 100));
      changeKeepAwake(3600);
      const elapsed = performance.now() - started;
      await new Promise((r) => setTimeout(r, 2 * SEND_INTERVAL_MS + 100));
      const changes = received.filter((m): m is Extract<ChannelMessage, { type: 'keep_awake' }> => m.type === 'keep_awake');
      expect(changes.at(-1)?.seconds).toBe(3600);
      expect(changes.length).toBeLessThanOrEqual(Math.ceil(elapsed / SEND_INTERVAL_MS) + 2);
      expect(changes.length).toBeLessThan(KEEP_AWAKE_BURST);
      channel.close();
    } finally {
      dispose();
    }
  });
});
