/**
 * The hob CLI against the real API (unix socket and TCP with a token) and the
 * real guest agent, run on the host in its `--listen` mode instead of inside
 * a VM: exec, sessions, cp, tokens, ls/info. Commands run as the test user
 * on the host, so they stay harmless and their files stay in a temp dir.
 * Lifecycle commands (create, start, stop, rm) need the manager and real VMs:
 * test/e2e/cli.test.ts.
 *
 * Most runs are in-process (runCli with in-memory streams); a few start the
 * real `hob` entry (node --import tsx daemon/cli/main.ts) to check what the
 * shell sees: exit codes, stdout and stderr.
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi, type Api } from '../../daemon/api/app.js';
import { serveApi, type ApiServers } from '../../daemon/api/server.js';
import { TokenStore } from '../../daemon/auth/tokens.js';
import { runCli } from '../../daemon/cli/program.js';
import { SessionRegistry } from '../../daemon/core/sessions.js';
import { closeDatabase, openDatabase, type HobDb } from '../../daemon/db/open.js';
import { capturedIo } from '../helpers/cli-io.js';
import { oneSandboxService, startHostAgent, type HostAgent } from '../helpers/host-agent.js';
import { freePort } from '../helpers/free-port.js';

const REPO = resolve(import.meta.dirname, '../..');


const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

describe('hob CLI against the API and a host guest agent', () => {
  let agent: HostAgent;
  let db: HobDb;
  let sessions: SessionRegistry;
  let api: Api;
  let servers: ApiServers;
  let socketPath: string;
  let port: number;
  let token: string;
  let files: string;

  beforeAll(async () => {
    agent = await startHostAgent();
    files = join(agent.dir, 'files');
    mkdirSync(files);
    db = openDatabase(join(agent.dir, 'hob.db'));
    const tokens = new TokenStore(db);
    token = tokens.create('cli-test').token;
    sessions = new SessionRegistry();
    port = await freePort();
    socketPath = join(agent.dir, 'hob.sock');
    api = createApi({ sandboxes: oneSandboxService('dev', agent.client), sessions, tokens, port, version: '0.1.0', log: { info: () => undefined, warn: () => undefined, error: () => undefined } });
    servers = await serveApi(api, { socketPath, tcpPort: port });
  });

  afterAll(async () => {
    await servers?.close();
    sessions?.shutdown('test over');
    if (db) closeDatabase(db);
    await agent?.stop();
  });

  /** Runs hob in-process; stdin gets `input` and then ends (unless keepStdinOpen). */
  async function hob(args: string[], options: { input?: string | Buffer; keepStdinOpen?: boolean; env?: Record<string, string> } = {}) {
    const io = capturedIo({ cwd: files, env: { HOB_SOCKET: socketPath, ...options.env } });
    if (options.input !== undefined) io.stdin.write(options.input);
    if (!options.keepStdinOpen) io.stdin.end();
    const code = await runCli(args, io);
    return { code, stdout: io.stdoutText(), stderr: io.stderrText(), stdoutBytes: io.stdoutBytes(), io };
  }

  describe('exec', () => {
    it('passes stdout, stderr and the exit code through', async () => {
      const r = await hob(['exec', 'dev', '--', 'sh', '-c', 'echo out; echo err >&2; exit 7']);
      expect(r).toMatchObject({ code: 7, stdout: 'out\n', stderr: 'err\n' });
    });

    it('forwards piped stdin up to its end', async () => {
      const data = randomBytes(300_000);
      const r = await hob(['exec', 'dev', '--', 'sh', '-c', 'cat; echo done >&2'], { input: data });
      expect(r.code).toBe(0);
      expect(sha256(r.stdoutBytes)).toBe(sha256(data));
      expect(r.stderr).toBe('done\n');
    });

    it('gives 128 + n when signal n killed the command', async () => {
      expect((await hob(['exec', 'dev', '--', 'sh', '-c', 'kill -TERM $$'])).code).toBe(143);
    });

    it('sets env and working directory', async () => {
      const r = await hob(['exec', 'dev', '-e', 'HOB_A=1', '-e', 'HOB_B=x=y', '-w', files, '--', 'sh', '-c', 'echo "$HOB_A $HOB_B $(pwd)"']);
      expect(r.stdout).toBe(`1 x=y ${files}\n`);
    });

    it('exits 127 for a missing command, with the reason on stderr', async () => {
      const r = await hob(['exec', 'dev', '--', 'no-such-command-hob']);
      expect(r.code).toBe(127);
      expect(r.stderr).toMatch(/no-such-command-hob/);
    });

    it('prints output and exit code as JSON with --json', async () => {
      const r = await hob(['exec', 'dev', '--json', '--', 'sh', '-c', 'echo o; echo e >&2; exit 3']);
      expect(r.code).toBe(3);
      expect(r.stderr).toBe('');
      expect(JSON.parse(r.stdout)).toMatchObject({ exit_code: 3, signal: null, stdout: 'o\n', stderr: 'e\n' });
    });

    it('runs a TTY command with piped input, ending the input with EOT', async () => {
      const r = await hob(['exec', 'dev', '-t', '--', 'sh', '-c', 'read -r line; echo "got $line"; cat; echo after'], { input: 'hello\n' });
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('got hello');
      expect(r.stdout).toContain('after');
    });

    it('fails with 255 and one line for an unknown sandbox', async () => {
      const r = await hob(['exec', 'nope', '--', 'true']);
      expect(r.code).toBe(255);
      expect(r.stderr).toBe('hob: no sandbox named nope\n');
    });

    it('works through the real entry point: exit code, stdin, stdout and stderr as the shell sees them', async () => {
      const main = join(REPO, 'daemon/cli/main.ts');
      const r = await execa(process.execPath, ['--import', 'tsx', main, '--socket', socketPath, 'exec', 'dev', '--', 'sh', '-c', 'tr a-z A-Z; echo bye >&2; exit 7'], {
        cwd: REPO,
        input: 'shout\n',
        reject: false,
      });
      expect(r.exitCode).toBe(7);
      expect(r.stdout).toBe('SHOUT');
      expect(r.stderr).toBe('bye');
      const bad = await execa(process.execPath, ['--import', 'tsx', main, '--socket', join(agent.dir, 'none.sock'), 'ls'], { cwd: REPO, reject: false });
      expect(bad.exitCode).toBe(3);
      expect(bad.stdout).toBe('');
      expect(bad.stderr).toBe(`hob: hobd is not running (socket ${join(agent.dir, 'none.sock')}): start it with \`systemctl start hobd\` (or \`hob daemon\` where systemd is not running)`);
    });
    it('works as the built bundle (npm run build: dist/cli/hob.js and its lazily loaded chunks)', async () => {
      // Bundled next to dist/ so that it finds package.json as the installed one does.
      const outdir = join(REPO, 'dist', `cli-test-${process.pid}`);
      const { bundleCli } = (await import(join(REPO, 'daemon/cli/bundle.mjs'))) as { bundleCli(o: { outdir: string }): Promise<void> };
      await bundleCli({ outdir });
      try {
        // The loader runs the bundle with the V8 code caches the build wrote (docs/architecture.md §23).
        expect(readdirSync(outdir).filter((f) => f.endsWith('.js.cache'))).toContain('cli.js.cache');
        const hobBundle = (args: string[], input?: string) => execa(process.execPath, [join(outdir, 'hob.js'), '--socket', socketPath, ...args], { cwd: files, input, reject: false });
        const version = await hobBundle(['--version']);
        expect(version.stdout).toBe(JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).version);
        // A websocket exec (ws is loaded lazily) with stdin, both streams and the remote exit code.
        const r = await hobBundle(['exec', 'dev', '--', 'sh', '-c', 'tr a-z A-Z; echo bye >&2; exit 7'], 'shout\n');
        expect([r.exitCode, r.stdout, r.stderr]).toEqual([7, 'SHOUT', 'bye']);
        const ls = await hobBundle(['ls', '--json']);
        expect(ls.exitCode).toBe(0);
        expect((JSON.parse(ls.stdout) as Array<{ name: string }>).map((s) => s.name)).toEqual(['dev']);
        const bad = await hobBundle(['create', 'Bad_Name']);
        expect([bad.exitCode, bad.stdout]).toEqual([2, '']);
        expect(bad.stderr).toMatch(/^hob: invalid sandbox name "Bad_Name"/);
        const help = await hobBundle(['--help']);
        expect(help.stdout).toMatch(/^\s+mcp \[options\]/m);
        // A damaged cache (a short write, another node's) is rejected by V8 and costs only the compile.
        for (const cache of readdirSync(outdir).filter((f) => f.endsWith('.js.cache'))) writeFileSync(join(outdir, cache), 'damaged');
        const again = await hobBundle(['ls', '--json']);
        expect([again.exitCode, again.stderr]).toEqual([0, '']);
        expect((JSON.parse(again.stdout) as Array<{ name: string }>).map((s) => s.name)).toEqual(['dev']);
        // A response of another shape is reported in words: the CLI alone (zod/mini) sets zod's English messages.
        const oddSocket = join(agent.dir, 'odd.sock');
        const odd = createServer((_req, res) => res.end(JSON.stringify({ sprites: [{ name: 5 }], has_more: false })));
        await new Promise<void>((done) => odd.listen(oddSocket, done));
        try {
          const r = await execa(process.execPath, [join(outdir, 'hob.js'), '--socket', oddSocket, 'ls'], { reject: false });
          expect([r.exitCode, r.stdout]).toEqual([1, '']);
          expect(r.stderr).toContain('(sprites.0.name: Invalid input: expected string, received number)');
        } finally {
          odd.close();
        }
      } finally {
        rmSync(outdir, { recursive: true, force: true });
      }
    });
  });

  describe('sessions', () => {
    it('lists, kills and attaches to a session', async () => {
      // A command that waits for stdin holds its session open while we look at it.
      const running = hob(['exec', 'dev', '--', 'sh', '-c', 'echo started; read -r x; echo never'], { keepStdinOpen: true });
      let id: string | undefined;
      for (let i = 0; i < 200 && id === undefined; i++) {
        const ls = await hob(['sessions', 'ls', 'dev', '--json']);
        const list = JSON.parse(ls.stdout) as Array<{ id: string; command: string; exited: boolean }>;
        id = list.find((s) => s.command.includes('echo started') && !s.exited)?.id;
        if (id === undefined) await new Promise((r) => setTimeout(r, 50));
      }
      expect(id).toBeDefined();
      const table = await hob(['sessions', 'ls', 'dev']);
      expect(table.stdout).toMatch(new RegExp(`^${id}\\s+sh -c echo started; read -r x; echo never\\s+no\\s+1\\s+\\d+s ago\\s+running$`, 'm'));

      const kill = await hob(['sessions', 'kill', 'dev', id!, '--signal', 'INT']);
      expect(kill.code).toBe(0);
      expect(kill.stdout).toMatch(/sent SIGINT to process/);
      const ended = await running;
      expect(ended.code).toBe(130);
      expect(ended.stdout).toBe('started\n');

      // The ended session stays listed for a while: attaching replays its output and exit code.
      const attach = await hob(['sessions', 'attach', 'dev', id!]);
      expect(attach).toMatchObject({ code: 130, stdout: 'started\n' });
      const again = await hob(['sessions', 'kill', 'dev', id!]);
      expect(again.code).toBe(1);
      expect(again.stderr).toMatch(/^hob: session .* has already exited\n$/);
    });

    it('refuses an unknown session', async () => {
      const r = await hob(['sessions', 'attach', 'dev', '999999999']);
      expect(r.code).toBe(255);
      expect(r.stderr).toMatch(/^hob: no session 999999999 in sandbox dev\n$/);
    });
  });

  describe('cp', () => {
    it('copies a file in and out, keeping its bytes and mode', async () => {
      const data = randomBytes(3 * 1024 * 1024 + 17);
      const local = join(agent.dir, 'upload.bin');
      writeFileSync(local, data);
      chmodSync(local, 0o750);
      const up = await hob(['cp', local, `dev:${files}/in.bin`]);
      expect(up).toMatchObject({ code: 0, stdout: '', stderr: '' });
      expect(sha256(readFileSync(join(files, 'in.bin')))).toBe(sha256(data));
      expect(statSync(join(files, 'in.bin')).mode & 0o777).toBe(0o750);

      const back = join(agent.dir, 'download.bin');
      const down = await hob(['cp', '--json', `dev:${files}/in.bin`, back]);
      expect(down.code).toBe(0);
      expect(JSON.parse(down.stdout)).toEqual({ source: `dev:${files}/in.bin`, destination: back, bytes: data.length });
      expect(sha256(readFileSync(back))).toBe(sha256(data));
    });

    it('streams stdin in and a file to stdout', async () => {
      const r = await hob(['cp', '-', `dev:${files}/from-stdin.txt`], { input: 'piped text\n' });
      expect(r.code).toBe(0);
      expect(readFileSync(join(files, 'from-stdin.txt'), 'utf8')).toBe('piped text\n');
      const out = await hob(['cp', `dev:${files}/from-stdin.txt`, '-']);
      expect(out).toMatchObject({ code: 0, stdout: 'piped text\n' });
    });

    it('copies into a directory under the source name', async () => {
      writeFileSync(join(agent.dir, 'named.txt'), 'n');
      mkdirSync(join(files, 'dir'));
      expect((await hob(['cp', join(agent.dir, 'named.txt'), `dev:${files}/dir`])).code).toBe(0);
      expect(readFileSync(join(files, 'dir/named.txt'), 'utf8')).toBe('n');
      mkdirSync(join(agent.dir, 'localdir'));
      expect((await hob(['cp', `dev:${files}/dir/named.txt`, join(agent.dir, 'localdir')])).code).toBe(0);
      expect(readFileSync(join(agent.dir, 'localdir/named.txt'), 'utf8')).toBe('n');
    });

    it('refuses directories as the source, and reports a missing file', async () => {
      const remoteDir = await hob(['cp', `dev:${files}`, join(agent.dir, 'x')]);
      expect(remoteDir.code).toBe(1);
      expect(remoteDir.stderr).toMatch(/is a directory: hob cp copies single files for now/);
      const localDir = await hob(['cp', agent.dir, `dev:${files}/x`]);
      expect(localDir.code).toBe(1);
      expect(localDir.stderr).toMatch(/is a directory/);
      const missing = await hob(['cp', `dev:${files}/missing`, join(agent.dir, 'missing')]);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toMatch(/ENOENT/);
      expect(() => statSync(join(agent.dir, 'missing'))).toThrow(); // no half file left behind
    });
  });

  describe('sandboxes and tokens', () => {
    it('lists and shows the sandbox, as a table and as JSON', async () => {
      const table = await hob(['ls']);
      expect(table.stdout).toMatch(/^NAME\s+STATE\s+SINCE\s+CPUS\s+MEMORY\s+DISK\s+IMAGE\ndev\s+running\s+\d+[smh] ago\s+1\s+512 MiB\s+1 GiB\s+host\n$/);
      const json = JSON.parse((await hob(['ls', '--json'])).stdout) as Array<{ name: string; state: string }>;
      expect(json).toHaveLength(1);
      expect(json[0]).toMatchObject({ name: 'dev', state: 'running', status: 'running' });
      const info = JSON.parse((await hob(['info', 'dev', '--json'])).stdout) as Record<string, unknown>;
      expect(info).toMatchObject({ name: 'dev', cpus: 1, memory_mib: 512, image: 'host' });
      const missing = await hob(['info', 'nope']);
      expect(missing).toMatchObject({ code: 1, stdout: '', stderr: 'hob: no sandbox named nope\n' });
    });

    it('creates, lists and revokes tokens, and uses one over TCP', async () => {
      const created = await hob(['token', 'create', '--name', 'from-cli']);
      expect(created.code).toBe(0);
      const secret = created.stdout.trim();
      expect(secret).toMatch(/^hob_\S+$/);
      expect(created.stderr).toMatch(/store it now/);

      const url = `http://127.0.0.1:${port}`;
      const viaTcp = await hob(['--url', url, '--token', secret, 'exec', 'dev', '--', 'echo', 'over tcp']);
      expect(viaTcp).toMatchObject({ code: 0, stdout: 'over tcp\n' });
      const viaEnv = await hob(['ls', '--json'], { env: { HOB_URL: url, HOB_TOKEN: secret } });
      expect(viaEnv.code).toBe(0);
      const noToken = await hob(['--url', url, 'ls']);
      expect(noToken.code).toBe(1);
      expect(noToken.stderr).toMatch(/token is required.*hob token create/);

      const list = JSON.parse((await hob(['token', 'ls', '--json'])).stdout) as Array<{ id: string; name: string }>;
      const mine = list.find((t) => t.name === 'from-cli');
      expect(mine).toBeDefined();
      expect((await hob(['token', 'ls'])).stdout).toMatch(new RegExp(`^${mine!.id}\\s+from-cli\\s+all\\s+\\d+s ago\\s+`, 'm'));
      const scoped = await hob(['token', 'create', '--name', 'agent', '--prefix', 'agent-', '--max-sandboxes', '2']);
      expect(scoped.code).toBe(0);
      expect(scoped.stderr).toMatch(/created \(scope: agent-\* \(max 2\)\)/);
      expect((await hob(['token', 'ls'])).stdout).toMatch(/\sagent\s+agent-\* \(max 2\)\s/);
      const scopedJson = JSON.parse((await hob(['token', 'ls', '--json'])).stdout) as Array<{ name: string; prefix: string | null; max_sandboxes: number | null }>;
      expect(scopedJson.find((t) => t.name === 'agent')).toMatchObject({ prefix: 'agent-', max_sandboxes: 2 });
      expect(await hob(['token', 'create', '--name', 'bad', '--prefix', 'Agent_'])).toMatchObject({ code: 2 });
      expect(await hob(['token', 'create', '--name', 'bad', '--max-sandboxes', '-1'])).toMatchObject({ code: 2 });
      const taken = await hob(['token', 'create', '--name', 'from-cli']);
      expect(taken).toMatchObject({ code: 1, stderr: 'hob: a token named "from-cli" already exists\n' });

      expect((await hob(['token', 'rm', mine!.id])).code).toBe(0);
      const revoked = await hob(['--url', url, '--token', secret, 'ls']);
      expect(revoked.code).toBe(1);
      expect(revoked.stderr).toMatch(/invalid or revoked token/);
      expect((await hob(['token', 'rm', mine!.id])).code).toBe(1);
    });
  });
});
