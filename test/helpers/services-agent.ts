/**
 * The real guest agent run on the host with services on (`--listen SOCKET
 * --services-root DIR`): definitions, logs and pid files live under a temp
 * dir instead of /etc, /var/log and /run. Service processes run on this
 * machine as the test user: keep their commands harmless.
 *
 * crash() SIGKILLs the agent, leaving its service processes behind as a
 * crashed agent in a guest would; restart() starts a new agent on the same
 * root, which ends them and starts the services again. stop() sends SIGTERM
 * (the agent stops its services), then kills any process group still named by
 * a pid file and removes the temp dir.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';
import { AgentClient, waitForAgent } from '../../daemon/agent/index.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface ServicesAgent {
  /** The services root (DIR/etc/hob/services, DIR/var/log/hob/services, DIR/run/hob/services). */
  readonly root: string;
  /** A scratch dir for the tests' own files. */
  readonly scratch: string;
  /** The connection to the current agent process. */
  readonly client: AgentClient;
  /** The agent's stderr so far (all processes). */
  stderr(): string;
  /** SIGKILL to the agent; its services keep running, orphaned. */
  crash(): Promise<void>;
  /** Starts a new agent on the same root and connects `client` to it. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

function openUnix(path: string): Promise<Socket> {
  return new Promise((ok, fail) => {
    const socket = connect(path);
    socket.once('connect', () => {
      socket.off('error', fail);
      ok(socket);
    });
    socket.once('error', fail);
  });
}

/** Pids of the process groups named by the pid files under `root`. */
function pidFileGroups(root: string): number[] {
  const dir = join(root, 'run', 'hob', 'services');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.pid'))
    .map((f) => Number(readFileSync(join(dir, f), 'utf8').split(' ')[0]))
    .filter((pid) => Number.isInteger(pid) && pid > 1);
}

export async function startServicesAgent(): Promise<ServicesAgent> {
  const base = mkdtempSync(join(tmpdir(), 'hob-services-'));
  const root = join(base, 'root');
  const scratch = join(base, 'scratch');
  mkdirSync(root);
  mkdirSync(scratch);
  const socketPath = join(base, 'agent.sock');
  let stderr = '';
  let child: ResultPromise | undefined;
  let client: AgentClient | undefined;
  /** Every group a service ever ran as, for the final cleanup. */
  const seenGroups = new Set<number>();

  const launch = async (): Promise<void> => {
    rmSync(socketPath, { force: true });
    child = execa(process.execPath, ['--import', 'tsx', join(repo, 'guest-image', 'agent', 'main.ts'), '--listen', socketPath, '--services-root', root], {
      cwd: repo,
      reject: false,
      stdin: 'ignore',
      stdout: 'ignore',
      stderr: 'pipe',
    });
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    client = await waitForAgent(() => openUnix(socketPath), { timeoutMs: 60_000 });
  };

  const remember = (): void => {
    for (const pid of pidFileGroups(root)) seenGroups.add(pid);
  };

  const agent: ServicesAgent = {
    root,
    scratch,
    get client(): AgentClient {
      if (!client) throw new Error('the agent is not running');
      return client;
    },
    stderr: () => stderr,
    crash: async () => {
      remember();
      client?.close();
      client = undefined;
      child?.kill('SIGKILL');
      await child;
      child = undefined;
    },
    restart: launch,
    stop: async () => {
      remember();
      client?.close();
      client = undefined;
      if (child) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child?.kill('SIGKILL'), 10_000);
        await child;
        clearTimeout(timer);
      }
      remember();
      for (const pid of seenGroups) {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          // gone already
        }
      }
      rmSync(base, { recursive: true, force: true });
    },
  };
  try {
    await launch();
  } catch (err) {
    await agent.stop();
    throw new Error(`the agent did not start: ${(err as Error).message}\n${stderr}`);
  }
  return agent;
}
