/**
 * A hostile guest against the host end of the API inside the guest
 * (daemon/agent/guest-api.ts): the real AgentClient and GuestApiChannel, a
 * scripted agent (test/helpers/hostile-agent.ts) on a real socket pair. A
 * guest flooding requests, sending malformed ones or never reading the
 * answers gets its channel or its own connection closed, never more of the
 * host's work or memory than the bounds say, and another sandbox's guest is
 * served all along. (hobd's handler and the real agent are the e2e's and
 * guest-api-agent.test.ts's.)
 */
import { afterEach, describe, expect, it } from 'vitest';
import { GUEST_API_BURST, type GuestApiChannel, type GuestApiHandler } from '../../daemon/agent/guest-api.js';
import {
  encodeFrame,
  FrameKind,
  MAX_GUEST_API_IN_FLIGHT,
  MAX_GUEST_API_REQUEST_BODY,
  MAX_GUEST_API_RESPONSE_BODY,
  MAX_UNSENT_BYTES,
  type Channel,
  type ChannelMessage,
} from '../../daemon/protocol/index.js';
import { startHostileAgent, type HostileAgent } from '../helpers/hostile-agent.js';

const CAPS = ['guest-api.serve', 'ping', 'hello.nonce'];

interface Served {
  readonly agent: HostileAgent;
  readonly serve: Channel;
  readonly host: GuestApiChannel;
  /** Answers the host sent, by id. */
  readonly answers: Map<number, Extract<ChannelMessage, { type: 'api_response' }>>;
}

/** A scripted agent whose serve channel the host opened with `handler`. */
async function served(handler: GuestApiHandler): Promise<Served> {
  let serve: Channel | undefined;
  const answers = new Map<number, Extract<ChannelMessage, { type: 'api_response' }>>();
  const agent = await startHostileAgent({
    capabilities: CAPS,
    onRequest: (channel, request) => {
      if (request.op === 'ping') {
        channel.send({ type: 'result', value: { uptimeMs: 1 } });
        channel.close();
      } else if (request.op === 'guest-api.serve') {
        serve = channel;
        channel.on('control', (m) => {
          if (m.type === 'api_response') answers.set(m.id, m);
        });
        channel.send({ type: 'ready', value: {} });
      }
    },
  });
  const host = await agent.client.serveGuestApi(handler);
  if (!serve) throw new Error('the host did not open a serve channel');
  return { agent, serve, host, answers };
}

const requestFrame = (channel: number, message: object): Buffer => encodeFrame(FrameKind.Control, channel, Buffer.from(JSON.stringify(message)));
const waitFor = async (what: () => boolean, ms = 10_000): Promise<void> => {
  for (let i = 0; i < ms / 20 && !what(); i++) await new Promise((r) => setTimeout(r, 20));
};

