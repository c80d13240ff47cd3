/**
 * A guest that opens its agent port late (a slow TCG boot) reads every HELLO the
 * host resent meanwhile at once and answers each: those late answers are the
 * protocol working, not an attack, however many the boot took. Real Mux and
 * AgentClient on a real socket pair; the "agent" starts reading only after the
 * host has queued dozens of HELLOs.
 */
import { describe, expect, it } from 'vitest';
import { AgentClient, MAX_LATE_HELLOS } from '../../daemon/agent/client.js';
import { Mux, PROTOCOL_VERSION_MAX } from '../../daemon/protocol/index.js';
import { unixSocketPair } from '../helpers/socket-pair.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('HELLOs queued before the guest opened its port', () => {
  it('keeps the connection when the agent answers every queued HELLO at once', async () => {
    const { a, b, dispose } = await unixSocketPair();
    try {
      b.pause(); // the guest has not opened the port yet: the host's HELLOs queue up
      const connecting = AgentClient.connect(a, { helloIntervalMs: 5, timeoutMs: 20_000 });
      await sleep(600); // ~120 resends at 5 ms
      // Like the real agent, it answers one HELLO at a time as it gets to them.
      let answered = 0;
      let answering = Promise.resolve();
      const agentMux = new Mux(b);
      agentMux.on('hello', (payload) => {
        const nonce = (payload as { nonce?: unknown }).nonce;
        answering = answering.then(async () => {
          await sleep(1);
          answered++;
          agentMux.sendHello({ role: 'agent', version: PROTOCOL_VERSION_MAX, agentVersion: 'late-port', capabilities: [], bootId: 'late', ...(typeof nonce === 'string' ? { nonce } : {}) });
        });
      });
      b.resume();
      const client = await connecting;
      await answering; // every late answer sent
      await sleep(100); // and read
      expect(answered).toBeGreaterThan(MAX_LATE_HELLOS + 1);
      expect(client.isClosed).toBe(false);
      client.close();
    } finally {
      dispose();
    }
  });
});
