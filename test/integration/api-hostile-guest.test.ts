/**
 * A hostile guest agent against the API (issue 12): over the real protocol on
 * a real socket pair (scripted agent), the agent answers `ready` and, in the
 * same write, `error` or CLOSE on tunnels (sandbox URLs, `WSS .../proxy`) and
 * file transfers (`hob cp` both ways); it sends error texts of multibyte
 * characters longer than a websocket close reason may be, times no Date can
 * hold, and directory entries named like paths. The API runs in this process:
 * an uncaught exception there would have killed hobd, so the process-level
 * handlers must never fire, and the API must still answer a follow-up request.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { createApi, type Api } from '../../daemon/api/app.js';
import { createSandboxHost } from '../../daemon/api/sandbox-host.js';
import { serveApi, type ApiServers } from '../../daemon/api/server.js';
import { TokenStore } from '../../daemon/auth/tokens.js';
import { runCli } from '../../daemon/cli/program.js';
import { SessionRegistry } from '../../daemon/core/sessions.js';
import type { Sandbox, SandboxService } from '../../daemon/core/types.js';
import { closeDatabase, openDatabase, type HobDb } from '../../daemon/db/open.js';
import type { Channel } from '../../daemon/protocol/index.js';
import { capturedIo } from '../helpers/cli-io.js';
import { oneSandboxService } from '../helpers/host-agent.js';
import { unixRequest } from '../helpers/http.js';
import { startScriptedAgent, type ScriptedAgent, type ScriptedRequest } from '../helpers/scripted-agent.js';

/** What the scripted agent does with a streaming request, set per test. */
type Script = (channel: Channel, request: ScriptedRequest) => void;

/** The `ready` payload of the request being served (fs.read needs a size). */
const readyValueOf = (request: ScriptedRequest): Record<string, unknown> => (request.op === 'fs.read' ? { size: 10 } : {});
const readyThenError: Script = (channel, request) => {
  channel.send({ type: 'ready', value: readyValueOf(request) });
  channel.send({ type: 'error', code: 'EIO', message: 'the guest failed right after ready' });
  channel.close();
};
const readyThenClose: Script = (channel, request) => {
  channel.send({ type: 'ready', value: readyValueOf(request) });
  channel.close();
};
/** 200 characters of 3 bytes each: 600 bytes, far over the 123 bytes a close reason may hold. */
const LONG_MULTIBYTE = '€'.repeat(200);