describe('a hostile guest against the guest API relay', () => {
  const agents: HostileAgent[] = [];
  afterEach(() => {
    for (const a of agents.splice(0)) a.dispose();
  });

  /** A handler that takes a little time and records how many run at once. */
  const counting = () => {
    const stats = { calls: 0, running: 0, most: 0 };
    const handler: GuestApiHandler = async () => {
      stats.calls++;
      stats.most = Math.max(stats.most, ++stats.running);
      await new Promise((r) => setTimeout(r, 5));
      stats.running--;
      return { status: 200, contentType: 'application/json', body: '{}' };
    };
    return { stats, handler };
  };

  it('closes the channel of a guest flooding requests, handling a bounded number at a bounded concurrency, and serves another guest meanwhile', async () => {
    const flood = counting();
    const a = await served(flood.handler);
    agents.push(a.agent);
    const honest = await served(async (req) => ({ status: 200, contentType: 'text/plain', body: `ok ${req.path}` }));
    agents.push(honest.agent);
    const frames: Buffer[] = [];
    for (let id = 1; id <= 20_000; id++) frames.push(requestFrame(a.serve.id, { type: 'api_request', id, method: 'GET', path: '/v1/info', body: '' }));
    const writing = a.agent.writeRaw(Buffer.concat(frames));
    honest.serve.send({ type: 'api_request', id: 7, method: 'GET', path: '/v1/info', body: '' });
    await waitFor(() => a.host.isClosed && honest.answers.has(7));
    await writing;
    expect(a.host.floodError?.message).toMatch(/more than \d+ requests/);
    expect(flood.stats.calls).toBeLessThanOrEqual(GUEST_API_BURST + 10);
    expect(flood.stats.most).toBeLessThanOrEqual(MAX_GUEST_API_IN_FLIGHT);
    // Beyond the in-flight cap the host answered 429 itself.
    expect([...a.answers.values()].some((m) => m.status === 429)).toBe(true);
    // Its connection is still up (the next connection gets a new channel), and the other guest was served.
    expect(await a.agent.client.ping()).toBe(1);
    expect(honest.answers.get(7)).toMatchObject({ status: 200, body: 'ok /v1/info' });
  });

  it('never hands malformed or oversized requests to the handler', async () => {
    const c = counting();
    const a = await served(c.handler);
    agents.push(a.agent);
    const bad = [
      { type: 'api_request', id: 1, method: 'PATCH', path: '/v1/info' },
      { type: 'api_request', id: 2, method: 'GET', path: `/${'a'.repeat(3000)}` },
      { type: 'api_request', id: 3, method: 'POST', path: '/v1/checkpoint', body: 'x'.repeat(MAX_GUEST_API_REQUEST_BODY + 1) },
      { type: 'api_request', id: 0, method: 'GET', path: '/v1/info' },
      { type: 'api_request', id: 4, method: 'GET' },
      { type: 'api_request', id: 2 ** 40, method: 'GET', path: '/v1/info' },
    ];
    for (const m of bad) await a.agent.writeRaw(requestFrame(a.serve.id, m));
    await a.agent.writeRaw(encodeFrame(FrameKind.Control, a.serve.id, Buffer.from('{"type":"api_request",')));
    // Two requests under one id: the second is refused while the first runs.
    await a.agent.writeRaw(Buffer.concat([5, 5].map((id) => requestFrame(a.serve.id, { type: 'api_request', id, method: 'GET', path: '/v1/info', body: '' }))));
    await waitFor(() => a.answers.has(5) && c.stats.calls === 1 && c.stats.running === 0);
    expect(c.stats.calls).toBe(1);
    expect([...a.answers.keys()]).toEqual([5]);
    expect(a.host.isClosed).toBe(false);
    expect(await a.agent.client.ping()).toBe(1);
  });

  it('drops the connection of a guest that never reads its answers, with the host queueing no more than its bound', async () => {
    const big = 'x'.repeat(MAX_GUEST_API_RESPONSE_BODY);
    const a = await served(async () => ({ status: 200, contentType: 'text/plain', body: big }));
    agents.push(a.agent);
    a.agent.stopReading();
    let most = 0;
    const watch = setInterval(() => (most = Math.max(most, a.agent.hostSocket.writableLength)), 5);
    const frames: Buffer[] = [];
    for (let id = 1; id <= GUEST_API_BURST; id++) frames.push(requestFrame(a.serve.id, { type: 'api_request', id, method: 'GET', path: '/v1/info', body: '' }));
    // Slowly enough that the in-flight cap does not answer most of them 429 (a 429 is small).
    for (const frame of frames) {
      if (a.agent.client.isClosed) break;
      await a.agent.writeRaw(frame);
      await new Promise((r) => setTimeout(r, 2));
    }
    const error = await a.agent.closed;
    clearInterval(watch);
    expect(error?.message).toMatch(/does not read/);
    expect(most).toBeLessThanOrEqual(MAX_UNSENT_BYTES + 2 * MAX_GUEST_API_RESPONSE_BODY);
  });
});
