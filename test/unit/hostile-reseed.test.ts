/**
 * random.reseed against a hostile guest (docs/architecture.md §18): the host sends fresh
 * entropy after every memory restore; whatever the guest answers is parsed before use, and a
 * guest that never answers is cut off by the resume's deadline. A scripted agent plays the
 * guest over the real protocol.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidGuestAnswerError } from '../../daemon/agent/answer.js';
import { RESEED_DEADLINE_MS, withDeadline } from '../../daemon/core/deadline.js';
import { TimeoutError } from '../../daemon/errors.js';
import { RESEED_SEED_BYTES } from '../../daemon/protocol/index.js';
import { startScriptedAgent, type ScriptedAgent } from '../helpers/scripted-agent.js';

describe('random.reseed from a hostile guest', () => {
  let agent: ScriptedAgent | undefined;
  afterEach(() => agent?.dispose());

  it('sends the seed as base64 and accepts a valid answer', async () => {
    let seen: unknown;
    agent = await startScriptedAgent(['random.reseed'], (channel, request) => {
      seen = request['seed'];
      channel.send({ type: 'result', value: { method: 'ioctl' } });
      channel.close();
    });
    const seed = new Uint8Array(RESEED_SEED_BYTES).fill(7);
    await expect(agent.client.reseedRandom(seed)).resolves.toBe('ioctl');
    expect(Buffer.from(String(seen), 'base64')).toEqual(Buffer.from(seed));
  });

  it('rejects an answer outside the schema with InvalidGuestAnswerError', async () => {
    agent = await startScriptedAgent(['random.reseed'], (channel) => {
      channel.send({ type: 'result', value: { method: 'x'.repeat(100_000) } });
      channel.close();
    });
    await expect(agent.client.reseedRandom(new Uint8Array(RESEED_SEED_BYTES))).rejects.toBeInstanceOf(InvalidGuestAnswerError);
  });

  it('gives up on a guest that never answers, at the deadline', async () => {
    agent = await startScriptedAgent(['random.reseed'], () => undefined);
    expect(RESEED_DEADLINE_MS).toBeGreaterThan(0);
    await expect(withDeadline(agent.client.reseedRandom(new Uint8Array(RESEED_SEED_BYTES)), 200, 'the guest agent (random.reseed)')).rejects.toBeInstanceOf(TimeoutError);
  });

  it('is not sent to an agent without the capability', async () => {
    agent = await startScriptedAgent(['ping'], () => undefined);
    expect(agent.client.supports('random.reseed')).toBe(false);
    await expect(agent.client.reseedRandom(new Uint8Array(RESEED_SEED_BYTES))).rejects.toThrow(/random\.reseed/);
  });
});
