/**
 * Service logs from a hostile guest (issue 12), over the real protocol on a
 * socket pair (test/helpers/hostile-agent.ts) and through the real HTTP API on a unix
 * socket: a 10 MiB log line is cut, a line that never ends is not kept, a log
 * client that never reads does not make hobd buffer what the guest sends, and
 * service names from the guest are validated.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createApi } from '../../daemon/api/app.js';
import { serveApi, type ApiServers } from '../../daemon/api/server.js';
import { TokenStore } from '../../daemon/auth/tokens.js';
import { MAX_LOG_ENTRY_BYTES, cutLogEntry } from '../../daemon/agent/service-log-lines.js';
import { BoundedLineSplitter } from '../../daemon/agent/bounded-lines.js';
import { SessionRegistry } from '../../daemon/core/sessions.js';
import { closeDatabase, openDatabase, type HobDb } from '../../daemon/db/open.js';
import { StreamId, type Channel, type ServiceLogEntry } from '../../daemon/protocol/index.js';
import { oneSandboxService } from '../helpers/host-agent.js';
import { unixRequest } from '../helpers/http.js';
import { startHostileAgent, type HostileAgent, type HostileRequest } from '../helpers/hostile-agent.js';

const CAPABILITIES = ['services', 'service.logs', 'service.list', 'service.get'];
const entryLine = (data: string, stream: ServiceLogEntry['stream'] = 'stdout'): string => `${JSON.stringify({ time: 1_700_000_000_000, stream, data })}\n`;

describe('service logs from a hostile guest', () => {
  let agent: HostileAgent | undefined;
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    agent?.dispose();
    agent = undefined;
  });

  /** A hostile agent whose service.logs answers `ready` and hands its channel to `feed`. */
  const noServices = (channel: Channel, request: HostileRequest): void => {
    if (request.op === 'service.list') channel.send({ type: 'result', value: { services: [] } });
  };
  const logsAgent = (feed: (channel: Channel, request: HostileRequest) => void, others: (channel: Channel, request: HostileRequest) => void = noServices) =>
    startHostileAgent({
      capabilities: CAPABILITIES,
      onRequest: (channel, request) => {
        if (request.op !== 'service.logs') return others(channel, request);
        channel.send({ type: 'ready', value: { logFile: '/var/log/hob/services/web.log' } });
        feed(channel, request);
      },
    });

  it('cuts a 10 MiB log line, and drops the rest of a line that never ends', async () => {
    const huge = 'x'.repeat(10 * 1024 * 1024);
    agent = await logsAgent((channel) => {
      const out = channel.writable(StreamId.Stdout);
      out.write(entryLine(huge));
      out.write(entryLine('after the long one'));
      out.write(entryLine('a "quoted" \\ line with escapes \u0001 and é'.repeat(1) + huge.slice(0, MAX_LOG_ENTRY_BYTES), 'stderr'));
      // Garbage that is not an entry, far longer than any, then a line that never ends.
      out.write(`${'{'.repeat(3 * 1024 * 1024)}\n`);
      out.write(entryLine('last whole line'));
      out.end(huge);
    });
    const stream = await agent.client.services.logs('web', { lines: 10 });
    const entries: ServiceLogEntry[] = [];
    for await (const entry of stream) entries.push(entry);
    const cut = entries[0];
    expect(cut?.stream).toBe('stdout');
    expect(cut?.data.length).toBeLessThanOrEqual(MAX_LOG_ENTRY_BYTES);
    expect(cut?.data).toMatch(/^x+ \[hob: line cut: longer than \d+ bytes\]$/);
    expect(entries[1]?.data).toBe('after the long one');
    expect(entries[2]?.stream).toBe('stderr');
    expect(entries[2]?.data.startsWith('a "quoted" \\ line with escapes \u0001 and éxxx')).toBe(true);
    expect(entries.map((e) => e.data)).toContain('last whole line');
    // Nothing else got through whole: every entry is within the bound.
    for (const e of entries) expect(Buffer.byteLength(e.data)).toBeLessThanOrEqual(MAX_LOG_ENTRY_BYTES);
    expect(entries.length).toBeLessThanOrEqual(6);
  });

  it('does not buffer a flood for a log client that never reads', async () => {
    const CAP = 96 * 1024 * 1024;
    let sent = 0;
    let flooding = true;
    const line = Buffer.from(entryLine('y'.repeat(1000)));
    const batch = Buffer.concat(Array.from({ length: 64 }, () => line));
    agent = await logsAgent((channel) => {
      void (async () => {
        // As fast as the host grants credit, until the cap (what an unbounded host would swallow).
        while (flooding && !channel.isClosed && sent < CAP) {
          await channel.sendData(StreamId.Stdout, batch).catch(() => undefined);
          sent += batch.length;
        }
      })();
    });
    const dir = mkdtempSync(join(tmpdir(), 'hob-logs-flood-'));
    const db: HobDb = openDatabase(join(dir, 'hob.db'));
    const sessions = new SessionRegistry();
    const api = createApi({ sandboxes: oneSandboxService('dev', agent.client), sessions, tokens: new TokenStore(db), port: 1, version: '0.1.0', log: { info: () => undefined, warn: () => undefined, error: () => undefined } });
    const socketPath = join(dir, 'hob.sock');
    const servers: ApiServers = await serveApi(api, { socketPath });
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }), () => closeDatabase(db), () => sessions.shutdown('test over'), () => servers.close());

    const response = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = httpRequest({ socketPath, path: '/v1/sprites/dev/services/web/logs?follow=true', method: 'GET' }, resolve);
      req.on('error', reject);
      req.end();
    });
    expect(response.statusCode).toBe(200);
    response.pause(); // never reads
    cleanups.push(() => {
      flooding = false;
      response.destroy();
    });
    // Wait until the guest cannot send any more (or sent the cap).
    let last = -1;
    for (let still = 0; still < 6 && sent < CAP; ) {
      await new Promise((r) => setTimeout(r, 250));
      still = sent === last ? still + 1 : 0;
      last = sent;
    }
    // hobd's own share is about 3 MiB (agent window 1 MiB, entries read ahead 1 MiB, stream queues);
    // the rest of the bound is the kernel's buffers of the client's unix socket.
    expect(sent).toBeLessThan(8 * 1024 * 1024);
    // The other calls on the same connection still work.
    const list = await unixRequest(socketPath, { method: 'GET', path: '/v1/sprites/dev/services' });
    expect(list.status).toBe(200);
    expect(list.json()).toEqual([]);
  }, 120_000);

  it('refuses service names from the guest that are not service names', async () => {
    agent = await logsAgent(() => undefined, (channel, request) => {
      if (request.op !== 'service.list') return;
      const definition = { cmd: 'x', args: [], env: {}, needs: [] };
      const state = { status: 'running', restartCount: 0, enabled: true };
      channel.send({ type: 'result', value: { services: [{ name: '../../etc/passwd', definition, state, logFile: '/x' }] } });
    });
    await expect(agent.client.services.list()).rejects.toThrow(/invalid answer from the guest agent/);
  });

  it('cuts inside an escape or a multi-byte character without breaking the text', () => {
    const head = (data: string) => entryLine(data).slice(0, -3); // no closing quote, brace, newline
    expect(cutLogEntry(head('abc\u0001')).data).toMatch(/^abc\u0001 \[hob: line cut/);
    const cutEscape = `{"time":1,"stream":"stdout","data":"abc\\u00`;
    expect(cutLogEntry(cutEscape)).toMatchObject({ time: 1, stream: 'stdout', data: expect.stringMatching(/^abc \[hob: line cut/) });
    expect(cutLogEntry('{"time":1,"stream":"hob","event":"x"').stream).toBe('hob');
    const lines: string[] = [];
    const cuts: string[] = [];
    const splitter = new BoundedLineSplitter(4, (l) => lines.push(l), (h) => cuts.push(h));
    splitter.write(Buffer.from('ab\nabcd\nabcdef'));
    splitter.write(Buffer.from('gh\n\u00e9\u00e9\u00e9\nend'));
    splitter.end();
    expect(lines).toEqual(['ab', 'abcd', 'end']);
    expect(cuts).toEqual(['abcd', '\u00e9\u00e9']);
  });
});
