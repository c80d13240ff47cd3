/**
 * Agent calls made under a sandbox's lock have deadlines (issue 12 finding 6).
 * The agent is the real guest agent run on the host (`--listen`), stopped with
 * SIGSTOP once connected: it holds its connection open and never answers, as a
 * hung or hostile guest would. The VMM is a stand-in (mock: no VM is needed to
 * show that LiveVm.stop stops waiting for the agent and falls back to the VMM).
 * The agent is only ever SIGKILLed after its SIGSTOP: the calls queued to it
 * (sync, a chmod, a script) are never run on the host.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { AgentClient } from '../../daemon/agent/client.js';
import { applyIdentity } from '../../daemon/core/identity.js';
import { LiveVm } from '../../daemon/core/live-vm.js';
import { publishPolicyToGuest } from '../../daemon/core/network.js';
import { TimeoutError } from '../../daemon/errors.js';
import { parsePolicy } from '../../daemon/net/index.js';
import type { VmExit, VmHandle } from '../../daemon/vmm/types.js';

const REPO = resolve(import.meta.dirname, '../..');

interface StoppedAgent {
  readonly socketPath: string;
  readonly pid: number;
  /** SIGSTOPs the agent and waits until the kernel says it is stopped. */
  freeze(): Promise<void>;
  dispose(): Promise<void>;
}

let cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

async function startAgent(): Promise<StoppedAgent> {
  const dir = mkdtempSync(join(tmpdir(), 'hob-deadline-'));
  const socketPath = join(dir, 'agent.sock');
  const child: ResultPromise = execa(process.execPath, ['--import', 'tsx', join(REPO, 'guest-image/agent/main.ts'), '--listen', socketPath], {
    cwd: REPO,
    reject: false,
    stdio: ['ignore', 'ignore', 'ignore'],
  });
  for (let i = 0; i < 400 && !existsSync(socketPath); i++) await new Promise((r) => setTimeout(r, 50));
  if (!existsSync(socketPath)) throw new Error('the host agent did not start listening');
  const pid = child.pid!;
  const agent: StoppedAgent = {
    socketPath,
    pid,
    freeze: async () => {
      process.kill(pid, 'SIGSTOP');
      for (let i = 0; i < 200; i++) {
        const state = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '')[0];
        if (state === 'T') return;
        await new Promise((r) => setTimeout(r, 10));
      }
      throw new Error('the agent did not stop');
    },
    dispose: async () => {
      child.kill('SIGKILL');
      await child;
      rmSync(dir, { recursive: true, force: true });
    },
  };
  cleanup.push(() => agent.dispose());
  return agent;
}

async function openSocket(path: string): Promise<Socket> {
  const socket = connect(path);
  await new Promise<void>((ok, fail) => {
    socket.once('connect', ok);
    socket.once('error', fail);
  });
  return socket;
}

/** mock: a VMM process. Records how it was asked to go; "exits" on stop or kill. */
function fakeVmm(agentSocket: string): VmHandle & { calls: string[] } {
  let exit = (_: VmExit): void => {};
  const exited = new Promise<VmExit>((r) => (exit = r));
  const calls: string[] = [];
  const gone = (how: string): Promise<VmExit> => {
    calls.push(how);
    const e: VmExit = { code: null, signal: 'SIGKILL' } as VmExit;
    exit(e);
    return Promise.resolve(e);
  };
  const handle = {
    kind: 'qemu',
    spec: { id: 'deadline1', runDir: '/nonexistent', kernelPath: '', initramfsPath: '', cmdline: '', disks: [], cpus: 1, memoryMiB: 64 },
    pid: 0,
    exited,
    consoleLogPath: '/nonexistent',
    calls,
    state: async () => 'running' as const,
    pause: async () => undefined,
    resume: async () => undefined,
    snapshot: async () => undefined,
    stop: (opts?: { graceMs?: number }) => gone(`stop(${opts?.graceMs ?? 'default'})`),
    kill: () => gone('kill'),
    openAgentStream: () => openSocket(agentSocket),
    release: () => undefined,
  };
  return handle as unknown as VmHandle & { calls: string[] };
}

describe('agent calls under a lock have deadlines', () => {
  it('LiveVm.stop finishes within its grace time when the agent stops answering, and the VMM is stopped', async () => {
    const agent = await startAgent();
    const handle = fakeVmm(agent.socketPath);
    const vm = LiveVm.adopted(handle);
    await vm.agent(); // connected and answering
    await agent.freeze();
    const graceMs = 4_000;
    const outcome = await Promise.race([
      vm.stop(graceMs).then(() => 'stopped'),
      new Promise((r) => setTimeout(() => r('still waiting on the agent'), graceMs + 20_000)),
    ]);
    expect(outcome).toBe('stopped');
    expect(handle.calls).toHaveLength(1);
    expect(handle.calls[0]).toMatch(/^(stop|kill)/);
  }, 60_000);

  it('publishing the network policy to an agent that does not answer rejects with TimeoutError', async () => {
    const agent = await startAgent();
    const client = await AgentClient.connect(await openSocket(agent.socketPath));
    cleanup.push(() => client.close());
    await agent.freeze();
    const outcome = await Promise.race([
      publishPolicyToGuest(client, parsePolicy({ rules: [] })).then(() => 'answered', (err: unknown) => err),
      new Promise((r) => setTimeout(() => r('still waiting on the agent'), 40_000)),
    ]);
    expect(outcome).toBeInstanceOf(TimeoutError);
  }, 60_000);

  it('giving a fork its identity through an agent that does not answer rejects with TimeoutError', async () => {
    const agent = await startAgent();
    const client = await AgentClient.connect(await openSocket(agent.socketPath));
    cleanup.push(() => client.close());
    await agent.freeze();
    const outcome = await Promise.race([
      applyIdentity(client, { hostname: 'never-applied', machineId: '0'.repeat(32) }, 3_000).then(() => 'answered', (err: unknown) => err),
      new Promise((r) => setTimeout(() => r('still waiting on the agent'), 30_000)),
    ]);
    expect(outcome).toBeInstanceOf(TimeoutError);
  }, 60_000);
});
