/**
 * The hob CLI end to end: a real hobd (test/helpers/daemon.ts: own pool,
 * netns, the minimal image) and one real sandbox VM for the whole file, driven
 * by the `hob` entry as a child process (node --import tsx daemon/cli/main.ts
 * --socket ...). Covers create with progress, ls/info, exec (stdin, exit
 * codes), cp both ways, sessions, console through a real terminal (node-pty),
 * stop/start, tokens, bad input, rm.
 *
 * The tests share the sandbox and run in order. Under TCG a boot takes ~10 s;
 * this file boots twice (create, start). The harness's cli() (execa) strips
 * one trailing newline from stdout and stderr.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawn as spawnPty } from 'node-pty';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { vmDaemonUnavailable } from '../helpers/image.js';

const REPO = resolve(import.meta.dirname, '../..');
const BOX = 'clibox';

const missing = vmDaemonUnavailable();
if (missing) console.warn(`hob CLI e2e tests skipped: missing ${missing}`);

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

/** Quotes an argument for sh. */
const shQuote = (arg: string) => `'${arg.replace(/'/g, `'\\''`)}'`;

/**
 * What a terminal user sees: runs hob from a shell in a pseudo-terminal,
 * typing each step's text once its pattern shows up in the output. After hob
 * the shell prints hob's exit code and `stty -a` (the terminal's mode).
 */
function inTerminal(socketPath: string, args: string[], steps: Array<{ after: RegExp; type: string }>): Promise<{ exitCode: number; output: string }> {
  const hob = [process.execPath, '--import', 'tsx', join(REPO, 'daemon/cli/main.ts'), '--socket', socketPath, ...args].map(shQuote).join(' ');
  return new Promise((resolvePty, reject) => {
    const term = spawnPty('/bin/sh', ['-c', `${hob}; code=$?; echo "[stty: $(stty -a | tr '\\n' ' ')]"; exit $code`], {
      cols: 100,
      rows: 30,
      cwd: REPO,
      env: { ...process.env, TERM: 'xterm' } as Record<string, string>,
    });
    let output = '';
    let next = 0;
    let searchFrom = 0;
    const timer = setTimeout(() => {
      term.kill('SIGKILL');
      reject(new Error(`the terminal session did not finish; output so far:\n${output}`));
    }, 120_000);
    term.onData((data) => {
      output += data;
      const step = steps[next];
      if (step) {
        const match = step.after.exec(output.slice(searchFrom));
        if (match) {
          searchFrom += match.index + match[0].length;
          next++;
          term.write(step.type);
        }
      }
    });
    term.onExit(({ exitCode }) => {
      clearTimeout(timer);
      resolvePty({ exitCode, output });
    });
  });
}

describe.skipIf(missing !== undefined)('hob CLI end to end (one sandbox VM)', () => {
  let d: TestDaemon;
  let work: string;

  beforeAll(async () => {
    d = await startTestDaemon();
    work = await mkdtemp(join(tmpdir(), 'hob-cli-e2e-'));
  });

  afterAll(async () => {
    await d?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('creates a sandbox, showing its progress', async () => {
    const r = await d.cli(['create', BOX, '--label', 'e2e', '--env', 'HOB_E2E=yes']);
    expect(r.exitCode, r.stderr).toBe(0);
    // stderr is not a terminal here: one plain line per step.
    const steps = r.stderr.trimEnd().split('\n');
    expect(steps.length).toBeGreaterThanOrEqual(2);
    for (const line of steps) expect(line).toMatch(/^\[\s*\d+\.\ds\] \S/);
    expect(r.stdout).toMatch(new RegExp(`^created ${BOX}: running, 1 CPU, 512 MiB memory, 4 GiB disk, image minimal$`, 'm'));
  });

  it('lists and shows it, for people and as JSON', async () => {
    const ls = await d.cli(['ls']);
    expect(ls.exitCode).toBe(0);
    expect(ls.stdout).toMatch(new RegExp(`^NAME\\s+STATE\\s+SINCE\\s+CPUS\\s+MEMORY\\s+DISK\\s+IMAGE\\n${BOX}\\s+running\\s+\\d+[sm] ago\\s+1\\s+512 MiB\\s+4 GiB\\s+minimal$`));
    const lsJson = JSON.parse((await d.cli(['ls', '--json'])).stdout) as Array<Record<string, unknown>>;
    expect(lsJson).toEqual([expect.objectContaining({ name: BOX, state: 'running', status: 'running', cpus: 1, memory_mib: 512, image: 'minimal' })]);

    const info = await d.cli(['info', BOX]);
    expect(info.stdout).toMatch(/^name:\s+clibox$/m);
    expect(info.stdout).toMatch(/^state:\s+running \(since \d+[sm] ago\)$/m);
    expect(info.stdout).toMatch(/^labels:\s+e2e$/m);
    const infoJson = JSON.parse((await d.cli(['info', BOX, '--json'])).stdout) as Record<string, unknown>;
    expect(infoJson).toMatchObject({ name: BOX, labels: ['e2e'], environment: { HOB_E2E: 'yes' }, disk_bytes: 4 * 1024 ** 3 });
  });

  it('runs commands: exit codes, stdin, stderr, environment', async () => {
    const seven = await d.cli(['exec', BOX, '--', 'sh', '-c', 'exit 7']);
    expect(seven.exitCode).toBe(7);
    const data = randomBytes(200_000).toString('base64');
    const piped = await d.cli(['exec', BOX, '--', 'sh', '-c', 'sha256sum; echo to-stderr >&2'], { input: data });
    expect(piped.exitCode).toBe(0);
    expect(piped.stdout.split(' ')[0]).toBe(sha256(data));
    expect(piped.stderr).toBe('to-stderr');
    const env = await d.cli(['exec', BOX, '-e', 'HOB_X=1', '-w', '/tmp', '--', 'sh', '-c', 'echo "$HOB_X $HOB_E2E $(pwd)"']);
    expect(env.stdout).toBe('1 yes /tmp');
    const killed = await d.cli(['exec', BOX, '--', 'sh', '-c', 'kill -KILL $$']);
    expect(killed.exitCode).toBe(137);
  });

  it('copies files in and out, and through stdin and stdout', async () => {
    const data = randomBytes(2 * 1024 * 1024 + 3);
    const local = join(work, 'in.bin');
    await writeFile(local, data);
    expect((await d.cli(['cp', local, `${BOX}:/root/in.bin`])).exitCode).toBe(0);
    const inGuest = await d.cli(['exec', BOX, '--', 'sha256sum', '/root/in.bin']);
    expect(inGuest.stdout.split(' ')[0]).toBe(sha256(data));

    const back = join(work, 'back.bin');
    const down = await d.cli(['cp', `${BOX}:/root/in.bin`, back, '--json']);
    expect(down.exitCode, down.stderr).toBe(0);
    expect(JSON.parse(down.stdout)).toMatchObject({ bytes: data.length });
    expect(sha256(await readFile(back))).toBe(sha256(data));

    expect((await d.cli(['cp', '-', `${BOX}:/root/note.txt`], { input: 'via stdin\n' })).exitCode).toBe(0);
    expect(await d.cli(['cp', `${BOX}:/root/note.txt`, '-'])).toMatchObject({ exitCode: 0, stdout: 'via stdin' });
    const dir = await d.cli(['cp', `${BOX}:/root`, join(work, 'x')]);
    expect(dir.exitCode).toBe(1);
    expect(dir.stderr).toMatch(/is a directory/);
  });

  it('lists and kills sessions', async () => {
    const running = d.cli(['exec', BOX, '--', 'sh', '-c', 'echo up; sleep 300']);
    let id: string | undefined;
    for (let i = 0; i < 300 && id === undefined; i++) {
      const list = JSON.parse((await d.cli(['sessions', 'ls', BOX, '--json'])).stdout) as Array<{ id: string; command: string; exited?: boolean }>;
      id = list.find((s) => s.command === 'sh -c echo up; sleep 300' && !s.exited)?.id;
    }
    expect(id).toBeDefined();
    expect((await d.cli(['sessions', 'ls', BOX])).stdout).toMatch(new RegExp(`^${id}\\s+sh -c echo up; sleep 300\\s+no\\s+1\\s+\\d+[sm] ago\\s+running$`, 'm'));
    const kill = await d.cli(['sessions', 'kill', BOX, id!, '--signal', 'TERM']);
    expect(kill.exitCode, kill.stderr).toBe(0);
    const ended = await running;
    expect(ended.exitCode).toBe(143);
    expect(ended.stdout).toBe('up');
  });

  it('opens a console in a terminal, detaches with Ctrl+\\ and attaches again', async () => {
    const first = await inTerminal(d.socketPath, ['console', BOX], [
      { after: /[#$] $/m, type: 'echo one-$((40+2))\r' },
      { after: /one-42/, type: '\x1c' },
    ]);
    expect(first.exitCode).toBe(0);
    // The terminal is back in its normal mode after hob: canonical input and echo.
    expect(first.output).toMatch(/\[stty: .*(?<!-)icanon.*\]/);
    expect(first.output).toMatch(/\[stty: .*(?<!-)echo .*\]/);
    const detached = /detached; the session keeps running\. Re-attach with: hob sessions attach clibox (\S+)/.exec(first.output.replace(/\r/g, ''));
    expect(detached, first.output).not.toBeNull();
    const id = detached![1]!;

    const second = await inTerminal(d.socketPath, ['sessions', 'attach', BOX, id], [{ after: /one-42/, type: 'stty size; exit 3\r' }]);
    expect(second.exitCode).toBe(3);
    expect(second.output).toMatch(/\[stty: .*(?<!-)icanon.*\]/);
    expect(second.output).toMatch(/30 100/); // the session took our terminal's size
  });

  it('runs exec and console as the image\'s default user, -u overriding it; a garbage default is root', async () => {
    const run = (args: string[]) => d.cli(['exec', BOX, ...args]);
    // The minimal image names root; a user made here and written into the file becomes the default.
    expect((await run(['--', 'cat', '/etc/hob/default-user'])).stdout).toBe('root');
    const setup = await run(['--', 'sh', '-c', 'useradd --create-home --uid 1000 --shell /bin/sh alice && echo alice > /etc/hob/default-user']);
    expect(setup.exitCode, setup.stderr).toBe(0);
    try {
      // The sandbox has an environment (HOB_E2E), so hob sends one: HOME must still be alice's.
      const who = await run(['--', 'sh', '-c', 'id -un; echo "$HOME $USER"; pwd']);
      expect(who.stdout).toBe('alice\n/home/alice alice\n/home/alice');
      expect((await run(['-u', 'root', '--', 'id', '-un'])).stdout).toBe('root');
      expect((await run(['-u', '0', '--', 'sh', '-c', 'echo $HOME'])).stdout).toBe('/root');
      const unknown = await run(['-u', 'nosuchuser', '--', 'id']);
      expect(unknown.exitCode).toBe(255);
      expect(unknown.stderr).toMatch(/nosuchuser.*no such user/);
      expect((await d.cli(['exec', BOX, '-u', 'not a user', '--', 'id'])).exitCode).toBe(2);

      const shell = await inTerminal(d.socketPath, ['console', BOX], [{ after: /[#$] $/m, type: 'echo "i am $(whoami)"; exit\r' }]);
      expect(shell.output).toMatch(/i am alice/);
      const rootConsole = await inTerminal(d.socketPath, ['console', BOX, '-u', 'root'], [{ after: /[#$] $/m, type: 'echo "i am $(whoami)"; exit\r' }]);
      expect(rootConsole.output).toMatch(/i am root/);

      // Hostile or broken content in the file: junk bytes, a user that does not exist, a FIFO (must not stall the agent).
      for (const junk of ["head -c 3000 /dev/urandom > /etc/hob/default-user", 'echo ghost > /etc/hob/default-user', 'rm /etc/hob/default-user && mkfifo /etc/hob/default-user']) {
        expect((await run(['-u', 'root', '--', 'sh', '-c', junk])).exitCode, junk).toBe(0);
        expect((await run(['--', 'id', '-un'])).stdout, junk).toBe('root');
      }
    } finally {
      await run(['-u', 'root', '--', 'sh', '-c', 'rm -f /etc/hob/default-user && echo root > /etc/hob/default-user']);
    }
  });

  it('stops and starts it again', async () => {
    const stop = await d.cli(['stop', BOX]);
    expect(stop).toMatchObject({ exitCode: 0, stdout: `${BOX} is stopped` });
    const start = await d.cli(['start', BOX]);
    expect(start.exitCode, start.stderr).toBe(0);
    expect(start.stdout).toBe(`${BOX} is running`);
    // The disk survived the reboot.
    expect((await d.cli(['exec', BOX, '--', 'cat', '/root/note.txt'])).stdout).toBe('via stdin');
  });

  it('creates, lists and revokes tokens', async () => {
    const created = await d.cli(['token', 'create', '--name', 'cli-e2e', '--json']);
    expect(created.exitCode).toBe(0);
    const token = JSON.parse(created.stdout) as { id: string; token: string };
    expect(token.token).toMatch(/^hob_/);
    expect((await d.cli(['token', 'ls'])).stdout).toMatch(new RegExp(`^${token.id}\\s+cli-e2e\\s+`, 'm'));
    expect(await d.cli(['token', 'rm', token.id])).toMatchObject({ exitCode: 0, stdout: `revoked ${token.id}` });
    expect((await d.cli(['token', 'ls', '--json'])).stdout).not.toContain(token.id);
  });

  it('reports bad input in one line with a non-zero exit code', async () => {
    const unknown = await d.cli(['info', 'no-such-box']);
    expect(unknown).toMatchObject({ exitCode: 1, stdout: '' });
    expect(unknown.stderr).toMatch(/^hob: no sandbox named "?no-such-box"?$/);
    const unknownExec = await d.cli(['exec', 'no-such-box', '--', 'true']);
    expect(unknownExec.exitCode).toBe(255);
    expect(unknownExec.stderr.trimEnd().split('\n')).toHaveLength(1);
    const invalid = await d.cli(['create', 'Not_Valid']);
    expect(invalid.exitCode).toBe(2);
    expect(invalid.stderr).toMatch(/^hob: invalid sandbox name "Not_Valid": [^\n]*$/);
    const taken = await d.cli(['create', BOX]);
    expect(taken.exitCode).toBe(1);
    expect(taken.stderr.trimEnd().split('\n')).toHaveLength(1);
  });

  it('refuses to remove a running sandbox without -f, then removes it', async () => {
    const refused = await d.cli(['rm', BOX]);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toBe(`hob: ${BOX} is running: stop it first (hob stop ${BOX}) or use rm -f`);
    const removed = await d.cli(['rm', '-f', BOX]);
    expect(removed).toMatchObject({ exitCode: 0, stdout: `removed ${BOX}` });
    expect(JSON.parse((await d.cli(['ls', '--json'])).stdout)).toEqual([]);
    expect((await d.cli(['rm', BOX])).exitCode).toBe(1);
  });
});
