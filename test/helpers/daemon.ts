/**
 * End-to-end harness: a real hobd (its own state dir, embedded btrfs pool,
 * run dir and config) running inside a fresh network namespace with no uplink,
 * with the minimal guest image imported as `minimal`.
 *
 * The unix socket is reachable from the test process (it is a file). The TCP
 * listener lives in the namespace's loopback; `tcpRequest` reaches it through
 * a socat bridge started inside the namespace, and `inNetns` runs a program
 * (an SDK client, say) there.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa, type Result } from 'execa';
import { parseSize } from '../../daemon/config.js';
import { importImage } from '../../daemon/core/images.js';
import { Pool } from '../../daemon/storage/index.js';
import { ensureTestImage } from './image.js';
import { unixRequest, type HttpRequest, type HttpResult } from './http.js';
import { attachFakeInternet, DNS_SERVER, type FakeInternet } from './net/internet.js';
import { createTestNetns, type TestNetns } from './netns.js';

const REPO = resolve(import.meta.dirname, '../..');
const TSX = join(REPO, 'node_modules/.bin/tsx');

export interface TestDaemonOptions {
  /** Defaults for new sandboxes; tests keep them small so TCG boots stay quick. */
  readonly cpus?: number;
  readonly memoryMiB?: number;
  readonly diskGiB?: number;
  /** Apparent size of the pool image. Default 24 GiB (sparse). */
  readonly poolSize?: string;
  /**
   * hobd's idle policy (seconds, 0 = never). Default: both off, so that a test's
   * pauses between steps never put its sandboxes to sleep; idle tests opt in.
   */
  readonly idle?: { readonly pauseAfterSeconds?: number; readonly hibernateAfterSeconds?: number };
  /**
   * Link hobd's namespace to a fake internet (DNS + HTTP, see net/internet.ts) and use its
   * DNS server upstream. Default false: hobd's namespace has no uplink at all, and its
   * resolver forwards to 127.0.0.1 there (nothing listens: guests get SERVFAIL).
   */
  readonly internet?: boolean;
  /** Extra environment for hobd (every start, restarts included), e.g. the crash tests' HOB_TEST_CRASH_AT. */
  readonly env?: Readonly<Record<string, string>>;
  /** More images to import besides `minimal`: pool name -> built image directory. */
  readonly images?: Readonly<Record<string, string>>;
  /** hobd's `vmm.allowForeignArch` (boot other-arch images under TCG). Default false. */
  readonly allowForeignArch?: boolean;
  /**
   * hobd's warm templates (`templates.enabled`). Default false: a template boots a VM after
   * every import, which every e2e file would pay; the template tests opt in, and
   * HOB_TEST_TEMPLATES=1 turns them on for every daemon that does not say (a whole suite's
   * creates then resume from templates).
   */
  readonly templates?: boolean;
  /** hobd's `templates.spares` (a spare sandbox per template, docs/architecture.md §31). Default: hobd's (true). */
  readonly spares?: boolean;
  /** hobd's `templates.memory` (how a template keeps its memory). Default: hobd's (`mapped`). */
  readonly templateMemory?: 'mapped' | 'stream';
  /** More top-level lines of hobd's config.yaml, e.g. `secrets: { upstreamCaFile: /tmp/ca.pem }`. */
  readonly configLines?: readonly string[];
}

export interface CliResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface TestDaemon {
  readonly socketPath: string;
  /** The TCP listener's URL as seen from inside the namespace. */
  readonly baseUrl: string;
  readonly port: number;
  /** A token for the TCP listener. */
  readonly token: string;
  readonly stateDir: string;
  readonly runDir: string;
  readonly netns: TestNetns;
  /** Prefix of the sandbox namespaces this hobd creates (`<prefix><id>`). */
  readonly netnsPrefix: string;
  /** The fake internet, when asked for. */
  readonly internet: FakeInternet | undefined;
  /** hobd's stderr so far. */
  logs(): string;
  /** The current hobd process's pid (undefined before the first start). */
  pid(): number | undefined;
  /** HTTP over the unix socket. */
  request(req: HttpRequest): Promise<HttpResult>;
  /** HTTP to the TCP listener (through a bridge into the namespace). Adds no token by itself. */
  tcpRequest(req: HttpRequest): Promise<HttpResult>;
  /** Runs the `hob` CLI against this daemon's socket. */
  cli(args: readonly string[], options?: { input?: string | Buffer; env?: Record<string, string>; timeoutMs?: number }): Promise<CliResult>;
  /** Runs a command inside the daemon's network namespace. */
  inNetns(argv: readonly string[], options?: { input?: string; env?: Record<string, string>; timeoutMs?: number }): Promise<Result>;
  /** Sends a signal to hobd and waits for it to exit. The VMs keep running. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts hobd again on the same state (after kill, or after hobd died by itself). */
  restart(): Promise<void>;
  /** Resolves once the current hobd process has exited (it may kill itself: see daemon/core/crash-point.ts). */
  exited(): Promise<void>;
  /** Stops hobd, kills every VM it left, unmounts the pool, deletes everything. */
  stop(): Promise<void>;
}

