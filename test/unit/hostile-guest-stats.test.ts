/**
 * Stats against a hostile guest (core/guest-memory.ts, core/stats.ts): the
 * guest's /proc/meminfo comes through its agent, so the agent here (the real
 * protocol on a real socket pair, scripted by the test) lies, floods and stays
 * silent. Nothing may break the sampler, hang it or put a lie on a graph; the
 * host-side figures (/proc of a real process, the real SQLite rows) stay right.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { AgentClient } from '../../daemon/agent/index.js';
import { MAX_MEMINFO_BYTES, parseMeminfo, readGuestMemory } from '../../daemon/core/guest-memory.js';
import { StatsSampler } from '../../daemon/core/stats.js';
import { parseProcStat, readVmmUsage } from '../../daemon/core/vmm-usage.js';
import { closeDatabase, insertSandbox, openDatabase } from '../../daemon/db/index.js';
import { StreamId, type Channel } from '../../daemon/protocol/index.js';
import { startHostileAgent, type HostileAgent } from '../helpers/hostile-agent.js';

const MiB = 1024 * 1024;
const VM_BYTES = 512 * MiB;
const meminfo = (totalKb: string, availableKb: string): string => `MemTotal:       ${totalKb} kB\nMemFree:          100000 kB\nMemAvailable:   ${availableKb} kB\nBuffers:            1000 kB\n`;

/** An agent answering fs.read of /proc/meminfo with `answer`. */
function answering(answer: (channel: Channel) => void): (channel: Channel, request: { op: string; path?: unknown }) => void {
  return (channel, request) => {
    if (request.op === 'fs.read' && request.path === '/proc/meminfo') answer(channel);
  };
}

function sendText(text: string): (channel: Channel) => void {
  return (channel) => {
    channel.send({ type: 'ready', value: { size: 0 } });
    // Closed once the bytes and the EOF are out, as the real agent does (guest-image/agent/handlers/fs-read.ts).
    channel.writable(StreamId.Stdout).end(Buffer.from(text, 'latin1'), () => channel.close());
  };
}

describe('guest memory from a hostile agent', () => {
  let agent: HostileAgent | undefined;
  afterEach(() => {
    agent?.dispose();
    agent = undefined;
  });

  it('reads an honest /proc/meminfo', async () => {
    agent = await startHostileAgent({ onRequest: answering(sendText(meminfo('498000', '400000'))) });
    expect(await readGuestMemory(agent.client, VM_BYTES)).toEqual({ totalBytes: 498000 * 1024, availableBytes: 400000 * 1024, usedBytes: 98000 * 1024 });
  });

  it('gives null, not a lie, for impossible figures', () => {
    expect(parseMeminfo(meminfo('99999999999', '1000'), VM_BYTES)).toBeNull(); // more than the VM has
    expect(parseMeminfo(meminfo('-4000', '1000'), VM_BYTES)).toBeNull();
    expect(parseMeminfo(meminfo('400000', '500000'), VM_BYTES)).toBeNull(); // available above total
    expect(parseMeminfo(meminfo('0', '0'), VM_BYTES)).toBeNull();
    expect(parseMeminfo(meminfo('1e9', '1'), VM_BYTES)).toBeNull();
    expect(parseMeminfo('MemTotal: 400000 kB\n', VM_BYTES)).toBeNull(); // no MemAvailable
    expect(parseMeminfo('\u0000\xff garbage', VM_BYTES)).toBeNull();
  });

  it('cuts off an agent that streams an endless meminfo, and gives null', async () => {
    let sent = 0;
    agent = await startHostileAgent({
      onRequest: answering((channel) => {
        channel.send({ type: 'ready', value: { size: 0 } });
        const out = channel.writable(StreamId.Stdout);
        out.on('error', () => undefined);
        const chunk = Buffer.from(meminfo('400000', '300000').repeat(64));
        const pump = (): void => {
          while (!out.destroyed && sent < 64 * MiB) {
            sent += chunk.length;
            if (!out.write(chunk)) {
              out.once('drain', pump);
              return;
            }
          }
        };
        pump();
      }),
    });
    expect(await readGuestMemory(agent.client, VM_BYTES)).toBeNull();
    // The host stopped reading shortly after the cap: the flow-control window, not the 64 MiB.
    expect(sent).toBeLessThan(MAX_MEMINFO_BYTES + 4 * MiB);
    expect(agent.client.isClosed).toBe(false); // the connection itself stays usable
  });

  it('gives null when the agent never answers, within the deadline', async () => {
    agent = await startHostileAgent({ onRequest: answering(() => undefined) });
    expect(await readGuestMemory(agent.client, VM_BYTES, 300)).toBeNull();
  });

  it('gives null when the agent answers with an error or breaks the protocol', async () => {
    agent = await startHostileAgent({ onRequest: answering((channel) => channel.send({ type: 'error', code: 'EACCES', message: 'nope' })) });
    expect(await readGuestMemory(agent.client, VM_BYTES)).toBeNull();
    agent.dispose();
    agent = await startHostileAgent({ onRequest: answering((channel) => channel.send({ type: 'ready', value: { size: -5 } } as never)) });
    expect(await readGuestMemory(agent.client, VM_BYTES)).toBeNull();
  });
});

