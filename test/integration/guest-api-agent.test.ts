/**
 * The API inside the guest between the real agent (run on the host in its
 * --listen mode, its /.sprite/api.sock in a temp dir) and the host's
 * AgentClient: `sprite-env` (the agent bundle's `sprite-env` subcommand)
 * reaches the socket, the agent relays each request on the `guest-api.serve`
 * channel and answers what the host says; without a host it says so (503);
 * its own bounds answer 405/413/429 without bothering the host; an agent
 * emulating an older release does not offer the capability. What hobd
 * answers, on real VMs, is test/e2e/guest-api.test.ts.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentClient, UnsupportedByAgentError, type GuestApiRequest, type GuestApiResponse } from '../../daemon/agent/index.js';
import { MAX_GUEST_API_IN_FLIGHT, MAX_GUEST_API_REQUEST_BODY } from '../../daemon/protocol/index.js';

const REPO = resolve(import.meta.dirname, '../..');
const MAIN = join(REPO, 'guest-image', 'agent', 'main.ts');

async function startAgent(dir: string, extra: string[] = []): Promise<{ agentSocket: string; apiSocket: string; child: ResultPromise }> {
  const agentSocket = join(dir, `agent-${extra.length}.sock`);
  const apiSocket = join(dir, `sprite-${extra.length}`, 'api.sock');
  const child = execa(process.execPath, ['--import', 'tsx', MAIN, '--listen', agentSocket, '--guest-api-socket', apiSocket, ...extra], { cwd: REPO, reject: false, stdio: 'ignore' });
  for (let i = 0; i < 300 && !(existsSync(agentSocket) && existsSync(apiSocket)); i++) await new Promise((r) => setTimeout(r, 50));
  if (!existsSync(apiSocket)) throw new Error('the agent did not open its sockets');
  return { agentSocket, apiSocket, child };
}

async function connect(path: string): Promise<AgentClient> {
  const socket = net.connect(path);
  await new Promise<void>((ok, fail) => {
    socket.once('connect', ok);
    socket.once('error', fail);
  });
  return AgentClient.connect(socket);
}

/** One raw HTTP request on the guest's socket. */
function request(socketPath: string, method: string, path: string, body?: string | Buffer): Promise<{ status: number; body: string }> {
  return new Promise((ok, fail) => {
    const req = http.request({ socketPath, method, path, headers: { host: 'sprite' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => ok({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', fail);
    req.end(body);
  });
}

describe('the API inside the guest, relayed by the agent', () => {
  let dir: string;
  let agent: Awaited<ReturnType<typeof startAgent>>;
  const clients: AgentClient[] = [];
  const spriteEnv = (args: string[]) => execa(process.execPath, ['--import', 'tsx', MAIN, 'sprite-env', '--socket', agent.apiSocket, ...args], { cwd: REPO, reject: false });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hob-guest-api-'));
    agent = await startAgent(dir);
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    agent?.child.kill('SIGKILL');
    await agent?.child;
    rmSync(dir, { recursive: true, force: true });
  });

  it('says clearly that no host serves it yet', async () => {
    const result = await spriteEnv(['info']);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/503: hobd is not connected/);
  });

  it('relays requests to the host and its answers back, sprite-env mapping its commands to Sprites paths', async () => {
    const client = await connect(agent.agentSocket);
    clients.push(client);
    expect(client.supports('guest-api.serve')).toBe(true);
    const seen: GuestApiRequest[] = [];
    const channel = await client.serveGuestApi(async (req): Promise<GuestApiResponse> => {
      seen.push(req);
      if (req.path === '/v1/info') return { status: 200, contentType: 'application/json', body: '{"name":"box"}' };
      return { status: 404, contentType: 'application/json', body: '{"error":"not_found","message":"nothing here"}' };
    });
    const info = await spriteEnv(['info']);
    expect(info.exitCode, info.stderr).toBe(0);
    expect(JSON.parse(info.stdout)).toEqual({ name: 'box' });
    const created = await spriteEnv(['checkpoints', 'create', '--comment', 'before the step']);
    expect(created.exitCode).toBe(1);
    expect(created.stderr).toContain('404: nothing here');
    await spriteEnv(['services', 'create', 'web', '--cmd', 'python3', '--args', '-m,http.server,3000', '--http-port', '3000', '--no-stream']);
    await spriteEnv(['tasks', 'create', 'agent', '--expire', '30m']);
    await spriteEnv(['curl', '-X', 'DELETE', 'http://sprite/v1/tasks/agent']);
    expect(seen.map((r) => `${r.method} ${r.path} ${r.body}`)).toEqual([
      'GET /v1/info ',
      'POST /v1/checkpoint {"comment":"before the step"}',
      'PUT /v1/services/web?duration=0 {"cmd":"python3","args":["-m","http.server","3000"],"http_port":3000}',
      'POST /v1/tasks {"name":"agent","expire":"30m"}',
      'DELETE /v1/tasks/agent ',
    ]);
    const usage = await spriteEnv(['checkpoints', 'frobnicate']);
    expect(usage.exitCode).toBe(2);
    expect((await spriteEnv(['--help'])).stdout).toContain('checkpoints create');
    channel.close();
  });

  it('refuses what is too large, of another method or too many at once, without asking the host', async () => {
    const client = await connect(agent.agentSocket);
    clients.push(client);
    let calls = 0;
    const release: Array<() => void> = [];
    await client.serveGuestApi(async () => {
      calls++;
      await new Promise<void>((ok) => release.push(ok));
      return { status: 200, contentType: 'application/json', body: '{}' };
    });
    expect((await request(agent.apiSocket, 'PATCH', '/v1/info')).status).toBe(405);
    expect((await request(agent.apiSocket, 'POST', '/v1/checkpoint', Buffer.alloc(MAX_GUEST_API_REQUEST_BODY + 1, 0x61))).status).toBe(413);
    expect((await request(agent.apiSocket, 'GET', `/${'a'.repeat(5000)}`)).status).toBe(414);
    const held = Array.from({ length: MAX_GUEST_API_IN_FLIGHT }, () => request(agent.apiSocket, 'GET', '/v1/info'));
    for (let i = 0; i < 200 && calls < MAX_GUEST_API_IN_FLIGHT; i++) await new Promise((r) => setTimeout(r, 25));
    expect(calls).toBe(MAX_GUEST_API_IN_FLIGHT);
    expect((await request(agent.apiSocket, 'GET', '/v1/info')).status).toBe(429);
    for (const ok of release) ok();
    expect((await Promise.all(held)).map((r) => r.status)).toEqual(Array(MAX_GUEST_API_IN_FLIGHT).fill(200));
    expect(calls).toBe(MAX_GUEST_API_IN_FLIGHT);
  });

  it('answers 502 when the host goes away before answering', async () => {
    const client = await connect(agent.agentSocket);
    await client.serveGuestApi(() => new Promise<GuestApiResponse>(() => undefined));
    const pending = request(agent.apiSocket, 'GET', '/v1/info');
    await new Promise((r) => setTimeout(r, 300));
    client.close();
    const answer = await pending;
    expect(answer.status).toBe(502);
    expect(answer.body).toContain('lost');
  });

  it('is not offered by an agent that predates it', async () => {
    const old = await startAgent(dir, ['--capabilities', 'exec,ping']);
    try {
      const client = await connect(old.agentSocket);
      clients.push(client);
      expect(client.supports('guest-api.serve')).toBe(false);
      await expect(client.serveGuestApi(async () => ({ status: 200, contentType: 'text/plain', body: '' }))).rejects.toBeInstanceOf(UnsupportedByAgentError);
    } finally {
      old.child.kill('SIGKILL');
      await old.child;
    }
  });
});
