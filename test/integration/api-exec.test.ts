/**
 * Exec (websocket and HTTP), sessions and files through the API, down to the
 * real guest agent. The agent runs on the host as a plain process (its
 * `--listen` mode) instead of inside a VM, so the commands below run on the
 * host, as the test user: they are harmless and their files stay in a temp
 * dir. The SandboxService is a one-sandbox stand-in for the manager (which
 * needs VMs); test/e2e/api.test.ts runs the same API against real VMs.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { createApi, type Api } from '../../daemon/api/app.js';
import { serveApi, type ApiServers } from '../../daemon/api/server.js';
import { TokenStore } from '../../daemon/auth/tokens.js';
import { SessionRegistry } from '../../daemon/core/sessions.js';
import { closeDatabase, openDatabase, type HobDb } from '../../daemon/db/open.js';
import { oneSandboxService, startHostAgent, type HostAgent } from '../helpers/host-agent.js';
import { freePort } from '../helpers/free-port.js';

interface WsRun {
  texts: Array<Record<string, unknown>>;
  binary: Buffer[];
  stdout: string;
  stderr: string;
  exitFrame: number | undefined;
  closeCode: number;
  capabilities: string | undefined;
}


/** Polls `check` until it returns a value (no timing assertion: only a generous bound against hanging). */
async function eventually<T>(check: () => T | undefined | Promise<T | undefined>, what: string, limitMs = 30_000): Promise<T> {
  const start = Date.now();
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() - start > limitMs) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('exec, sessions and files through the API (guest agent on the host)', () => {
  let agent: HostAgent;
  let db: HobDb;
  let sessions: SessionRegistry;
  let api: Api;
  let servers: ApiServers;
  let port: number;
  let token: string;
  let base: string;
  let wsBase: string;
  let work: string;

  beforeAll(async () => {
    agent = await startHostAgent();
    work = join(agent.dir, 'files');
    mkdirSync(work);
    db = openDatabase(join(agent.dir, 'hob.db'));
    const tokens = new TokenStore(db);
    token = tokens.create('test').token;
    sessions = new SessionRegistry();
    port = await freePort();
    api = createApi({
      sandboxes: oneSandboxService('dev', agent.client, { HOB_TEST_ENV: 'from-sandbox' }),
      sessions,
      tokens,
      port,
      version: '0.1.0',
      log: { info: () => undefined, warn: () => undefined, error: () => undefined },
    });
    servers = await serveApi(api, { tcpPort: port });
    base = `http://127.0.0.1:${port}/v1/sprites/dev`;
    wsBase = `ws://127.0.0.1:${port}/v1/sprites/dev`;
  });

  afterAll(async () => {
    await servers?.close();
    sessions?.shutdown('test over');
    if (db) closeDatabase(db);
    await agent?.stop();
  });

  const headers = () => ({ authorization: `Bearer ${token}` });

  function qs(params: Array<[string, string]>): string {
    return new URLSearchParams(params).toString();
  }

  /** Opens an exec websocket, lets `drive` talk to it, collects everything until the server closes. */
  function wsExec(path: string, drive: (ws: WebSocket, run: WsRun) => void = () => undefined, tty = false): Promise<WsRun> {
    return new Promise((resolve, reject) => {
      const run: WsRun = { texts: [], binary: [], stdout: '', stderr: '', exitFrame: undefined, closeCode: 0, capabilities: undefined };
      const ws = new WebSocket(`${wsBase}${path}`, { headers: headers() });
      ws.on('upgrade', (res) => (run.capabilities = res.headers['x-sprite-capabilities'] as string | undefined));
      ws.on('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
      ws.on('open', () => drive(ws, run));
      ws.on('message', (data: Buffer, isBinary) => {
        if (!isBinary) {
          run.texts.push(JSON.parse(data.toString()) as Record<string, unknown>);
          return;
        }
        run.binary.push(data);
        if (tty) run.stdout += data.toString();
        else if (data[0] === 1) run.stdout += data.subarray(1).toString();
        else if (data[0] === 2) run.stderr += data.subarray(1).toString();
        else if (data[0] === 3) run.exitFrame = data[1];
      });
      ws.on('close', (code) => {
        run.closeCode = code;
        resolve(run);
      });
      ws.on('error', reject);
    });
  }

  describe('websocket exec', () => {
    it('runs a non-TTY command with the Sprites framing', async () => {
      const run = await wsExec(`/exec?${qs([['cmd', 'sh'], ['cmd', '-c'], ['cmd', 'echo out; echo err >&2; exit 3']])}`);
      expect(run.capabilities).toBe('signal');
      const info = run.texts[0]!;
      expect(info).toMatchObject({ type: 'session_info', tty: false, is_owner: true, command: 'sh -c echo out; echo err >&2; exit 3' });
      expect(typeof info.session_id).toBe('string');
      expect(run.stdout).toBe('out\n');
      expect(run.stderr).toBe('err\n');
      expect(run.exitFrame).toBe(3);
      expect(run.binary[run.binary.length - 1]).toEqual(Buffer.from([3, 3]));
      expect(run.texts[run.texts.length - 1]).toEqual({ type: 'exit', exit_code: 3 });
      expect(run.closeCode).toBe(1000);
    });

    it('feeds stdin frames and stdin EOF to the process', async () => {
      const run = await wsExec(`/exec?${qs([['cmd', 'cat'], ['stdin', 'true']])}`, (ws) => {
        ws.send(Buffer.concat([Buffer.from([0]), Buffer.from('hello ')]));
        ws.send(Buffer.concat([Buffer.from([0]), Buffer.from('world')]));
        ws.send(Buffer.from([4]));
      });
      expect(run.stdout).toBe('hello world');
      expect(run.exitFrame).toBe(0);
    });

    it('passes env (keeping PATH and the sandbox environment) and dir', async () => {
      const run = await wsExec(`/exec?${qs([['cmd', 'sh'], ['cmd', '-c'], ['cmd', 'echo $FOO $HOB_TEST_ENV; pwd'], ['env', 'FOO=bar'], ['dir', work]])}`);
      expect(run.stdout).toBe(`bar from-sandbox\n${work}\n`);
    });

    it('runs a TTY with raw frames, its size, resize and the exit code in the close code', async () => {
      const script = 'stty size; read line; stty size; exit 5';
      const run = await wsExec(
        `/exec?${qs([['cmd', 'sh'], ['cmd', '-c'], ['cmd', script], ['tty', 'true'], ['rows', '30'], ['cols', '100']])}`,
        (ws, r) => {
          // Resize once the first size is printed, then let the script go on.
          const timer = setInterval(() => {
            if (r.stdout.includes('30 100')) {
              clearInterval(timer);
              ws.send(JSON.stringify({ type: 'resize', rows: 40, cols: 120 }));
              ws.send(Buffer.from('go\r'));
            }
          }, 20);
        },
        true,
      );
      expect(run.texts[0]).toMatchObject({ type: 'session_info', tty: true, rows: 30, cols: 100 });
      expect(run.stdout).toContain('30 100');
      expect(run.stdout).toContain('40 120');
      expect(run.binary.every((b) => b[0] !== 3 || b.length !== 2)).toBe(true);
      expect(run.texts[run.texts.length - 1]).toEqual({ type: 'exit', exit_code: 5 });
      expect(run.closeCode).toBe(4005);
    });

    it('delivers signals sent as text frames', async () => {
      const run = await wsExec(`/exec?${qs([['cmd', 'sh'], ['cmd', '-c'], ['cmd', 'echo ready; exec sleep 60']])}`, (ws, r) => {
        const timer = setInterval(() => {
          if (r.stdout.includes('ready')) {
            clearInterval(timer);
            ws.send(JSON.stringify({ type: 'signal', signal: 'TERM' }));
          }
        }, 20);
      });
      expect(run.exitFrame).toBe(143);
      expect(run.texts[run.texts.length - 1]).toMatchObject({ type: 'exit', exit_code: 143, signal: 'SIGTERM' });
    });

    it('reports a missing command like a shell: message on stderr, exit 127', async () => {
      const run = await wsExec(`/exec?${qs([['cmd', 'no-such-command-hob']])}`);
      expect(run.stderr).toContain('no-such-command-hob');
      expect(run.exitFrame).toBe(127);
    });
  });

  describe('sessions', () => {
    it('keeps a TTY session running after disconnect and replays its output on attach', async () => {
      const marker = join(work, 'go-on');
      const script = `echo first; while [ ! -e ${marker} ]; do sleep 0.05; done; echo second; exit 7`;
      let sessionId = '';
      const first = await wsExec(
        `/exec?${qs([['cmd', 'sh'], ['cmd', '-c'], ['cmd', script], ['tty', 'true']])}`,
        (ws, r) => {
          const timer = setInterval(() => {
            if (r.stdout.includes('first')) {
              clearInterval(timer);
              sessionId = String(r.texts[0]?.session_id);
              ws.close();
            }
          }, 20);
        },
        true,
      );
      expect(first.texts.some((t) => t.type === 'exit')).toBe(false);

      const listed = await eventually(async () => {
        const body = (await (await fetch(`${base}/exec`, { headers: headers() })).json()) as { sessions: Array<Record<string, unknown>> };
        const s = body.sessions.find((x) => x.id === sessionId);
        return s && s.is_active === false ? s : undefined;
      }, 'the session to show as detached');
      expect(listed).toMatchObject({ tty: true, exited: false, attached: 0 });
      expect(sessions.runningSessions('dev')).toBeGreaterThan(0);

      const attached = await wsExec(
        `/exec/${sessionId}`,
        (_ws, r) => {
          const timer = setInterval(() => {
            if (r.stdout.includes('first')) {
              clearInterval(timer);
              writeFileSync(marker, '');
            }
          }, 20);
        },
        true,
      );
      expect(attached.texts[0]).toMatchObject({ type: 'session_info', session_id: sessionId, is_owner: false, tty: true });
      expect(attached.stdout.indexOf('first')).toBeLessThan(attached.stdout.indexOf('second'));
      expect(attached.texts[attached.texts.length - 1]).toEqual({ type: 'exit', exit_code: 7 });

      // Ended sessions stay listed for a while; killing one is 410 Gone.
      const gone = await fetch(`${base}/exec/${sessionId}/kill?signal=TERM`, { method: 'POST', headers: headers() });
      expect(gone.status).toBe(410);
      const replay = await wsExec(`/exec?${qs([['id', sessionId]])}`, () => undefined, true);
      expect(replay.stdout).toContain('second');
      expect(replay.texts[replay.texts.length - 1]).toEqual({ type: 'exit', exit_code: 7 });
    });

    it('kills a session through the kill endpoint with NDJSON progress', async () => {
      let sessionId = '';
      await wsExec(
        `/exec?${qs([['cmd', 'sh'], ['cmd', '-c'], ['cmd', 'echo up; exec sleep 60'], ['tty', 'true']])}`,
        (ws, r) => {
          const timer = setInterval(() => {
            if (r.stdout.includes('up')) {
              clearInterval(timer);
              sessionId = String(r.texts[0]?.session_id);
              ws.close();
            }
          }, 20);
        },
        true,
      );
      const res = await fetch(`${base}/exec/${sessionId}/kill?signal=KILL&timeout=10s`, { method: 'POST', headers: headers() });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toContain('application/x-ndjson');
      const lines = (await res.text()).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines[0]).toMatchObject({ type: 'signal', signal: 'SIGKILL' });
      expect(lines.find((l) => l.type === 'exited')).toMatchObject({ exit_code: 137 });
      expect(lines[lines.length - 1]).toMatchObject({ type: 'complete' });
      const missing = await fetch(`${base}/exec/999999999/kill`, { method: 'POST', headers: headers() });
      expect(missing.status).toBe(404);
    });

    it('stops a non-TTY process max_run_after_disconnect after its client left', async () => {
      let sessionId = '';
      await wsExec(`/exec?${qs([['cmd', 'sh'], ['cmd', '-c'], ['cmd', 'echo up; exec sleep 60'], ['max_run_after_disconnect', '200ms']])}`, (ws, r) => {
        const timer = setInterval(() => {
          if (r.stdout.includes('up')) {
            clearInterval(timer);
            sessionId = String(r.texts[0]?.session_id);
            ws.close();
          }
        }, 20);
      });
      const ended = await eventually(() => {
        const s = sessions.get('dev', sessionId);
        return s?.exited ?? undefined;
      }, 'the detached non-TTY process to be stopped');
      expect(ended.exitCode).toBe(143);
    });

    it('ends attached sessions when the sandbox stops', async () => {
      const run = await wsExec(`/exec?${qs([['cmd', 'sh'], ['cmd', '-c'], ['cmd', 'echo up; exec sleep 60'], ['tty', 'true']])}`, (_ws, r) => {
        const timer = setInterval(() => {
          if (r.stdout.includes('up')) {
            clearInterval(timer);
            sessions.endSandbox('dev', 'the sandbox was stopped');
          }
        }, 20);
      }, true);
      expect(run.texts[run.texts.length - 1]).toMatchObject({ type: 'exit', exit_code: 255, error: 'the sandbox was stopped' });
      expect(sessions.attachedClients('dev')).toBe(0);
    });
  });

  describe('HTTP exec', () => {
    const post = (body: unknown) => fetch(`${base}/exec`, { method: 'POST', headers: { ...headers(), 'content-type': 'application/json' }, body: JSON.stringify(body) });

    it('runs a command line and returns split and combined output', async () => {
      const res = await post({ command: 'echo hi; echo err >&2; exit 4' });
      expect(res.status).toBe(200);
      const body = (await res.json()) as Record<string, unknown>;
      expect(body).toMatchObject({ stdout: 'hi\n', stderr: 'err\n', exit_code: 4, timed_out: false, truncated: false });
      expect(String(body.output)).toContain('hi\n');
      expect(String(body.output)).toContain('err\n');
    });

    it('keeps only the first max_output bytes of each stream, and counts all of them', async () => {
      const res = await fetch(`${base}/exec?max_output=1000`, { method: 'POST', headers: { ...headers(), 'content-type': 'application/json' }, body: JSON.stringify({ command: 'head -c 5000 /dev/zero | tr "\\0" x; echo oops >&2' }) });
      const body = (await res.json()) as Record<string, unknown>;
      expect(body).toMatchObject({ stdout: 'x'.repeat(1000), stderr: 'oops\n', truncated: true, stdout_bytes: 5000, stderr_bytes: 5, exit_code: 0 });
      const bad = await fetch(`${base}/exec?max_output=0`, { method: 'POST', headers: { ...headers(), 'content-type': 'application/json' }, body: JSON.stringify({ command: 'true' }) });
      expect(bad.status).toBe(400);
    });

    it('feeds stdin, runs argv, honours dir', async () => {
      const res = await post({ command: ['sh', '-c', 'cat; pwd'], stdin: 'input\n', dir: work });
      expect(await res.json()).toMatchObject({ stdout: `input\n${work}\n`, exit_code: 0 });
    });

    it('kills a command that outlives its timeout', async () => {
      const res = await post({ command: 'exec sleep 60', timeout: 0.3 });
      expect(await res.json()).toMatchObject({ timed_out: true, exit_code: 137, signal: 'SIGKILL' });
    });

    it('holds the sandbox busy while a command runs (what the idle policy reads)', async () => {
      expect(sessions.activity('dev').holds).toBe(0);
      const marker = join(work, 'hold-release');
      const pending = post({ command: `while [ ! -e ${marker} ]; do sleep 0.05; done` });
      await eventually(() => (sessions.activity('dev').holds === 1 ? true : undefined), 'the exec to hold the sandbox');
      writeFileSync(marker, '');
      expect((await pending).status).toBe(200);
      expect(sessions.activity('dev').holds).toBe(0);
    });

    it('answers exit 127 for a missing command and 400 for a bad body', async () => {
      expect(await (await post({ command: ['no-such-command-hob'] })).json()).toMatchObject({ exit_code: 127 });
      expect((await post({ command: 42 })).status).toBe(400);
    });

    it('serves the SDK streamed form: raw stdin in, stream-prefixed frames out', async () => {
      const res = await fetch(`${base}/exec?${qs([['cmd', 'sh'], ['cmd', '-c'], ['cmd', 'cat; echo done >&2'], ['stdin', 'true']])}`, {
        method: 'POST',
        headers: { ...headers(), 'content-type': 'application/octet-stream' },
        body: 'piped',
      });
      expect(res.status).toBe(200);
      const bytes = Buffer.from(await res.arrayBuffer());
      // Frame boundaries are not visible in the concatenated body, the frames are.
      expect(bytes.toString('latin1')).toBe('\x01piped\x02done\n\x03\x00');
    });
  });

  describe('the user an exec runs as', () => {
    // The agent runs as root on the host; `nobody` exists on every Linux host.
    const idArgs: Array<[string, string]> = [['cmd', 'id'], ['cmd', '-un']];
    const post = (user: string | undefined, body: unknown) =>
      fetch(`${base}/exec${user === undefined ? '' : `?${qs([['user', user]])}`}`, {
        method: 'POST',
        headers: { ...headers(), 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    /** The HTTP status of a refused websocket upgrade and its JSON body. */
    const refusedUpgrade = (path: string) =>
      new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) => {
        const ws = new WebSocket(`${wsBase}${path}`, { headers: headers() });
        ws.on('unexpected-response', (_req, res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }));
        });
        ws.on('open', () => reject(new Error('the upgrade was accepted')));
        ws.on('error', () => undefined);
      });

    afterEach(() => rmSync(agent.defaultUserFile, { force: true }));

    it('passes the user parameter to the agent, on the websocket and both HTTP forms', async () => {
      expect((await wsExec(`/exec?${qs([...idArgs, ['user', 'nobody']])}`)).stdout).toBe('nobody\n');
      expect((await wsExec(`/exec?${qs([...idArgs, ['user', '65534'], ['tty', 'true']])}`, undefined, true)).stdout.trim()).toBe('nobody');
      expect(await (await post('nobody', { command: 'id -un; echo $HOME' })).json()).toMatchObject({ stdout: 'nobody\n/nonexistent\n', exit_code: 0 });
      // A client environment replaces the default one, but HOME stays the user's.
      expect(await (await post('nobody', { command: 'echo $HOME $FOO', env: { FOO: 'x' } })).json()).toMatchObject({ stdout: '/nonexistent x\n' });
      const streamed = await fetch(`${base}/exec?${qs([...idArgs, ['user', 'nobody']])}`, { method: 'POST', headers: headers() });
      expect(Buffer.from(await streamed.arrayBuffer()).toString('latin1')).toBe('\x01nobody\n\x03\x00');
    });

    it('runs as the default user without the parameter, and as root with user=root', async () => {
      writeFileSync(agent.defaultUserFile, 'nobody\n');
      expect((await wsExec(`/exec?${qs(idArgs)}`)).stdout).toBe('nobody\n');
      expect(await (await post(undefined, { command: 'id -un' })).json()).toMatchObject({ stdout: 'nobody\n' });
      expect((await wsExec(`/exec?${qs([...idArgs, ['user', 'root']])}`)).stdout).toBe('root\n');
      expect(await (await post('0', { command: 'id -un' })).json()).toMatchObject({ stdout: 'root\n' });
    });

    it('runs as root when the default-user file holds garbage or an unknown user', async () => {
      writeFileSync(agent.defaultUserFile, Buffer.concat([randomBytes(4096), Buffer.from('\nnobody\n')]));
      expect((await wsExec(`/exec?${qs(idArgs)}`)).stdout).toBe('root\n');
      writeFileSync(agent.defaultUserFile, 'no-such-user-hob\n');
      expect(await (await post(undefined, { command: 'id -un' })).json()).toMatchObject({ stdout: 'root\n', exit_code: 0 });
    });

    it('answers 400 with the reason for an unknown user, and for a malformed one before starting anything', async () => {
      const unknown = await refusedUpgrade(`/exec?${qs([...idArgs, ['user', 'no-such-user-hob']])}`);
      expect(unknown.status).toBe(400);
      expect(unknown.body.message).toMatch(/no-such-user-hob.*no such user/);
      const http = await post('no-such-user-hob', { command: 'id' });
      expect(http.status).toBe(400);
      expect(((await http.json()) as { message: string }).message).toMatch(/no such user/);
      const marker = join(work, 'started-anyway');
      for (const bad of ['bad user', 'x'.repeat(65), 'a:b', '']) {
        const refused = await refusedUpgrade(`/exec?${qs([['cmd', 'touch'], ['cmd', marker], ['user', bad]])}`);
        expect(refused.status, bad).toBe(400);
        expect(String(refused.body.message)).toMatch(/user/);
        expect((await post(bad, { command: `touch ${marker}` })).status).toBe(400);
      }
      expect(existsSync(marker)).toBe(false);
      expect(sessions.list('dev').filter((s) => !s.exited).length).toBe(0);
    });
  });

  describe('files', () => {
    const fsUrl = (op: string, params: Array<[string, string]>) => `${base}/fs/${op}?${qs(params)}`;

    it('writes a large binary file (streamed, beyond the JSON limit) and reads it back', async () => {
      const data = randomBytes(3 * 1024 * 1024 + 17);
      const put = await fetch(fsUrl('write', [['path', 'big/data.bin'], ['workingDir', work], ['mode', '0600'], ['mkdirParents', 'true']]), {
        method: 'PUT',
        headers: { ...headers(), 'content-type': 'application/octet-stream' },
        body: data,
      });
      expect(put.status).toBe(200);
      expect(await put.json()).toEqual({ path: join(work, 'big/data.bin'), size: data.length, mode: '0600' });
      expect(statSync(join(work, 'big/data.bin')).mode & 0o777).toBe(0o600);

      const get = await fetch(fsUrl('read', [['path', join(work, 'big/data.bin')]]), { headers: headers() });
      expect(get.status).toBe(200);
      expect(get.headers.get('content-length')).toBe(String(data.length));
      expect(Buffer.from(await get.arrayBuffer()).equals(data)).toBe(true);
    });

    it('lists directories and stats files in the Sprites shape', async () => {
      writeFileSync(join(work, 'list-a.txt'), 'abc');
      mkdirSync(join(work, 'list-dir'), { recursive: true });
      const dir = (await (await fetch(fsUrl('list', [['path', work]]), { headers: headers() })).json()) as { entries: Array<Record<string, unknown>>; count: number };
      expect(dir.count).toBe(dir.entries.length);
      expect(dir.entries.find((e) => e.name === 'list-a.txt')).toMatchObject({ type: 'file', size: 3, isDir: false, path: join(work, 'list-a.txt') });
      expect(dir.entries.find((e) => e.name === 'list-dir')).toMatchObject({ type: 'directory', isDir: true });
      const file = (await (await fetch(fsUrl('list', [['path', 'list-a.txt'], ['workingDir', work]]), { headers: headers() })).json()) as { entries: Array<Record<string, unknown>> };
      expect(file.entries).toHaveLength(1);
      expect(file.entries[0]).toMatchObject({ name: 'list-a.txt', size: 3 });
      expect(String(file.entries[0]?.mode)).toMatch(/^0[0-7]{3}$/);
    });

    it('renames, chmods and deletes', async () => {
      writeFileSync(join(work, 'r1.txt'), 'x');
      const json = { ...headers(), 'content-type': 'application/json' };
      const ren = await fetch(`${base}/fs/rename`, { method: 'POST', headers: json, body: JSON.stringify({ source: 'r1.txt', dest: 'r2.txt', workingDir: work }) });
      expect(ren.status).toBe(200);
      expect(existsSync(join(work, 'r2.txt'))).toBe(true);
      const chmod = await fetch(`${base}/fs/chmod`, { method: 'POST', headers: json, body: JSON.stringify({ path: join(work, 'r2.txt'), mode: '0751' }) });
      expect(await chmod.json()).toEqual({ path: join(work, 'r2.txt'), mode: '0751' });
      expect(statSync(join(work, 'r2.txt')).mode & 0o777).toBe(0o751);
      mkdirSync(join(work, 'tree/sub'), { recursive: true });
      writeFileSync(join(work, 'tree/sub/f'), 'y');
      const del = await fetch(fsUrl('delete', [['path', join(work, 'tree')], ['recursive', 'true']]), { method: 'DELETE', headers: headers() });
      expect(await del.json()).toEqual({ deleted: [join(work, 'tree')], count: 1 });
      expect(existsSync(join(work, 'tree'))).toBe(false);
      expect(readFileSync(join(work, 'r2.txt'), 'utf8')).toBe('x');
    });

    it('answers guest errors in the Sprites filesystem error shape', async () => {
      const missing = await fetch(fsUrl('read', [['path', join(work, 'nope')]]), { headers: headers() });
      expect(missing.status).toBe(404);
      expect(await missing.json()).toMatchObject({ code: 'ENOENT', path: join(work, 'nope') });
      const isDir = await fetch(fsUrl('read', [['path', work]]), { headers: headers() });
      expect(isDir.status).toBe(400);
      expect(await isDir.json()).toMatchObject({ code: 'EISDIR' });
      const root = await fetch(fsUrl('delete', [['path', '/'], ['recursive', 'true']]), { method: 'DELETE', headers: headers() });
      expect(root.status).toBe(400);
      const noPath = await fetch(`${base}/fs/read`, { headers: headers() });
      expect(noPath.status).toBe(400);
    });
  });
});