describe('the stats sampler with a hostile guest', () => {
  let agent: HostileAgent | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    agent?.dispose();
    agent = undefined;
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('keeps sampling the host-side figures while the guest lies, and forgets a destroyed sandbox', async () => {
    dir = await mkdtemp(join(tmpdir(), 'hob-stats-'));
    const db = openDatabase(join(dir, 'hob.db'));
    try {
      const row = insertSandbox(db, { name: 'liar', state: 'running', image: 'minimal', cpus: 1, memoryMiB: 512, diskBytes: 4 * 1024 ** 3, vmm: 'qemu' });
      let lie = meminfo('99999999999', '1');
      agent = await startHostileAgent({ onRequest: answering((channel) => sendText(lie)(channel)) });
      const client: AgentClient = agent.client;
      // The "VMM" is this test process: a real /proc/<pid>/stat to read.
      const sampler = new StatsSampler({ db, liveProcesses: () => [{ id: row.id, pid: process.pid, agent: client }], diskUsedBytes: async () => 123 * MiB }, { historySamples: 3 });
      for (let i = 0; i < 5; i++) {
        await sampler.tick();
        await new Promise((r) => setTimeout(r, 50)); // the guest read answers between ticks
      }
      const stats = sampler.sandbox('liar');
      expect(stats.history).toHaveLength(3); // bounded
      for (const s of stats.history) {
        expect(s.guestMemory).toBeNull();
        expect(s.rssBytes).toBeGreaterThan(0);
        expect(s.cpuSeconds).toBeGreaterThan(0);
        expect(s.diskUsedBytes).toBe(123 * MiB);
      }
      // An honest answer shows up in a later sample.
      lie = meminfo('498000', '400000');
      await sampler.tick();
      await new Promise((r) => setTimeout(r, 50));
      await sampler.tick();
      expect(sampler.sandbox('liar').current?.guestMemory?.totalBytes).toBe(498000 * 1024);
      expect(sampler.running().map((s) => s.name)).toEqual(['liar']);

      db.$client.prepare('DELETE FROM sandboxes WHERE id = ?').run(row.id);
      await sampler.tick();
      expect(sampler.running()).toEqual([]);
      expect(() => sampler.sandbox('liar')).toThrow(/no sandbox named/);
    } finally {
      closeDatabase(db);
    }
  });
});

describe('disk used of every sandbox', () => {
  it('is sampled for stopped sandboxes too (not creating ones), and listed with all', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hob-stats-disk-'));
    const db = openDatabase(join(dir, 'hob.db'));
    try {
      const base = { image: 'minimal', cpus: 1, memoryMiB: 512, diskBytes: 4 * 1024 ** 3, vmm: 'qemu' } as const;
      const stopped = insertSandbox(db, { ...base, name: 'idle', state: 'stopped' });
      insertSandbox(db, { ...base, name: 'new', state: 'creating' });
      const asked: string[] = [];
      const sampler = new StatsSampler({ db, liveProcesses: () => [], diskUsedBytes: async (id) => (asked.push(id), 7 * MiB) });
      await sampler.tick();
      expect(asked).toEqual([stopped.id]);
      expect(sampler.sandbox('idle')).toMatchObject({ current: null, diskUsedBytes: 7 * MiB });
      expect(sampler.sandbox('new').diskUsedBytes).toBeNull();
      expect(sampler.running()).toEqual([]);
      expect(sampler.running({ all: true }).map((s) => [s.name, s.diskUsedBytes])).toEqual([
        ['idle', 7 * MiB],
        ['new', null],
      ]);
    } finally {
      closeDatabase(db);
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('VMM usage from /proc', () => {
  it('parses /proc/<pid>/stat, whatever the command name holds', () => {
    const fields = ['S', ...Array.from({ length: 49 }, (_, i) => String(i + 4))];
    fields[14 - 3] = '250'; // utime
    fields[15 - 3] = '150'; // stime
    fields[24 - 3] = '1000'; // rss pages
    expect(parseProcStat(`123 (qemu) (x 1 2) ${fields.join(' ')}\n`, 4096)).toEqual({ cpuSeconds: 4, rssBytes: 4096 * 1000 });
    expect(parseProcStat('garbage', 4096)).toBeNull();
    expect(parseProcStat('1 (x) S 1 2', 4096)).toBeNull();
  });

  it('reads a live process and gives null for one that is gone', async () => {
    const me = await readVmmUsage(process.pid);
    expect(me?.rssBytes).toBeGreaterThan(10 * MiB);
    expect(await readVmmUsage(2 ** 22 + 12345)).toBeNull();
  });
});
