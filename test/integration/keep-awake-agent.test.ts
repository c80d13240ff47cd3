/**
 * Keep-awake holds from inside the guest, between the real agent (run on the
 * host in its --listen mode, with its keep-awake socket in a temp dir) and the
 * host's AgentClient: the `hob-keep-awake` command (the agent bundle's
 * `keep-awake` subcommand) reaches the socket, the agent relays each change
 * on the `keep-awake.watch` channel, and a change made while no host watched
 * arrives as the next watch's `pending`. The path through hobd into the
 * sandbox's hold, on a real VM, is in test/e2e/url-sleep.test.ts.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentClient, type KeepAwakeWatcher } from '../../daemon/agent/index.js';
import type { KeepAwakeChange } from '../../daemon/protocol/index.js';
import { parseDuration } from '../../guest-image/agent/keep-awake/cli.js';

const REPO = resolve(import.meta.dirname, '../..');
const MAIN = join(REPO, 'guest-image', 'agent', 'main.ts');

describe('keep-awake holds relayed by the agent', () => {
  let dir: string;
  let agentSocket: string;
  let holdSocket: string;
  let agent: ResultPromise;
  const clients: AgentClient[] = [];

  const connect = async (): Promise<AgentClient> => {
    const socket = net.connect(agentSocket);
    await new Promise<void>((ok, fail) => {
      socket.once('connect', ok);
      socket.once('error', fail);
    });
    const client = await AgentClient.connect(socket);
    clients.push(client);
    return client;
  };
  /** Runs `hob-keep-awake ARGS` against the test agent's socket. */
  const keepAwake = (args: string[]) =>
    execa(process.execPath, ['--import', 'tsx', MAIN, 'keep-awake', '--socket', holdSocket, ...args], { cwd: REPO, reject: false });
  const nextChange = (watcher: KeepAwakeWatcher) => new Promise<KeepAwakeChange>((ok) => watcher.once('change', ok));

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hob-keep-awake-'));
    agentSocket = join(dir, 'agent.sock');
    holdSocket = join(dir, 'run', 'keep-awake.sock');
    agent = execa(process.execPath, ['--import', 'tsx', MAIN, '--listen', agentSocket, '--keep-awake-socket', holdSocket], { cwd: REPO, reject: false, stdio: 'ignore' });
    for (let i = 0; i < 300 && !(existsSync(agentSocket) && existsSync(holdSocket)); i++) await new Promise((r) => setTimeout(r, 50));
    if (!existsSync(holdSocket)) throw new Error('the agent did not open its sockets');
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    agent?.kill('SIGKILL');
    await agent;
    rmSync(dir, { recursive: true, force: true });
  });

  it('parses durations', () => {
    expect([parseDuration('90'), parseDuration('90s'), parseDuration('10m'), parseDuration('2h'), parseDuration('1d')]).toEqual([90, 90, 600, 7200, 86_400]);
    expect(parseDuration('1w')).toBeUndefined();
    expect(parseDuration('-5')).toBeUndefined();
  });

  it('hands a change made while no host watched to the next watch as pending', async () => {
    const taken = await keepAwake(['--for', '1h']);
    expect(taken.exitCode, taken.stderr).toBe(0);
    expect(taken.stdout).toContain('hobd is not connected');
    const client = await connect();
    expect(client.supports('keep-awake.watch')).toBe(true);
    const watcher = await client.watchKeepAwake();
    expect(watcher.pending?.seconds).toBeGreaterThan(3500);
    expect(watcher.pending?.seconds).toBeLessThanOrEqual(3600);
    watcher.close();
    // Handed over once only.
    const again = await client.watchKeepAwake();
    expect(again.pending).toBeNull();
    again.close();
  });

  it('relays holds and releases to a watching host as they happen', async () => {
    const watcher = await (await connect()).watchKeepAwake();
    const held = nextChange(watcher);
    const taken = await keepAwake(['--for', '10m']);
    expect(taken.exitCode, taken.stderr).toBe(0);
    expect(taken.stdout).toBe('keeping this sandbox awake for 10m');
    expect(await held).toEqual({ seconds: 600 });

    const released = nextChange(watcher);
    const r = await keepAwake(['--release']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(await released).toEqual({ seconds: null });
    watcher.close();
  });

  it('refuses bad usage with status 2, and a missing agent with status 1', async () => {
    for (const args of [[], ['--for', '8d'], ['--for', '1h', '--release']]) {
      const r = await keepAwake(args);
      expect(r.exitCode, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/^hob-keep-awake: /);
    }
    const r = await execa(process.execPath, ['--import', 'tsx', MAIN, 'keep-awake', '--socket', join(dir, 'nothing.sock'), '--release'], { cwd: REPO, reject: false });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('cannot reach the hob agent');
  });

  it('answers a bad request on the socket with ok false', async () => {
    const reply = await new Promise<string>((ok, fail) => {
      const s = net.connect(holdSocket);
      let text = '';
      s.on('connect', () => s.write('{"action":"hold","seconds":0}\n'));
      s.on('data', (d) => (text += d.toString()));
      s.on('end', () => ok(text));
      s.on('error', fail);
    });
    expect(JSON.parse(reply)).toMatchObject({ ok: false });
  });
});