export async function startTestDaemon(options: TestDaemonOptions = {}): Promise<TestDaemon> {
  const image = await ensureTestImage();
  const root = await mkdtemp(join(tmpdir(), 'hobd-'));
  // Short run dir: unix socket paths are limited to 107 bytes.
  const runDir = join('/tmp', `hr-${randomBytes(3).toString('hex')}`);
  const stateDir = join(root, 'state');
  const socketPath = join(runDir, 'hob.sock');
  const port = 20000 + Math.floor(Math.random() * 30000);
  const configPath = join(root, 'config.yaml');
  // Unique per daemon: hobd removes the sandbox namespaces with its prefix that it does not know.
  const netnsPrefix = `hs${randomBytes(3).toString('hex')}-`;
  await writeFile(
    configPath,
    [
      `stateDir: ${stateDir}`,
      `runDir: ${runDir}`,
      `pool: { imageSize: ${options.poolSize ?? '24GiB'} }`,
      `api: { socketPath: ${socketPath}, tcpPort: ${port} }`,
      `vmm: { driver: ${process.env.HOB_VMM ?? 'qemu'}, allowForeignArch: ${options.allowForeignArch ?? false} }`,
      `idle: { pauseAfterSeconds: ${options.idle?.pauseAfterSeconds ?? 0}, hibernateAfterSeconds: ${options.idle?.hibernateAfterSeconds ?? 0} }`,
      `templates: { enabled: ${options.templates ?? process.env.HOB_TEST_TEMPLATES === '1'}${options.templateMemory ? `, memory: ${options.templateMemory}` : ''}${options.spares === undefined ? '' : `, spares: ${options.spares}`} }`,
      `sandboxDefaults: { cpus: ${options.cpus ?? 1}, memoryMiB: ${options.memoryMiB ?? 512}, diskGiB: ${options.diskGiB ?? 4}, image: minimal }`,
      `network: { netnsPrefix: ${netnsPrefix}, upstreamDns: ['${options.internet ? DNS_SERVER : '127.0.0.1'}'] }`,
      ...(options.configLines ?? []),
      '',
    ].join('\n'),
  );

  // Import the image before hobd starts (hobd then finds the pool mounted).
  const pool = await Pool.open({ stateDir, imageSize: parseSize(options.poolSize ?? '24GiB') });
  await importImage(pool, 'minimal', image.dir);
  for (const [name, dir] of Object.entries(options.images ?? {})) await importImage(pool, name, dir);
  await pool.close({ unmount: false });

  const netns = await createTestNetns();
  const internet = options.internet ? await attachFakeInternet(netns).catch(async (err: unknown) => {
    await netns.dispose();
    throw err;
  }) : undefined;

  let hobd: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let stderr = '';
  let bridge: ChildProcess | undefined;
  const bridgeSocket = join(root, 'tcp-bridge.sock');

  const launch = async (): Promise<void> => {
    // nsenter --net, not `ip netns exec`: the latter gives hobd a private mount namespace,
    // in which the sandbox namespaces it creates (bind mounts under /run/netns) and its
    // pool mounts would be invisible to the test.
    const child = spawn(...sharedMountArgv(netns, [process.execPath, '--import', 'tsx', join(REPO, 'daemon/hobd.ts'), '--config', configPath]), {
      cwd: REPO,
      stdio: ['ignore', 'inherit', 'pipe'],
      env: { ...process.env, ...options.env, HOB_CONFIG: configPath },
    });
    hobd = child;
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    exited = new Promise((resolveExit) => child.once('exit', () => resolveExit()));
    await waitForHealth(socketPath, child, () => stderr);
  };

  const daemon: TestDaemon = {
    socketPath,
    baseUrl: `http://127.0.0.1:${port}`,
    port,
    token: '',
    stateDir,
    runDir,
    netns,
    netnsPrefix,
    internet,
    logs: () => stderr,
    pid: () => hobd?.pid,
    request: (req) => unixRequest(socketPath, req),
    tcpRequest: async (req) => {
      if (!bridge) {
        bridge = spawn(...netnsArgv(netns, ['socat', `UNIX-LISTEN:${bridgeSocket},fork,backlog=1024`, `TCP:127.0.0.1:${port}`]), { stdio: 'ignore' });
        await waitForFile(bridgeSocket);
      }
      return unixRequest(bridgeSocket, { ...req, headers: { host: `localhost:${port}`, ...req.headers } });
    },
    cli: async (args, cliOptions = {}) => {
      const r = await execa(TSX, [join(REPO, 'daemon/cli/main.ts'), '--socket', socketPath, ...args], {
        cwd: root,
        reject: false,
        input: cliOptions.input,
        env: { ...cliOptions.env, HOB_SOCKET: socketPath },
        timeout: cliOptions.timeoutMs ?? 300_000,
      });
      return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
    },
    inNetns: (argv, o = {}) => {
      const [cmd, ...rest] = [...netns.exec, ...argv];
      return execa(cmd!, rest, { reject: false, input: o.input, env: o.env, timeout: o.timeoutMs ?? 300_000 });
    },
    kill: async (signal = 'SIGTERM') => {
      hobd?.kill(signal);
      await exited;
      hobd = undefined;
    },
    restart: launch,
    exited: () => exited,
    stop: async () => {
      bridge?.kill('SIGKILL');
      if (hobd) {
        hobd.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
        hobd?.kill('SIGKILL');
        await exited;
      }
      await killVmsUnder(runDir);
      await deleteNetnsWithPrefix(netnsPrefix);
      await internet?.dispose();
      await netns.dispose();
      await execa('umount', ['--lazy', join(stateDir, 'pool')], { reject: false });
      await rm(root, { recursive: true, force: true });
      await rm(runDir, { recursive: true, force: true });
    },
  };

  try {
    await launch();
    const created = await daemon.request({ method: 'POST', path: '/v1/tokens', body: { name: 'e2e' } });
    if (created.status !== 201 && created.status !== 200) throw new Error(`token create: ${created.status} ${created.text()}`);
    (daemon as { token: string }).token = created.json<{ token: string }>().token;
    // A suite run with HOB_TEST_TEMPLATES=1 means its creates to resume from the template: wait for it.
    if (options.templates === undefined && process.env.HOB_TEST_TEMPLATES === '1') await waitForTemplate(daemon, 'minimal');
  } catch (err) {
    await daemon.stop();
    throw err;
  }
  return daemon;
}