describe('a hostile guest agent against the API', () => {
  const uncaught: unknown[] = [];
  const onUncaught = (err: unknown): void => {
    uncaught.push(err);
  };
  let dir: string;
  let agent: ScriptedAgent;
  let db: HobDb;
  let sessions: SessionRegistry;
  let api: Api;
  let servers: ApiServers;
  let port: number;
  let socketPath: string;
  let script: Script = readyThenError;
  const goodStat = { name: 'f', type: 'file', size: 1, mode: 0o644, uid: 0, gid: 0, mtimeMs: 0 };
  /** What fs.stat, fs.list and service.list answer, set per test. */
  let statAnswer: Record<string, unknown> = goodStat;
  let listAnswer: Record<string, unknown>[] = [];
  let servicesAnswer: Record<string, unknown>[] = [];

  beforeAll(async () => {
    process.on('uncaughtException', onUncaught);
    process.on('unhandledRejection', onUncaught);
    dir = mkdtempSync(join(tmpdir(), 'hob-hostile-streams-'));
    agent = await startScriptedAgent(['tunnel', 'fs.read', 'fs.write', 'fs.stat', 'fs.list', 'services', 'service.list', 'service.get'], (channel, request) => {
      const answer = (value: unknown): void => {
        channel.send({ type: 'result', value });
        channel.close();
      };
      switch (request.op) {
        case 'fs.stat':
          answer(request.path === '/f' ? goodStat : statAnswer);
          return;
        case 'fs.list':
          answer({ entries: listAnswer });
          return;
        case 'service.list':
          answer({ services: servicesAnswer });
          return;
        case 'service.get':
          answer(servicesAnswer[0]);
          return;
        case 'tunnel':
        case 'fs.read':
        case 'fs.write':
          script(channel, request);
          return;
        default:
          channel.send({ type: 'error', code: 'ENOTSUP', message: `not scripted: ${request.op}` });
          channel.close();
      }
    });
    db = openDatabase(join(dir, 'hob.db'));
    const tokens = new TokenStore(db);
    sessions = new SessionRegistry();
    const base = oneSandboxService('dev', agent.client);
    const sandboxes: SandboxService = { ...base, get: (n: string): Sandbox => ({ ...base.get(n), urlAuth: 'public' }) };
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    port = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    socketPath = join(dir, 'hob.sock');
    const log = { info: () => undefined, warn: () => undefined, error: () => undefined };
    api = createApi({
      sandboxes,
      sessions,
      tokens,
      port,
      version: '0.1.0',
      log,
      sandboxHost: createSandboxHost({ sandboxes, sessions, tokens, port, httpPortFor: () => 8080, log }),
    });
    servers = await serveApi(api, { socketPath, tcpPort: port });
  });

  afterAll(async () => {
    process.off('uncaughtException', onUncaught);
    process.off('unhandledRejection', onUncaught);
    await servers?.close();
    sessions?.shutdown('test over');
    if (db) closeDatabase(db);
    agent?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  afterEach(async () => {
    // Errors emitted on a later tick would surface here.
    await new Promise((r) => setTimeout(r, 50));
    expect(uncaught.splice(0).map(String)).toEqual([]);
    // hobd still answers.
    expect((await unixRequest(socketPath, { path: '/v1/sprites/dev' })).status).toBe(200);
    expect(sessions.activity('dev').holds).toBe(0);
  });

  /** A raw HTTP exchange with the TCP listener under the sandbox URL's Host; resolves with what came back before the close. */
  const rawUrlExchange = (head: string): Promise<string> =>
    new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1');
      const chunks: Buffer[] = [];
      socket.on('data', (c: Buffer) => chunks.push(c));
      socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
      socket.on('error', reject);
      socket.write(head);
    });
  const urlGet = () => rawUrlExchange(`GET /x HTTP/1.1\r\nHost: dev.localhost:${port}\r\nConnection: close\r\n\r\n`);
  const urlUpgrade = () =>
    rawUrlExchange(
      `GET /ws HTTP/1.1\r\nHost: dev.localhost:${port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
    );

  /** Opens `WSS .../proxy` over the unix socket, sends the request, and collects messages until the close. */
  const proxy = async (request: Record<string, unknown>): Promise<{ messages: string[]; code: number; reason: Buffer }> => {
    const ws = new WebSocket(`ws+unix://${socketPath}:/v1/sprites/dev/proxy`);
    const messages: string[] = [];
    ws.on('message', (data) => messages.push(String(data)));
    const closed = new Promise<{ code: number; reason: Buffer }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason })));
    ws.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('unexpected-response', () => reject(new Error('upgrade refused')));
    });
    ws.send(JSON.stringify(request));
    return { messages, ...(await closed) };
  };

  for (const [label, fail] of [
    ['error', readyThenError],
    ['CLOSE', readyThenClose],
  ] as const) {
    describe(`ready then ${label} in one write`, () => {
      beforeAll(() => {
        script = fail;
      });

      it('sandbox URL request: answered 502, hobd up', async () => {
        const answer = await urlGet();
        expect(answer).toMatch(/^HTTP\/1\.1 50[23] /);
      });

      it('sandbox URL upgrade: answered or closed, hobd up', async () => {
        const answer = await urlUpgrade();
        expect(answer).not.toMatch(/^HTTP\/1\.1 101 /);
      });

      it('WSS .../proxy (hob proxy): an error answer and a close', async () => {
        const { messages, code } = await proxy({ port: 8080 });
        expect(code).toBe(1011);
        expect(JSON.parse(messages[0] ?? '{}')).toMatchObject({ status: 'error' });
      });

      it('fs/read (hob cp out): an error status', async () => {
        const res = await unixRequest(socketPath, { path: '/v1/sprites/dev/fs/read?path=/f' });
        expect(res.status).toBeGreaterThanOrEqual(400);
        expect(res.status).not.toBe(200);
      });

      it('fs/write (hob cp in): an error status', async () => {
        const res = await unixRequest(socketPath, { method: 'PUT', path: '/v1/sprites/dev/fs/write?path=/f', body: Buffer.alloc(100_000, 1) });
        expect(res.status).toBeGreaterThanOrEqual(400);
      });
    });
  }

  describe('close reasons from guest texts of multibyte characters', () => {
    /** The reason a close frame carries must be valid UTF-8 of at most 123 bytes. */
    const expectValidReason = (reason: Buffer): void => {
      expect(reason.length).toBeGreaterThan(0);
      expect(reason.length).toBeLessThanOrEqual(123);
      expect(Buffer.from(reason.toString('utf8'), 'utf8').equals(reason)).toBe(true);
      expect(reason.toString('utf8')).not.toContain('\uFFFD');
    };

    it('proxy: a tunnel refused with a long multibyte error text', async () => {
      script = (channel) => {
        channel.send({ type: 'error', code: 'EHOSTDOWN', message: LONG_MULTIBYTE });
        channel.close();
      };
      const { code, reason } = await proxy({ port: 8080 });
      expect(code).toBe(1011);
      expectValidReason(reason);
    });

    it('relay: a connected tunnel failing with a long multibyte error text', async () => {
      let failTunnel: (() => void) | undefined;
      script = (channel, request) => {
        channel.send({ type: 'ready', value: readyValueOf(request) });
        failTunnel = () => {
          channel.send({ type: 'error', code: 'ECONNRESET', message: LONG_MULTIBYTE });
          channel.close();
        };
      };
      const ws = new WebSocket(`ws+unix://${socketPath}:/v1/sprites/dev/proxy`);
      const closed = new Promise<{ code: number; reason: Buffer }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason })));
      ws.on('error', () => undefined);
      await new Promise<void>((resolve) => ws.once('open', resolve));
      const connected = new Promise<string>((resolve) => ws.once('message', (data) => resolve(String(data))));
      ws.send(JSON.stringify({ port: 8080 }));
      expect(JSON.parse(await connected)).toMatchObject({ status: 'connected' });
      failTunnel?.();
      const { code, reason } = await closed;
      expect(code).toBe(1011);
      expectValidReason(reason);
    });
  });

  describe('bad times and names in answers: 502, never a 500', () => {
    const list = (path: string) => unixRequest(socketPath, { path: `/v1/sprites/dev/fs/list?path=${encodeURIComponent(path)}` });

    it.each([1e300, -1e300, 8.64e15 + 1])('a file time of %d', async (mtimeMs) => {
      statAnswer = { ...goodStat, name: 'g', mtimeMs };
      const res = await list('/g');
      expect(res.status, res.text()).toBe(502);
      expect(res.json<{ error: string }>().error).toBe('bad_gateway');
      statAnswer = { ...goodStat, name: 'dir', type: 'directory' };
      listAnswer = [{ ...goodStat, name: 'a' }, { ...goodStat, name: 'b', mtimeMs }];
      expect((await list('/dir')).status).toBe(502);
    });

    it.each(['../../etc/passwd', 'a/b', '.', '..', '', 'a\0b', 'x'.repeat(256)])('a directory entry named %j', async (name) => {
      statAnswer = { ...goodStat, name: 'dir', type: 'directory' };
      listAnswer = [{ ...goodStat, name: 'ok' }, { ...goodStat, name }];
      const res = await list('/dir');
      expect(res.status, res.text()).toBe(502);
      expect(res.text()).toContain('invalid answer from the guest agent');
    });

    it('valid entries (any printable name, a 255-character one, a pre-1970 time) are listed', async () => {
      statAnswer = { ...goodStat, name: 'dir', type: 'directory' };
      listAnswer = [
        { ...goodStat, name: 'Grüße €.txt' },
        { ...goodStat, name: 'y'.repeat(255), mtimeMs: -86_400_000 },
      ];
      const res = await list('/dir');
      expect(res.status, res.text()).toBe(200);
      expect(res.json<{ entries: { name: string; modTime: string }[] }>().entries.map((e) => e.modTime)).toEqual(['1970-01-01T00:00:00.000Z', '1969-12-31T00:00:00.000Z']);
    });

    it('a service start time no Date can hold', async () => {
      servicesAnswer = [
        {
          name: 'web',
          definition: { cmd: 'true' },
          state: { status: 'running', pid: 10, startedAtMs: 1e300, restartCount: 0, enabled: true },
          logFile: '/var/log/hob/services/web.log',
        },
      ];
      const res = await unixRequest(socketPath, { path: '/v1/sprites/dev/services' });
      expect(res.status, res.text()).toBe(502);
    });
  });

  describe('guest text printed by the CLI cannot drive the terminal', () => {
    /** Clears the screen, sets the window title, and reverses the text after it. */
    const HOSTILE = '\x1b[2J\x1b]0;pwned\x07\u202e\x9b31m';
    const cli = async (args: string[]) => {
      const io = capturedIo({ env: { HOB_SOCKET: socketPath } });
      io.stdin.end();
      const code = await runCli(args, io);
      return { code, out: io.stdoutText(), err: io.stderrText() };
    };
    const expectEscaped = (text: string): void => {
      expect(text).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f-\x9f\u202e]/);
      expect(text).toContain('\\x1b[2J\\x1b]0;pwned\\x07\\u202e\\x9b31m');
    };

    it('a service error in `hob services ls` and `hob services show`', async () => {
      servicesAnswer = [
        {
          name: 'web',
          definition: { cmd: 'true' },
          state: { status: 'failed', error: `exited ${HOSTILE}`, restartCount: 1, enabled: true },
          logFile: '/var/log/hob/services/web.log',
        },
      ];
      const ls = await cli(['services', 'ls', 'dev']);
      expect(ls.code, ls.err).toBe(0);
      expect(ls.out).toContain('web');
      // The table shows the status only; `show` shows the error.
      const info = await cli(['services', 'info', 'dev', 'web']);
      expect(info.code, info.err).toBe(0);
      expectEscaped(info.out);
    });

    it('a guest error message in a failed `hob cp`', async () => {
      script = (channel) => {
        channel.send({ type: 'error', code: 'EIO', message: `read failed ${HOSTILE}` });
        channel.close();
      };
      const cp = await cli(['cp', 'dev:/f', '-']);
      expect(cp.code).not.toBe(0);
      expectEscaped(cp.err);
    });
  });

  it('a websocket path with bad percent-encoding is a 400', async () => {
    for (const path of ['/v1/sprites/%zz/proxy', '/v1/sprites/%zz/exec?cmd=true', '/v1/sprites/dev/exec/%zz']) {
      const ws = new WebSocket(`ws+unix://${socketPath}:${path}`);
      const status = await new Promise<number>((resolve, reject) => {
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.on('open', () => reject(new Error(`${path} opened`)));
        ws.on('error', () => undefined);
      });
      expect(status, path).toBe(400);
    }
  });
});
