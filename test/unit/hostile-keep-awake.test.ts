/**
 * A guest flooding its keep-awake.watch channel (issue 12): over the real
 * protocol on a socket pair, a hostile agent (test/helpers/hostile-agent.ts) sends changes as fast as it can.
 * Each change the host applies is a real SQLite write (counted here, as the
 * manager's keepAwake does one per call); the writes stay bounded, the last
 * change of a burst still wins, and a flood gets the channel closed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { GuestKeepAwake, KEEP_AWAKE_APPLY_INTERVAL_MS } from '../../daemon/core/guest-keep-awake.js';
import { KEEP_AWAKE_BURST } from '../../daemon/agent/keep-awake.js';
import type { Channel } from '../../daemon/protocol/index.js';
import { startHostileAgent, type HostileAgent } from '../helpers/hostile-agent.js';

const until = async (what: string, cond: () => boolean, timeoutMs = 20_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('keep-awake floods from the guest', () => {
  let dir: string | undefined;
  let agent: HostileAgent | undefined;
  afterEach(() => {
    agent?.dispose();
    if (dir) rmSync(dir, { recursive: true, force: true });
    agent = undefined;
    dir = undefined;
  });

  /** A real SQLite table standing in for the sandbox row; apply() writes it and counts. */
  const holdStore = () => {
    dir = mkdtempSync(join(tmpdir(), 'hob-keep-awake-flood-'));
    const db = new Database(join(dir, 'hold.db'));
    db.exec('CREATE TABLE hold (name TEXT PRIMARY KEY, seconds INTEGER)');
    const write = db.prepare('INSERT INTO hold (name, seconds) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET seconds = excluded.seconds');
    const store = {
      writes: 0,
      last: undefined as number | null | undefined,
      apply: async (name: string, seconds: number | null): Promise<void> => {
        write.run(name, seconds);
        store.writes++;
        store.last = seconds;
      },
    };
    return store;
  };

  /** A hostile agent whose keep-awake.watch answers `ready`, then runs `flood` on the channel. */
  const floodingAgent = (flood: (channel: Channel) => void) =>
    startHostileAgent({
      capabilities: ['keep-awake.watch'],
      onRequest: (channel, request) => {
        if (request.op !== 'keep-awake.watch') return;
        channel.send({ type: 'ready', value: { pending: null } });
        flood(channel);
      },
    });

  it('coalesces a burst into a bounded number of writes, the last change winning', async () => {
    const store = holdStore();
    const burst = Math.min(50, KEEP_AWAKE_BURST);
    agent = await floodingAgent((channel) => {
      for (let i = 0; i < burst - 1; i++) channel.send({ type: 'keep_awake', seconds: i % 2 === 0 ? null : 60 + i });
      channel.send({ type: 'keep_awake', seconds: 4242 });
    });
    const client = agent.client;
    const keeper = new GuestKeepAwake(store.apply, () => undefined);
    keeper.follow('sb', { agent: async () => client });
    await until('the last change to be applied', () => store.last === 4242);
    // Give a wrongly queued write the time of two more intervals to show up.
    await new Promise((r) => setTimeout(r, 2 * KEEP_AWAKE_APPLY_INTERVAL_MS + 100));
    expect(store.last).toBe(4242);
    // The first change at once, the last one after the interval: not one write per message.
    expect(store.writes).toBeLessThanOrEqual(2);
    expect(agent.client.isClosed).toBe(false);
  });

  it('closes the watch of a guest that floods it, with bounded writes', async () => {
    const store = holdStore();
    const messages: string[] = [];
    let closedByHost = false;
    const N = 100_000;
    agent = await floodingAgent((channel) => {
      channel.once('close', () => (closedByHost = true));
      for (let i = 0; i < N && !channel.isClosed; i++) channel.send({ type: 'keep_awake', seconds: (i % 3600) + 1 });
    });
    const client = agent.client;
    const keeper = new GuestKeepAwake(store.apply, (m) => messages.push(m));
    const vm = { agent: async () => client };
    keeper.follow('sb', vm);
    await until('the host to close the flooded watch', () => closedByHost, 60_000);
    await new Promise((r) => setTimeout(r, 2 * KEEP_AWAKE_APPLY_INTERVAL_MS + 100));
    expect(store.writes).toBeGreaterThanOrEqual(1);
    expect(store.writes).toBeLessThanOrEqual(3);
    expect(messages.join('\n')).toMatch(/keep-awake.*closed/i);
    // Only the watch went: the agent connection itself (exec, files) stays up.
    expect(agent.client.isClosed).toBe(false);
    // Not watched again on this connection: a follow() on the next tick opens nothing.
    keeper.follow('sb', vm);
    await new Promise((r) => setTimeout(r, 200));
    expect(agent.requests.filter((r) => r.op === 'keep-awake.watch').length).toBe(1);
  });
});
