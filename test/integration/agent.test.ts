/**
 * The real guest agent, run on the host as a plain process (`--listen` on a temp
 * unix socket), driven through AgentClient. Commands run on this machine as the
 * test user: they are harmless, and every file path lives in a temp dir.
 * fs.freeze, clock.set and shutdown are never called here (they would act on the
 * host itself); test/e2e/agent.test.ts covers them in a VM.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { release, tmpdir, userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { AgentClient, IncompatibleAgentError, UnsupportedByAgentError, waitForAgent, type ExecProcess, type PortWatcher } from '../../daemon/agent/index.js';
import { AgentError, GuestError } from '../../daemon/errors.js';
import { encodeFrame, FrameKind, Mux, PROTOCOL_VERSION_MAX, type ChannelMessage } from '../../daemon/protocol/index.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

interface AgentProcess {
  readonly socketPath: string;
  readonly child: ResultPromise;
  stderr(): string;
  stop(): Promise<void>;
}

/** Starts guest-image/agent/main.ts under tsx, listening on a unix socket in `dir`. */
function startAgent(dir: string, name: string, extraArgs: string[] = []): AgentProcess {
  const socketPath = join(dir, `${name}.sock`);
  const child = execa(process.execPath, ['--import', 'tsx', join(repo, 'guest-image', 'agent', 'main.ts'), '--listen', socketPath, ...extraArgs], {
    cwd: repo,
    reject: false,
    stdin: 'ignore',
    stdout: 'ignore',
    stderr: 'pipe',
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  return {
    socketPath,
    child,
    stderr: () => stderr,
    stop: async () => {
      child.kill('SIGKILL');
      await child;
    },
  };
}

function openUnix(path: string): Promise<net.Socket> {
  return new Promise((resolvePromise, reject) => {
    const socket = net.connect(path);
    socket.once('connect', () => {
      socket.off('error', reject);
      resolvePromise(socket);
    });
    socket.once('error', reject);
  });
}

function connectTo(agent: AgentProcess): Promise<AgentClient> {
  return waitForAgent(() => openUnix(agent.socketPath), { timeoutMs: 60_000 });
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Resolves once `stream`'s accumulated text matches `pattern`; returns that text. */
function waitForOutput(stream: Readable, pattern: RegExp): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    let text = '';
    const onData = (chunk: Buffer): void => {
      text += chunk.toString();
      if (pattern.test(text)) {
        stream.off('data', onData);
        resolvePromise(text);
      }
    };
    stream.on('data', onData);
    stream.once('end', () => reject(new Error(`stream ended before ${pattern}: ${JSON.stringify(text)}`)));
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

let dir: string;
let agent: AgentProcess;
let client: AgentClient;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hob-agent-it-'));
  agent = startAgent(dir, 'agent');
  try {
    client = await connectTo(agent);
  } catch (err) {
    throw new Error(`agent did not answer: ${String(err)}\n${agent.stderr()}`);
  }
});

afterAll(async () => {
  client?.close();
  await agent?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('handshake', () => {
  it('negotiates the version and reports capabilities and a boot id shared by every connection', async () => {
    expect(client.version).toBe(PROTOCOL_VERSION_MAX);
    expect(client.agentVersion).toMatch(/^\d+\.\d+\.\d+/);
    for (const op of ['exec', 'exec.tty', 'fs.read', 'fs.write', 'tunnel', 'ports.watch', 'sync']) expect(client.supports(op)).toBe(true);
    // A --listen agent runs on a host: it leaves out what would freeze, re-time or power off the machine.
    for (const op of ['fs.freeze', 'fs.thaw', 'clock.set', 'shutdown']) expect(client.supports(op)).toBe(false);
    const second = await AgentClient.connect(await openUnix(agent.socketPath), { timeoutMs: 30_000 });
    try {
      expect(second.bootId).toBe(client.bootId);
      expect(client.bootId.length).toBeGreaterThan(8);
      expect(await second.ping()).toBeGreaterThan(0);
    } finally {
      second.close();
    }
  });

  it('rejects with AgentError when there is no common protocol version', async () => {
    const socket = await openUnix(agent.socketPath);
    const attempt = AgentClient.connect(socket, { minVersion: PROTOCOL_VERSION_MAX + 1, maxVersion: PROTOCOL_VERSION_MAX + 5, timeoutMs: 30_000 });
    await expect(attempt).rejects.toThrow(IncompatibleAgentError);
    await expect(attempt).rejects.toThrow(/no protocol version/);
    expect(socket.destroyed).toBe(true);
    // Not worth retrying: waitForAgent gives up at once instead of running into its deadline.
    const waiting = waitForAgent(() => openUnix(agent.socketPath), { minVersion: PROTOCOL_VERSION_MAX + 1, maxVersion: PROTOCOL_VERSION_MAX + 1, timeoutMs: 600_000 });
    await expect(waiting).rejects.toBeInstanceOf(IncompatibleAgentError);
  });
});

describe('exec', () => {
  it('runs uname -a with exit code 0 and the kernel in its output', async () => {
    const result = await client.run(['uname', '-a']);
    expect(result.code).toBe(0);
    expect(result.signal).toBeNull();
    expect(result.stdout.toString()).toMatch(/^Linux /);
    expect(result.stdout.toString()).toContain(release());
  });

  it("reports sh -c 'exit 7' as exit code 7", async () => {
    const result = await client.run(['sh', '-c', 'exit 7']);
    expect(result).toMatchObject({ code: 7, signal: null });
  });

  it('reports a signal sent to sleep 100 as the terminating signal', async () => {
    const proc = await client.exec({ argv: ['sleep', '100'] });
    proc.stdout.resume();
    proc.stderr.resume();
    proc.signal('SIGTERM');
    expect(await proc.exited).toEqual({ code: null, signal: 'SIGTERM' });
  });

  it('signals the whole process group, not only the leader', async () => {
    const proc = await client.exec({ argv: ['sh', '-c', 'sleep 100 & echo $!; wait'] });
    proc.stderr.resume();
    const child = Number((await waitForOutput(proc.stdout, /\d+\n/)).trim());
    proc.stdout.resume();
    expect(isAlive(child)).toBe(true);
    proc.signal('SIGKILL');
    expect(await proc.exited).toEqual({ code: null, signal: 'SIGKILL' });
    await vi.waitFor(() => expect(isAlive(child)).toBe(false), { timeout: 10_000 });
  });

  it('pipes 1 MiB through sha256sum', async () => {
    const data = randomBytes(1024 * 1024);
    const result = await client.run(['sha256sum'], { input: data });
    expect(result.code).toBe(0);
    expect(result.stdout.toString().split(' ')[0]).toBe(sha256(data));
  });

  it('streams 4 MiB back and forth through cat with flow control', async () => {
    const data = randomBytes(4 * 1024 * 1024);
    const result = await client.run(['cat'], { input: data });
    expect(result.code).toBe(0);
    expect(sha256(result.stdout)).toBe(sha256(data));
  });

  it('keeps stdout and stderr apart', async () => {
    const result = await client.run(['sh', '-c', 'echo out; echo err >&2; exit 3']);
    expect(result).toMatchObject({ code: 3, signal: null });
    expect(result.stdout.toString()).toBe('out\n');
    expect(result.stderr.toString()).toBe('err\n');
  });

  it('gives a tty exec a terminal whose size follows resize', async () => {
    const proc = await client.exec({
      argv: ['sh', '-c', 'tty; test -t 0 && echo stdin-is-a-tty; echo TERM=$TERM; read line; stty size'],
      tty: { rows: 24, cols: 80 },
    });
    proc.stderr.resume();
    const output = readAll(proc.stdout);
    proc.resize(33, 111);
    proc.stdin?.write('go\n');
    const text = (await output).toString();
    expect(await proc.exited).toEqual({ code: 0, signal: null });
    expect(text).toMatch(/\/dev\/pts\/\d+/);
    expect(text).toContain('stdin-is-a-tty');
    expect(text).toContain('TERM=xterm-256color');
    expect(text).toMatch(/33 111\r?\n/);
  });

  it('runs with the given env, cwd and user', async () => {
    const env = await client.run(['sh', '-c', 'echo "$FOO|${HOME:-unset}|${LANG:-unset}|$(pwd)"'], { env: { FOO: 'bar', PATH: '/usr/bin:/bin' }, cwd: dir });
    // The given environment replaces the default one, but the user's HOME stays.
    expect(env.stdout.toString()).toBe(`bar|${userInfo().homedir}|unset|${dir}\n`);
    const defaults = await client.run(['sh', '-c', 'echo "$LANG|$PATH"']);
    expect(defaults.stdout.toString()).toMatch(/^C\.UTF-8\|.*\/usr\/bin/);
    const nobody = await client.run(['sh', '-c', 'id -un; id -G'], { user: 'nobody' });
    const [name, groups] = nobody.stdout.toString().trim().split('\n');
    expect(name).toBe('nobody');
    // Supplementary groups are the user's own, not root's.
    expect(groups?.split(' ')).not.toContain('0');
    const tty = await client.run(['sh', '-c', 'id -un; id -G'], { user: 'nobody', tty: { rows: 24, cols: 80 } });
    const [ttyName, ttyGroups] = tty.stdout.toString().trim().split(/\r?\n/);
    expect(ttyName).toBe('nobody');
    expect(ttyGroups?.split(' ')).not.toContain('0');
  });

  it('serves concurrent execs on one connection', async () => {
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => client.run(['sh', '-c', `echo ${i}; exit ${i}`])));
    results.forEach((r, i) => {
      expect(r.code).toBe(i);
      expect(r.stdout.toString()).toBe(`${i}\n`);
    });
  });

  it('fails with a guest errno for a missing command, cwd or user', async () => {
    await expect(client.exec({ argv: ['definitely-not-a-command-hob'] })).rejects.toMatchObject({ guestCode: 'ENOENT' });
    await expect(client.exec({ argv: ['true'], cwd: join(dir, 'missing') })).rejects.toMatchObject({ guestCode: 'ENOENT' });
    await expect(client.exec({ argv: ['true'], user: 'no-such-user-hob' })).rejects.toMatchObject({ guestCode: 'ENOUSER' });
  });

  it('hangs up the process group when the host closes the channel', async () => {
    const proc: ExecProcess = await client.exec({ argv: ['sleep', '100'] });
    expect(isAlive(proc.pid)).toBe(true);
    proc.close();
    await expect(proc.exited).rejects.toThrow(AgentError);
    await vi.waitFor(() => expect(isAlive(proc.pid)).toBe(false), { timeout: 10_000 });
  });
});

describe('files', () => {
  it('writes a 20 MiB file and reads back the same bytes', async () => {
    const data = randomBytes(20 * 1024 * 1024);
    const path = join(dir, 'big.bin');
    const chunks = Array.from({ length: 20 }, (_, i) => data.subarray(i * 1024 * 1024, (i + 1) * 1024 * 1024));
    expect(await client.writeFile(path, Readable.from(chunks))).toEqual({ size: data.length });
    expect(sha256(readFileSync(path))).toBe(sha256(data));
    const { size, stream } = await client.readFile(path);
    expect(size).toBe(data.length);
    expect(sha256(await readAll(stream))).toBe(sha256(data));
    const range = await client.readFileBuffer(path, { offset: 1000, length: 5000 });
    expect(range.equals(data.subarray(1000, 6000))).toBe(true);
  });

  it('leaves neither a partial target nor a temp file when a write is interrupted', async () => {
    const sub = join(dir, 'interrupted');
    await client.mkdir(sub);
    const fresh = join(sub, 'fresh.bin');
    const existing = join(sub, 'existing.txt');
    writeFileSync(existing, 'old content');
    for (const target of [fresh, existing]) {
      async function* failingSource(): AsyncGenerator<Buffer> {
        for (let i = 0; i < 8; i++) yield randomBytes(1024 * 1024);
        throw new Error('source broke halfway');
      }
      await expect(client.writeFile(target, failingSource())).rejects.toThrow(AgentError);
    }
    const controller = new AbortController();
    async function* slowSource(): AsyncGenerator<Buffer> {
      yield randomBytes(1024 * 1024);
      controller.abort();
      yield randomBytes(1024 * 1024);
    }
    await expect(client.writeFile(fresh, slowSource(), { signal: controller.signal })).rejects.toThrow(/aborted/);
    // The agent removes the temp file once it sees the channel closed.
    await vi.waitFor(() => expect(readdirSync(sub).sort()).toEqual(['existing.txt']), { timeout: 10_000 });
    expect(existsSync(fresh)).toBe(false);
    expect(readFileSync(existing, 'utf8')).toBe('old content');
    expect((await client.list(sub)).map((e) => e.name)).toEqual(['existing.txt']);
  });

  it('keeps the mode of a replaced file and applies the requested mode to a new one', async () => {
    const path = join(dir, 'moded.txt');
    await client.writeFile(path, Buffer.from('one'), { mode: 0o640 });
    expect(statSync(path).mode & 0o7777).toBe(0o640);
    await client.chmod(path, 0o600);
    await client.writeFile(path, Buffer.from('two'), { mode: 0o644 });
    expect(statSync(path).mode & 0o7777).toBe(0o600);
    expect(readFileSync(path, 'utf8')).toBe('two');
    await client.writeFile(join(dir, 'deep', 'er', 'file.txt'), Buffer.from('x'), { mkdirs: true });
    expect(readFileSync(join(dir, 'deep', 'er', 'file.txt'), 'utf8')).toBe('x');
  });

  it('stats, lists, makes, renames, chmods and removes, with errno codes on failure', async () => {
    const base = join(dir, 'ops');
    await client.mkdir(join(base, 'a', 'b'), { recursive: true });
    await client.writeFile(join(base, 'a', 'file.txt'), Buffer.from('hello'));
    expect(await client.stat(join(base, 'a'))).toMatchObject({ name: 'a', type: 'directory' });
    expect(await client.stat(join(base, 'a', 'file.txt'))).toMatchObject({ name: 'file.txt', type: 'file', size: 5 });
    expect((await client.list(join(base, 'a'))).map((e) => [e.name, e.type])).toEqual([
      ['b', 'directory'],
      ['file.txt', 'file'],
    ]);
    await client.rename(join(base, 'a', 'file.txt'), join(base, 'renamed.txt'));
    expect(existsSync(join(base, 'renamed.txt'))).toBe(true);
    await client.chmod(join(base, 'renamed.txt'), 0o600);
    expect((await client.stat(join(base, 'renamed.txt'))).mode).toBe(0o600);

    const missing = join(base, 'missing');
    await expect(client.stat(missing)).rejects.toBeInstanceOf(GuestError);
    await expect(client.stat(missing)).rejects.toMatchObject({ guestCode: 'ENOENT' });
    await expect(client.readFile(missing)).rejects.toMatchObject({ guestCode: 'ENOENT' });
    await expect(client.list(missing)).rejects.toMatchObject({ guestCode: 'ENOENT' });
    await expect(client.rename(missing, join(base, 'x'))).rejects.toMatchObject({ guestCode: 'ENOENT' });
    await expect(client.chmod(missing, 0o644)).rejects.toMatchObject({ guestCode: 'ENOENT' });
    await expect(client.remove(missing)).rejects.toMatchObject({ guestCode: 'ENOENT' });
    await expect(client.remove(missing, { recursive: true })).rejects.toMatchObject({ guestCode: 'ENOENT' });
    await expect(client.mkdir(join(base, 'a'))).rejects.toMatchObject({ guestCode: 'EEXIST' });
    await expect(client.readFile(join(base, 'a'))).rejects.toMatchObject({ guestCode: 'EISDIR' });
    await expect(client.writeFile(join(base, 'a'), Buffer.from('x'))).rejects.toMatchObject({ guestCode: 'EISDIR' });
    await expect(client.writeFile(join(base, 'nodir', 'f'), Buffer.from('x'))).rejects.toMatchObject({ guestCode: 'ENOENT' });
    await expect(client.remove(join(base, 'a'))).rejects.toMatchObject({ guestCode: 'ENOTEMPTY' });

    await client.remove(join(base, 'renamed.txt'));
    await client.remove(join(base, 'a'), { recursive: true });
    expect(readdirSync(base)).toEqual([]);
    await client.sync();
  });
});

describe('network', () => {
  it('tunnels to a TCP server on loopback, with half-close', async () => {
    const server = net.createServer({ allowHalfOpen: true }, (socket) => {
      const chunks: Buffer[] = [];
      socket.on('data', (d: Buffer) => chunks.push(d));
      socket.on('end', () => socket.end(Buffer.concat(chunks).toString().toUpperCase()));
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    try {
      const port = (server.address() as net.AddressInfo).port;
      const tunnel = await client.openTunnel(port);
      const reply = readAll(tunnel);
      tunnel.end('hello through the tunnel');
      expect((await reply).toString()).toBe('HELLO THROUGH THE TUNNEL');
    } finally {
      await new Promise((ok) => server.close(ok));
    }
  });

  it('reports ECONNREFUSED for a port nobody listens on', async () => {
    const probe = net.createServer();
    await new Promise<void>((ok) => probe.listen(0, '127.0.0.1', ok));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise((ok) => probe.close(ok));
    await expect(client.openTunnel(port)).rejects.toMatchObject({ guestCode: 'ECONNREFUSED' });
  });

  it('watches a listener open and close', async () => {
    const watcher: PortWatcher = await client.watchPorts();
    const server = net.createServer();
    try {
      expect(Array.isArray(watcher.initial)).toBe(true);
      const event = (kind: 'opened' | 'closed', port: () => number): Promise<void> =>
        new Promise((ok) => {
          const on = (p: { port: number; address: string }): void => {
            if (p.port === port() && p.address === '127.0.0.1') {
              watcher.off(kind, on);
              ok();
            }
          };
          watcher.on(kind, on);
        });
      let port = 0;
      const opened = event('opened', () => port);
      await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
      port = (server.address() as net.AddressInfo).port;
      await opened;
      expect(watcher.ports.some((p) => p.port === port)).toBe(true);
      const closed = event('closed', () => port);
      await new Promise((ok) => server.close(ok));
      await closed;
      expect(watcher.ports.some((p) => p.port === port)).toBe(false);
    } finally {
      watcher.close();
      if (server.listening) server.close();
    }
  });
});

describe('robustness', () => {
  it('answers bad requests with EBADREQ / ENOTSUP and keeps serving', async () => {
    const mux = new Mux(await openUnix(agent.socketPath));
    try {
      const hello = new Promise<unknown>((ok) => mux.once('hello', ok));
      mux.sendHello({ role: 'host', minVersion: 1, maxVersion: PROTOCOL_VERSION_MAX });
      expect(await hello).toMatchObject({ role: 'agent', version: PROTOCOL_VERSION_MAX });
      const ask = (request: unknown): Promise<ChannelMessage> => {
        const channel = mux.openChannel();
        const answer = new Promise<ChannelMessage>((ok) => channel.once('control', ok));
        channel.send({ type: 'request', request });
        return answer;
      };
      expect(await ask({ op: 'exec', argv: [] })).toMatchObject({ type: 'error', code: 'EBADREQ' });
      expect(await ask({ op: 'fs.stat', path: 'relative' })).toMatchObject({ type: 'error', code: 'EBADREQ' });
      expect(await ask('not even an object')).toMatchObject({ type: 'error', code: 'EBADREQ' });
      expect(await ask({ op: 'format-the-disk' })).toMatchObject({ type: 'error', code: 'ENOTSUP' });
      // Garbage bytes, invalid JSON, data and close frames for channels that never existed.
      mux.writeFrame(Buffer.from('garbage that is not a frame'));
      mux.writeFrame(encodeFrame(FrameKind.Control, 9999, Buffer.from('{not json')));
      mux.writeFrame(encodeFrame(FrameKind.Control, 9998, Buffer.from('{"type":"exit","code":1,"signal":null}')));
      mux.writeFrame(encodeFrame(FrameKind.Data, 9997, Buffer.from('stray')));
      mux.writeFrame(encodeFrame(FrameKind.Close, 9996));
      expect(await ask({ op: 'ping' })).toMatchObject({ type: 'result' });
    } finally {
      mux.destroy();
    }
    expect(await client.ping()).toBeGreaterThan(0);
    expect(agent.child.exitCode).toBeNull();
  });

  it('survives clients that vanish mid-operation', async () => {
    const other = await AgentClient.connect(await openUnix(agent.socketPath), { timeoutMs: 30_000 });
    const proc = await other.exec({ argv: ['sleep', '100'] });
    const { stream } = await other.readFile(join(dir, 'big.bin'));
    stream.once('data', () => other.close());
    await expect(readAll(stream)).rejects.toThrow(AgentError);
    await expect(proc.exited).rejects.toThrow(AgentError);
    await vi.waitFor(() => expect(isAlive(proc.pid)).toBe(false), { timeout: 10_000 });
    expect((await client.run(['echo', 'still here'])).stdout.toString()).toBe('still here\n');
  });

  it('gives a clear client error for an operation an old agent does not advertise', async () => {
    const old = startAgent(dir, 'old', ['--capabilities', 'exec,ping,fs.stat']);
    try {
      const oldClient = await connectTo(old);
      try {
        expect(oldClient.supports('fs.chmod')).toBe(false);
        await expect(oldClient.chmod(join(dir, 'x'), 0o644)).rejects.toBeInstanceOf(UnsupportedByAgentError);
        await expect(oldClient.chmod(join(dir, 'x'), 0o644)).rejects.toThrow(/does not support "fs\.chmod"/);
        await expect(oldClient.exec({ argv: ['sh'], tty: { rows: 24, cols: 80 } })).rejects.toThrow(/does not support "exec\.tty"/);
        await expect(oldClient.openTunnel(80)).rejects.toBeInstanceOf(UnsupportedByAgentError);
        expect((await oldClient.run(['echo', 'ok'])).stdout.toString()).toBe('ok\n');
      } finally {
        oldClient.close();
      }
    } finally {
      await old.stop();
    }
  });
});
