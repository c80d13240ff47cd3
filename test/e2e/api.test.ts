/**
 * The API against a real hobd with real VMs (test/helpers/daemon.ts): the
 * Sprites shapes end to end — create with NDJSON progress, list/get/update,
 * exec over websocket (non-TTY and TTY sessions with detach/attach), HTTP
 * exec, files, stop (sessions end), wake on exec, delete. One sandbox for the
 * whole file: boots are slow under TCG.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import type { HttpResult } from '../helpers/http.js';

const NAME = 'api1';

interface WsRun {
  texts: Array<Record<string, unknown>>;
  stdout: string;
  stderr: string;
  exitFrame: number | undefined;
  closeCode: number;
}

describe('hob API end to end', () => {
  let d: TestDaemon;

  beforeAll(async () => {
    d = await startTestDaemon();
  });
  afterAll(async () => {
    await d?.stop();
  });

  /** An exec websocket over the unix socket (no token needed there). */
  function wsExec(pathAndQuery: string, drive: (ws: WebSocket, run: WsRun) => void = () => undefined, tty = false): Promise<WsRun> {
    return new Promise((resolve, reject) => {
      const run: WsRun = { texts: [], stdout: '', stderr: '', exitFrame: undefined, closeCode: 0 };
      const ws = new WebSocket(`ws+unix://${d.socketPath}:/v1/sprites/${NAME}${pathAndQuery}`);
      ws.on('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
      ws.on('open', () => drive(ws, run));
      ws.on('message', (data: Buffer, isBinary) => {
        if (!isBinary) run.texts.push(JSON.parse(data.toString()) as Record<string, unknown>);
        else if (tty) run.stdout += data.toString();
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

  const whenOutput = (needle: string, then: (ws: WebSocket, run: WsRun) => void) => (ws: WebSocket, run: WsRun) => {
    const timer = setInterval(() => {
      if (run.stdout.includes(needle)) {
        clearInterval(timer);
        then(ws, run);
      }
    }, 50);
    ws.once('close', () => clearInterval(timer));
  };

  it('creates a sandbox with NDJSON progress ending in the Sprite object', async () => {
    const r = await d.request({ method: 'POST', path: '/v1/sprites', headers: { accept: 'application/x-ndjson' }, body: { name: NAME, labels: ['e2e'] } });
    expect(r.status, r.text()).toBe(200);
    expect(String(r.headers['content-type'])).toContain('application/x-ndjson');
    const lines = r.text().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.length).toBeGreaterThanOrEqual(1);
    expect(lines.slice(0, -1).every((l) => l.type === 'info' || l.type === 'complete')).toBe(true);
    expect(lines[lines.length - 1]).toMatchObject({ name: NAME, status: 'running', organization: 'local', labels: ['e2e'] });
  });

  it('refuses a second sandbox of the same name with 409 and changes nothing', async () => {
    const r = await d.request({ method: 'POST', path: '/v1/sandboxes', body: { name: NAME } });
    expect(r.status).toBe(409);
    const list = await d.request({ path: '/v1/sandboxes' });
    expect(list.json<{ sprites: Array<{ name: string }> }>().sprites.filter((s) => s.name === NAME)).toHaveLength(1);
  });

  it('gets, lists and updates it in the Sprites shapes on both mounts', async () => {
    const got = await d.request({ path: `/v1/sprites/${NAME}` });
    expect(got.status).toBe(200);
    expect(got.json()).toMatchObject({ name: NAME, status: 'running', state: 'running', url: `http://${NAME}.localhost:${d.port}/`, url_settings: { auth: 'sprite' } });
    const listed = await d.request({ path: '/v1/sandboxes?max_results=1' });
    expect(listed.json()).toMatchObject({ has_more: false, sprites: [{ name: NAME }] });
    const put = await d.request({ method: 'PUT', path: `/v1/sprites/${NAME}`, body: { labels: ['x', 'y'], url_settings: { auth: 'public' } } });
    expect(put.status, put.text()).toBe(200);
    expect(put.json()).toMatchObject({ labels: ['x', 'y'], url_settings: { auth: 'public' } });
  });

  it('runs a command through the HTTP exec', async () => {
    const r = await d.request({ method: 'POST', path: `/v1/sprites/${NAME}/exec`, body: { command: 'echo hello; echo oops >&2; exit 3' } });
    expect(r.status, r.text()).toBe(200);
    expect(r.json()).toMatchObject({ stdout: 'hello\n', stderr: 'oops\n', exit_code: 3 });
  });

  it('runs a non-TTY command over the websocket with stdin', async () => {
    const run = await wsExec('/exec?cmd=cat&stdin=true', (ws) => {
      ws.send(Buffer.concat([Buffer.from([0]), Buffer.from('through the guest')]));
      ws.send(Buffer.from([4]));
    });
    expect(run.texts[0]).toMatchObject({ type: 'session_info', tty: false });
    expect(run.stdout).toBe('through the guest');
    expect(run.exitFrame).toBe(0);
    expect(run.closeCode).toBe(1000);
  });

  it('keeps a TTY session across a disconnect and replays it on attach', async () => {
    let id = '';
    await wsExec(
      '/exec?tty=true&cmd=sh&cmd=-c&cmd=' + encodeURIComponent('echo started; read x; echo got $x; exit 4'),
      whenOutput('started', (ws, run) => {
        id = String(run.texts[0]?.session_id);
        ws.close();
      }),
      true,
    );
    // The server sees the disconnect a moment after the client does.
    let listed: Record<string, unknown> | undefined;
    for (let i = 0; i < 100; i++) {
      const list = await d.request({ path: `/v1/sprites/${NAME}/exec` });
      listed = list.json<{ sessions: Array<Record<string, unknown>> }>().sessions.find((s) => s.id === id);
      if (listed?.is_active === false) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(listed).toMatchObject({ tty: true, is_active: false, exited: false });
    const attached = await wsExec(
      `/exec/${id}`,
      whenOutput('started', (ws) => ws.send(Buffer.from('again\r'))),
      true,
    );
    expect(attached.texts[0]).toMatchObject({ type: 'session_info', session_id: id, is_owner: false });
    expect(attached.stdout).toContain('got again');
    expect(attached.texts[attached.texts.length - 1]).toEqual({ type: 'exit', exit_code: 4 });
  });

  it('writes, lists, reads and deletes files', async () => {
    const data = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const put = await d.request({ method: 'PUT', path: '/v1/sprites/' + NAME + '/fs/write?path=e2e/bytes.bin&workingDir=/root&mkdirParents=true&mode=0640', body: data });
    expect(put.status, put.text()).toBe(200);
    expect(put.json()).toEqual({ path: '/root/e2e/bytes.bin', size: 256, mode: '0640' });
    const read = await d.request({ path: `/v1/sprites/${NAME}/fs/read?path=/root/e2e/bytes.bin` });
    expect(read.body.equals(data)).toBe(true);
    const list = await d.request({ path: `/v1/sprites/${NAME}/fs/list?path=/root/e2e` });
    expect(list.json()).toMatchObject({ count: 1, entries: [{ name: 'bytes.bin', size: 256, mode: '0640', isDir: false }] });
    const del = await d.request({ method: 'DELETE', path: `/v1/sprites/${NAME}/fs/delete?path=/root/e2e&recursive=true` });
    expect(del.status).toBe(200);
    const gone = await d.request({ path: `/v1/sprites/${NAME}/fs/read?path=/root/e2e/bytes.bin` });
    expect(gone.status).toBe(404);
    expect(gone.json()).toMatchObject({ code: 'ENOENT' });
  });

  it('ends sessions when the sandbox stops, and wakes it for the next exec', async () => {
    let stopping: Promise<HttpResult> | undefined;
    const run = await wsExec(
      '/exec?tty=true&cmd=sh&cmd=-c&cmd=' + encodeURIComponent('echo up; exec sleep 600'),
      whenOutput('up', () => {
        stopping = d.request({ method: 'POST', path: `/v1/sprites/${NAME}/stop` });
      }),
      true,
    );
    expect(run.texts[run.texts.length - 1]).toMatchObject({ type: 'exit' });
    const stopResult = await stopping!;
    expect(stopResult.status).toBe(200);
    expect(stopResult.json()).toMatchObject({ status: 'cold', state: 'stopped' });

    const r = await d.request({ method: 'POST', path: `/v1/sprites/${NAME}/exec`, body: { command: ['true'] } });
    expect(r.status, r.text()).toBe(200);
    expect(r.json()).toMatchObject({ exit_code: 0 });
    expect((await d.request({ path: `/v1/sprites/${NAME}` })).json()).toMatchObject({ status: 'running' });
  });

  it('checks tokens, Host and Origin on the TCP listener', async () => {
    const anonymous = await d.tcpRequest({ path: '/v1/sprites' });
    expect(anonymous.status).toBe(401);
    const authed = await d.tcpRequest({ path: '/v1/sprites', headers: { authorization: `Bearer ${d.token}` } });
    expect(authed.status).toBe(200);
    const rebinding = await d.tcpRequest({ path: '/v1/sprites', headers: { authorization: `Bearer ${d.token}`, host: `attacker.example:${d.port}` } });
    expect(rebinding.status).toBe(403);
    const csrf = await d.tcpRequest({ method: 'DELETE', path: `/v1/sprites/${NAME}`, headers: { authorization: `Bearer ${d.token}`, origin: 'https://attacker.example' } });
    expect(csrf.status).toBe(403);
    expect((await d.request({ path: `/v1/sprites/${NAME}` })).status).toBe(200);
  });

  it('deletes the sandbox', async () => {
    const del = await d.request({ method: 'DELETE', path: `/v1/sprites/${NAME}` });
    expect(del.status).toBe(204);
    const after = await d.request({ path: `/v1/sprites/${NAME}` });
    expect(after.status).toBe(404);
    expect(after.json()).toMatchObject({ error: 'not_found' });
  });
});