function sharedMountArgv(netns: TestNetns, argv: readonly string[]): [string, string[]] {
  return ['nsenter', [`--net=/run/netns/${netns.name}`, '--', ...argv]];
}

/** Deletes the sandbox namespaces a daemon left (after its VMs were killed). */
export async function deleteNetnsWithPrefix(prefix: string): Promise<void> {
  for (const name of await readdir('/run/netns').catch(() => [] as string[])) {
    if (name.startsWith(prefix)) await execa('ip', ['netns', 'delete', name], { reject: false });
  }
}

function netnsArgv(netns: TestNetns, argv: readonly string[]): [string, string[]] {
  const all = [...netns.exec, ...argv];
  return [all[0]!, all.slice(1)];
}

/** Waits until hobd's template of `image` is ready and its spare sandbox made (when spares are on); throws when its build failed or `timeoutMs` passed. */
export async function waitForTemplate(d: TestDaemon, image: string, timeoutMs = 600_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const r = await d.request({ path: '/v1/templates' });
    const t = r.json<{ templates: Array<{ image: string; state: string; detail: string | null; spare?: string }> }>().templates.find((x) => x.image === image);
    // And its spare made (or not made): the next create then takes the same path every run.
    if (t?.state === 'ready' && t.spare !== 'preparing') return;
    if (t?.state === 'failed') throw new Error(`the template of ${image} failed: ${t.detail ?? ''}\n${d.logs().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`no template of ${image} after ${timeoutMs / 60_000} minutes:\n${d.logs().slice(-3000)}`);
}

async function waitForHealth(socketPath: string, child: ChildProcess, logs: () => string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`hobd exited with ${child.exitCode}:\n${logs()}`);
    try {
      const r = await unixRequest(socketPath, { path: '/healthz' });
      if (r.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`hobd did not answer on ${socketPath} within 60 s:\n${logs()}`);
}

async function waitForFile(path: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await readFile(path).then(() => true, (e: NodeJS.ErrnoException) => e.code !== 'ENOENT')) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** SIGKILLs every process whose command line mentions `dir` (the VMs hobd left running). */
export async function killVmsUnder(dir: string): Promise<number> {
  let killed = 0;
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(`${dir}/`) && Number(entry) !== process.pid) {
      try {
        process.kill(Number(entry), 'SIGKILL');
        killed++;
      } catch {
        // already gone
      }
    }
  }
  return killed;
}
