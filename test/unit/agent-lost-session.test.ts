/**
 * An agent that lost the host's session (it saw a hangup after our HELLO, or it
 * restarted) answers every request with "send HELLO first". The client must not
 * keep using that connection: it fails it, so that the next call reconnects and
 * handshakes again. Real Mux and AgentClient on a real socket pair; the "agent"
 * answers HELLO, then refuses requests as the real one does without a session.
 */
import { describe, expect, it } from 'vitest';
import { AgentClient } from '../../daemon/agent/client.js';
import { AgentError, GuestError } from '../../daemon/errors.js';
import { Mux, NO_SESSION_ERROR_CODE, PROTOCOL_VERSION_MAX } from '../../daemon/protocol/index.js';
import { unixSocketPair } from '../helpers/socket-pair.js';

describe('an agent that lost the session', () => {
  it('closes the connection on "send HELLO first" so that the next call reconnects', async () => {
    const { a, b, dispose } = await unixSocketPair();
    try {
      const agentMux = new Mux(b);
      agentMux.on('hello', (payload) => {
        const nonce = (payload as { nonce?: unknown }).nonce;
        agentMux.sendHello({ role: 'agent', version: PROTOCOL_VERSION_MAX, agentVersion: 'lost', capabilities: ['fs.stat'], bootId: 'b', ...(typeof nonce === 'string' ? { nonce } : {}) });
      });
      agentMux.on('channel', (channel) => {
        channel.send({ type: 'error', code: NO_SESSION_ERROR_CODE, message: 'send HELLO first' });
        channel.close();
      });
      const client = await AgentClient.connect(a, { timeoutMs: 5_000 });
      const closed = new Promise<Error | undefined>((resolve) => client.once('close', resolve));
      const failure = await client.stat('/').catch((err: unknown) => err);
      expect(failure).toBeInstanceOf(AgentError);
      expect(failure).not.toBeInstanceOf(GuestError);
      expect(String((await closed)?.message)).toMatch(/no longer knows this connection/);
      expect(client.isClosed).toBe(true);
    } finally {
      dispose();
    }
  });

  it('keeps the connection for other errors the agent answers', async () => {
    const { a, b, dispose } = await unixSocketPair();
    try {
      const agentMux = new Mux(b);
      agentMux.on('hello', (payload) => {
        const nonce = (payload as { nonce?: unknown }).nonce;
        agentMux.sendHello({ role: 'agent', version: PROTOCOL_VERSION_MAX, agentVersion: 'ok', capabilities: ['fs.stat'], bootId: 'b', ...(typeof nonce === 'string' ? { nonce } : {}) });
      });
      agentMux.on('channel', (channel) => {
        channel.send({ type: 'error', code: 'ENOENT', message: 'no such file' });
        channel.close();
      });
      const client = await AgentClient.connect(a, { timeoutMs: 5_000 });
      await expect(client.stat('/nope')).rejects.toBeInstanceOf(GuestError);
      expect(client.isClosed).toBe(false);
      client.close();
    } finally {
      dispose();
    }
  });
});
