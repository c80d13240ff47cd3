/**
 * `GET /v1/sandboxes/{name}/console-log`, `hob console-log` and `GET /v1/host` on the real
 * API (real listeners, real SQLite, real token store, real files in a run dir laid out as
 * hobd's). The console logs hold what a hostile guest writes (escape sequences, invalid
 * UTF-8, NUL); the VMs themselves are left to test/e2e/dashboard.test.ts. The host's
 * doctor checks are a stand-in here (a fixed warning): their own tests run them for real.
 */
import { appendFile, mkdir, mkdtemp, rename, rm, statfs, writeFile } from 'node:fs/promises';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../../daemon/api/app.js';
import { serveApi, type ApiServers } from '../../daemon/api/server.js';
import { TokenStore } from '../../daemon/auth/tokens.js';
import { runCli } from '../../daemon/cli/program.js';
import { ConsoleLogs } from '../../daemon/core/console-log.js';
import { SessionRegistry } from '../../daemon/core/sessions.js';
import { vmRunDir } from '../../daemon/core/vm-spec.js';
import { closeDatabase, getSandboxByName, insertSandbox, openDatabase, type HobDb, type NewSandbox } from '../../daemon/db/index.js';
import { HostInfoReader } from '../../daemon/host/info.js';
import { ConsoleLogObject } from '../../daemon/wire/console-log.js';
import { HostObject } from '../../daemon/wire/host.js';
import { capturedIo } from '../helpers/cli-io.js';
import { unixRequest } from '../helpers/http.js';
import { noSandboxService } from '../helpers/no-sandboxes.js';
import { freePort } from '../helpers/free-port.js';

const base: NewSandbox = { name: 'dev', state: 'stopped', image: 'minimal', cpus: 1, memoryMiB: 512, diskBytes: 4 * 1024 ** 3, vmm: 'qemu' };
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };


