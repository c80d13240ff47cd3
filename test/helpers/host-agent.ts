/**
 * The real guest agent run on the host as a plain process (its `--listen`
 * mode), with a connected AgentClient: lets API tests exercise exec, sessions
 * and files through the real agent protocol without a VM. Processes it starts
 * run on the host, as the user running the tests: keep test commands harmless
 * and file paths inside the temp dir.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';
import { AgentClient } from '../../daemon/agent/client.js';
import type { Sandbox, SandboxService } from '../../daemon/core/types.js';
import { noSandboxService } from './no-sandboxes.js';
import { NotFoundError } from '../../daemon/errors.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface HostAgent {
  readonly client: AgentClient;
  /** A temp dir the tests may use for files (removed by stop()). */
  readonly dir: string;
  /** The agent's default-user file (absent at first: execs without a user run as the test user); read at every exec. */
  readonly defaultUserFile: string;
  stop(): Promise<void>;
}

export async function startHostAgent(): Promise<HostAgent> {
  const dir = mkdtempSync(join(tmpdir(), 'hob-host-agent-'));
  const socketPath = join(dir, 'agent.sock');
  const defaultUserFile = join(dir, 'default-user');
  const agentArgs = ['--listen', socketPath, '--default-user-file', defaultUserFile];
  const child: ResultPromise = execa(process.execPath, ['--import', 'tsx', join(repo, 'guest-image', 'agent', 'main.ts'), ...agentArgs], {
    cwd: repo,
    reject: false,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const stop = async (): Promise<void> => {
    child.kill('SIGKILL');
    await child;
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < 300 && !existsSync(socketPath); i++) {
      if (child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    if (!existsSync(socketPath)) throw new Error(`the agent did not start listening: ${stderr}`);
    const socket = connect(socketPath);
    await new Promise<void>((ok, fail) => {
      socket.once('connect', ok);
      socket.once('error', fail);
    });
    const client = await AgentClient.connect(socket);
    return {
      client,
      dir,
      defaultUserFile,
      stop: async () => {
        client.close();
        await stop();
      },
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * A SandboxService holding exactly one running sandbox whose guest is the host
 * agent. It stands in for the manager (which needs VMs) in tests of what lies
 * between a request and the agent; lifecycle operations are not offered.
 */
export function oneSandboxService(name: string, agent: AgentClient, environment: Record<string, string> = {}): SandboxService {
  const now = new Date().toISOString();
  const sandbox: Sandbox = {
    id: 'hostagent1',
    name,
    state: 'running',
    stateSince: now,
    image: 'host',
    cpus: 1,
    memoryMiB: 512,
    diskBytes: 1024 ** 3,
    vmm: 'none',
    createdAt: now,
    updatedAt: now,
    lastError: null,
    urlAuth: 'private',
    labels: [],
    environment,
    autoCheckpoint: null,
    idle: {},
    keepAwakeUntil: null,
    forkedFrom: null,
  };
  const get = (n: string): Sandbox => {
    if (n !== name) throw new NotFoundError(`no sandbox named ${n}`);
    return sandbox;
  };
  const unsupported = async (): Promise<never> => {
    throw new NotFoundError('lifecycle operations are not offered by the host-agent stand-in');
  };
  return {
    ...noSandboxService(),
    list: () => [sandbox],
    get,
    create: unsupported,
    update: unsupported,
    start: unsupported,
    stop: unsupported,
    remove: unsupported,
    agent: async (n) => {
      get(n);
      return agent;
    },
  };
}
