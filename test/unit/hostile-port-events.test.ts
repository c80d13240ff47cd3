/**
 * Port events from a hostile guest (issue 12), over the real protocol (test/helpers/hostile-agent.ts
 * on a socket pair) and through real exec websockets of the
 * API: a guest toggling a port 100k times and reporting listeners on
 * thousands of made-up addresses leaves hobd with a bounded set of remembered
 * sockets, a bounded number of `service.list` lookups (the URL port), and a
 * bounded number of frames on each websocket.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { createApi } from '../../daemon/api/app.js';
import { MAX_PORT_EVENT_SOCKETS, PORT_EVENT_INTERVAL_MS, PortEventHub, URL_PORT_CACHE_MS } from '../../daemon/core/port-events.js';
import { createSandboxHost } from '../../daemon/api/sandbox-host.js';
import { serveApi } from '../../daemon/api/server.js';
import { TokenStore } from '../../daemon/auth/tokens.js';
import { SessionRegistry } from '../../daemon/core/sessions.js';
import { closeDatabase, openDatabase } from '../../daemon/db/open.js';
import type { Channel, PortInfo } from '../../daemon/protocol/index.js';
import { oneSandboxService } from '../helpers/host-agent.js';
import { startHostileAgent, type HostileAgent, type HostileRequest } from '../helpers/hostile-agent.js';

const TOGGLES = 100_000;
const MADE_UP = 20_000;
const CAPABILITIES = ['exec', 'ports.watch', 'services', 'service.list'];

/**
 * Sends the flood on a ports.watch channel: 100k open/close toggles of port
 * 3000, ending open, then listeners on made-up addresses and ports (past the
 * cap they are ignored; a guest that fills the cap only hides its own ports).
 */
function flood(channel: Channel): void {
  const web: PortInfo = { port: 3000, address: '0.0.0.0', family: 'ipv4' };
  for (let i = 0; i < TOGGLES; i++) channel.send({ type: 'port', event: i % 2 === 0 ? 'opened' : 'closed', port: web });
  channel.send({ type: 'port', event: 'opened', port: web });
  for (let i = 0; i < MADE_UP; i++) channel.send({ type: 'port', event: 'opened', port: { port: 1 + (i % 65535), address: `fe80::${i.toString(16)}`, family: 'ipv6' } });
}

/** Waits until `progress` has moved and then stood still for `quietMs` (a loaded machine may start the flood late). */
const quiet = async (progress: () => number, quietMs: number, maxMs: number): Promise<void> => {
  const deadline = Date.now() + maxMs;
  let last = -1;
  let since = Date.now();
  while (Date.now() < deadline) {
    const now = progress();
    if (now !== last) {
      last = now;
      since = Date.now();
    } else if (now > 0 && Date.now() - since >= quietMs) return;
    await new Promise((r) => setTimeout(r, 50));
  }
};