describe('console log and host routes', () => {
  let tmp: string;
  let db: HobDb;
  let servers: ApiServers;
  let socketPath: string;
  let port: number;
  let scoped: string;
  let full: string;
  const older = Buffer.concat([Buffer.from('[    0.000000] Linux version 6.1\n'), Buffer.alloc(1000, 0x41)]);
  const newer = Buffer.concat([Buffer.from('\x1b[2J\x1b]0;owned\x07<script>alert(1)</script>'), Buffer.from([0xff, 0xfe, 0x00]), Buffer.from('end\r\n')]);

  const tcp = (token: string, path: string): Promise<{ status: number; body: string }> =>
    new Promise((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, path, headers: { host: `127.0.0.1:${port}`, authorization: `Bearer ${token}` } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      });
      req.on('error', reject);
      req.end();
    });

  async function hob(args: string[]) {
    const io = capturedIo({ cwd: tmp, env: { HOB_SOCKET: socketPath } });
    io.stdin.end();
    const code = await runCli(args, io);
    return { code, stdout: io.stdoutText(), stderr: io.stderrText() };
  }

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'hob-console-api-'));
    db = openDatabase(join(tmp, 'hob.db'));
    const config = { runDir: join(tmp, 'run') };
    const dev = insertSandbox(db, base);
    insertSandbox(db, { ...base, name: 'fresh' });
    const agent = insertSandbox(db, { ...base, name: 'agent-1' });
    for (const row of [dev, agent]) {
      const dir = vmRunDir(config, row.id);
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'console.log.1'), older);
      await writeFile(join(dir, 'console.log'), newer);
    }
    const tokens = new TokenStore(db);
    scoped = tokens.create('agent', { prefix: 'agent-', maxSandboxes: 3 }).token;
    full = tokens.create('all').token;
    port = await freePort();
    socketPath = join(tmp, 'hob.sock');
    const api = createApi({
      sandboxes: noSandboxService(),
      sessions: new SessionRegistry(),
      tokens,
      port,
      version: '0.1.0',
      log: quiet,
      consoleLogs: new ConsoleLogs({ db, config }),
      host: new HostInfoReader({
        space: async () => {
          const fs = await statfs(tmp);
          return { sizeBytes: fs.blocks * fs.bsize, freeBytes: fs.bavail * fs.bsize };
        },
        vmm: { kind: 'qemu', kvm: false, reason: 'qemu under TCG software emulation (slow): KVM is not usable: /dev/kvm does not exist', problems: [] },
        checks: async () => [{ name: 'kvm', status: 'warn', detail: '/dev/kvm does not exist', fix: 'enable VT-x' }],
      }),
    });
    servers = await serveApi(api, { socketPath, tcpPort: port });
  });

  afterAll(async () => {
    await servers?.close();
    if (db) closeDatabase(db);
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('answers the last bytes as the guest wrote them, bounded by tail, and as JSON', async () => {
    const all = await unixRequest(socketPath, { path: '/v1/sandboxes/dev/console-log' });
    expect(all.status).toBe(200);
    expect(all.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(all.headers['x-content-type-options']).toBe('nosniff');
    expect(all.body.equals(Buffer.concat([older, newer]))).toBe(true);

    const tail = await unixRequest(socketPath, { path: `/v1/sandboxes/dev/console-log?tail=${newer.length + 5}` });
    expect(tail.body.equals(Buffer.concat([older.subarray(-5), newer]))).toBe(true);

    const json = ConsoleLogObject.parse((await unixRequest(socketPath, { path: '/v1/sprites/dev/console-log?tail=10', headers: { accept: 'application/json' } })).json());
    expect(json).toMatchObject({ name: 'dev', bytes: 10, available_bytes: older.length + newer.length, exists: true });
    expect(json.text).toBe(newer.subarray(-10).toString('utf8'));

    const fresh = ConsoleLogObject.parse((await unixRequest(socketPath, { path: '/v1/sandboxes/fresh/console-log', headers: { accept: 'application/json' } })).json());
    expect(fresh).toMatchObject({ text: '', bytes: 0, available_bytes: 0, exists: false });
  });

  it('follows new output across a rotation until the client goes away', async () => {
    const dir = vmRunDir({ runDir: join(tmp, 'run') }, getSandboxByName(db, 'dev')!.id);
    let received = '';
    const req = httpRequest({ socketPath, path: '/v1/sandboxes/dev/console-log?tail=4&follow=1', headers: { host: 'localhost' } });
    const response = new Promise<IncomingMessage>((resolve, reject) => {
      req.on('response', resolve);
      req.on('error', reject);
    });
    req.end();
    const res = await response;
    expect(res.statusCode).toBe(200);
    res.setEncoding('utf8');
    res.on('data', (text: string) => (received += text));
    res.on('error', () => undefined);
    const until = async (text: string) => {
      for (let i = 0; i < 200 && !received.endsWith(text); i++) await new Promise((r) => setTimeout(r, 25));
      expect(received.endsWith(text), received).toBe(true);
    };
    await until('nd\r\n');
    await appendFile(join(dir, 'console.log'), 'more 1\n');
    await until('more 1\n');
    // Rotated as the VMM's log rotates: the rest of the old file, then the new one from its start.
    await appendFile(join(dir, 'console.log'), 'last of old\n');
    await rename(join(dir, 'console.log'), join(dir, 'console.log.1'));
    await writeFile(join(dir, 'console.log'), 'first of new\n');
    await until('first of new\n');
    expect(received.slice(-('more 1\nlast of old\nfirst of new\n'.length))).toBe('more 1\nlast of old\nfirst of new\n');
    res.destroy();
    // Put the files back as the other tests expect them.
    await writeFile(join(dir, 'console.log.1'), older);
    await writeFile(join(dir, 'console.log'), newer);
  });

  it('refuses a bad tail and an unknown sandbox', async () => {
    for (const q of ['tail=0', 'tail=1048577', 'tail=abc', 'tail=-1']) {
      const r = await unixRequest(socketPath, { path: `/v1/sandboxes/dev/console-log?${q}` });
      expect(r.status, q).toBe(400);
      expect(r.json<{ message: string }>().message).toMatch(/invalid query: tail/);
    }
    const unknown = await unixRequest(socketPath, { path: '/v1/sandboxes/nope/console-log' });
    expect(unknown.status).toBe(404);
    expect(unknown.json<{ message: string }>().message).toBe('no sandbox named "nope"');
  });

  it('hob console-log escapes the guest text for the terminal; --raw and --json do not', async () => {
    const text = await hob(['console-log', 'dev', '--bytes', String(newer.length)]);
    expect(text.code).toBe(0);
    expect(text.stdout).toBe('\\x1b[2J\\x1b]0;owned\\x07<script>alert(1)</script>\ufffd\ufffd\\x00end\n');
    const raw = await hob(['console-log', 'dev', '--raw', '-c', '16']);
    expect(raw.stdout).toBe(newer.subarray(-16).toString('utf8'));
    const json = await hob(['console-log', 'dev', '--json', '-c', '1k']);
    expect(ConsoleLogObject.parse(JSON.parse(json.stdout))).toMatchObject({ name: 'dev', bytes: 1024 });
    const big = await hob(['console-log', 'dev', '-c', '2M']);
    expect(big.code).toBe(2);
    expect(big.stderr).toMatch(/--bytes: at most 1M/);
    const unknown = await hob(['console-log', 'nope']);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/no sandbox named "nope"/);
  });

  it('holds a scoped token to its prefix on the console log, and keeps it off the host', async () => {
    expect((await tcp(scoped, '/v1/sandboxes/agent-1/console-log')).status).toBe(200);
    const outside = await tcp(scoped, '/v1/sandboxes/dev/console-log');
    expect(outside.status).toBe(404);
    expect(outside.body).toMatch(/no sandbox named \\"dev\\"/);
    expect((await tcp(scoped, '/v1/host')).status).toBe(403);
    const host = await tcp(full, '/v1/host');
    expect(host.status).toBe(200);
    const h = HostObject.parse(JSON.parse(host.body));
    expect(h.vmm).toMatchObject({ driver: 'qemu', kvm: false });
    expect(h.doctor.status).toBe('warn');
    expect(h.doctor.checks).toEqual([{ name: 'kvm', status: 'warn', detail: '/dev/kvm does not exist', fix: 'enable VT-x' }]);
    expect(h.pool.size_bytes).toBeGreaterThan(0);
    expect(h.pool.used_bytes).toBe(h.pool.size_bytes - h.pool.free_bytes);
    expect(h.memory.total_bytes).toBeGreaterThanOrEqual(h.memory.available_bytes); // the real /proc/meminfo
    expect(h.memory.available_bytes).toBeGreaterThan(0);
    expect(h.cpu.load).toHaveLength(3);
  });
});