describe('port events from a hostile guest', () => {
  let agent: HostileAgent | undefined;
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    agent?.dispose();
    agent = undefined;
  });

  const floodingAgent = (onRequest: (channel: Channel, request: HostileRequest) => void = () => undefined) =>
    startHostileAgent({
      capabilities: CAPABILITIES,
      onRequest: (channel, request) => {
        if (request.op === 'ports.watch') {
          channel.send({ type: 'ready', value: { ports: [] } });
          // After the host had a moment to attach every subscriber.
          setTimeout(() => flood(channel), 200);
        } else if (request.op === 'service.list') {
          channel.send({ type: 'result', value: { services: [] } });
        } else if (request.op === 'exec') {
          channel.send({ type: 'ready', value: { pid: 4242 } }); // and never ends
        }
        onRequest(channel, request);
      },
    });

  it('keeps the remembered sockets bounded and coalesces toggles (hub)', async () => {
    agent = await floodingAgent();
    const hub = new PortEventHub({ urlPortOf: async () => 3000 });
    const events: Array<{ type: string; port: number; urlPort: number | undefined }> = [];
    const unsubscribe = hub.subscribe(agent.client, (e) => events.push(e));
    cleanups.push(unsubscribe, () => hub.close());
    const started = Date.now();
    // The made-up listeners come after the last toggle: once they fill the cap, the host has read the
    // whole flood (however late a loaded machine runs it), and what remains is the last flush.
    const client = agent.client;
    for (const deadline = Date.now() + 60_000; (hub.stats(client)?.sockets ?? 0) < MAX_PORT_EVENT_SOCKETS && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 50));
    await quiet(() => events.length, 4 * PORT_EVENT_INTERVAL_MS + 500, 60_000);
    const stats = hub.stats(agent.client);
    expect(stats?.sockets).toBeLessThanOrEqual(MAX_PORT_EVENT_SOCKETS);
    // The toggles come out as far fewer events than 100k: at most one per port and interval.
    const flushes = Math.ceil((Date.now() - started) / PORT_EVENT_INTERVAL_MS) + 1;
    expect(events.filter((e) => e.port === 3000).length).toBeLessThanOrEqual(flushes);
    expect(events.length).toBeLessThanOrEqual(MAX_PORT_EVENT_SOCKETS + flushes);
    // The last state counts: port 3000 is open, and the URL routes to it.
    expect(events.filter((e) => e.port === 3000).at(-1)).toMatchObject({ type: 'opened', urlPort: 3000 });
  }, 120_000);

  it('asks the guest for its services once per interval per sandbox, not per toggle per websocket', async () => {
    agent = await floodingAgent();
    const client = agent.client;
    const dir = mkdtempSync(join(tmpdir(), 'hob-port-flood-'));
    const db = openDatabase(join(dir, 'hob.db'));
    const sessions = new SessionRegistry();
    const tokens = new TokenStore(db);
    const sandboxes = oneSandboxService('dev', client);
    const log = { info: () => undefined, warn: () => undefined, error: () => undefined };
    const api = createApi({ sandboxes, sessions, tokens, port: 1, version: '0.1.0', log, sandboxHost: createSandboxHost({ sandboxes, sessions, tokens, port: 1, log }) });
    const socketPath = join(dir, 'hob.sock');
    const servers = await serveApi(api, { socketPath });
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }), () => closeDatabase(db), () => sessions.shutdown('test over'), () => servers.close(), () => api.close());

    const SOCKETS = 4;
    const frames = Array.from({ length: SOCKETS }, () => 0);
    const sockets: WebSocket[] = [];
    for (let i = 0; i < SOCKETS; i++) {
      const ws = new WebSocket(`ws+unix://${socketPath}:/v1/sprites/dev/exec?cmd=sleep&cmd=600`);
      ws.on('message', (data, isBinary) => {
        if (!isBinary && String(data).includes('"port_')) frames[i] = (frames[i] ?? 0) + 1;
      });
      await new Promise<void>((resolve, reject) => {
        ws.once('open', resolve);
        ws.once('error', reject);
      });
      sockets.push(ws);
    }
    cleanups.push(() => sockets.forEach((ws) => ws.terminate()));
    const started = Date.now();
    await quiet(() => frames.reduce((a, b) => a + b, 0) + (agent?.requests.filter((r) => r.op === 'service.list').length ?? 0), 4 * PORT_EVENT_INTERVAL_MS + 500, 60_000);
    const elapsed = Date.now() - started;
    const lookups = agent.requests.filter((r) => r.op === 'service.list').length;
    // One shared lookup per sandbox and URL_PORT_CACHE_MS (plus the first), whatever the toggles and sockets.
    expect(lookups).toBeGreaterThanOrEqual(1);
    expect(lookups).toBeLessThanOrEqual(Math.ceil(elapsed / URL_PORT_CACHE_MS) + 2);
    expect(agent.requests.filter((r) => r.op === 'ports.watch').length).toBe(1);
    for (const count of frames) expect(count).toBeLessThanOrEqual(MAX_PORT_EVENT_SOCKETS + Math.ceil(elapsed / PORT_EVENT_INTERVAL_MS) + 1);
  }, 180_000);
});
