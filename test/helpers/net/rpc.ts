/**
 * A tiny JSON-lines RPC between a test and a helper process it runs inside a network
 * namespace (`ip netns exec NS node --import tsx script.ts`): the only way to act inside a
 * namespace from Node, which cannot switch namespaces itself. The script calls `serve`;
 * the test calls `startRpc` and then `call`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { resolve } from 'node:path';

const REPO = resolve(import.meta.dirname, '../../..');

type Handler = (args: never) => unknown;

/** Helper side: answers requests read from stdin; prints a ready line first. */
export function serve(handlers: Record<string, Handler>): void {
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    let req: { id: number; op: string; args?: unknown };
    try {
      req = JSON.parse(line) as typeof req;
    } catch {
      return;
    }
    const h = handlers[req.op];
    Promise.resolve()
      .then(() => {
        if (!h) throw new Error(`unknown op ${req.op}`);
        return (h as (a: unknown) => unknown)(req.args);
      })
      .then(
        (result) => process.stdout.write(`${JSON.stringify({ id: req.id, ok: true, result: result ?? null })}\n`),
        (err: unknown) =>
          process.stdout.write(`${JSON.stringify({ id: req.id, ok: false, error: String((err as Error)?.message ?? err), name: (err as Error)?.name })}\n`),
      );
  });
  rl.on('close', () => process.exit(0));
  process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
}

export interface RpcProcess {
  readonly pid: number;
  /** Calls an op; rejects with the helper's error message. */
  call<T>(op: string, args?: unknown): Promise<T>;
  /** The helper's stderr so far. */
  stderr(): string;
  /** SIGKILL (or the given signal) and wait for the exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * Starts `script` (path relative to the repo) under tsx, inside `netns` when given.
 * `mountNs: 'shared'` enters the namespace with `nsenter --net` instead of `ip netns exec`:
 * the latter gives the process a private mount namespace, in which the netns names it
 * creates (bind mounts under /run/netns) stay invisible to every other process.
 */
export async function startRpc(
  netns: string | undefined,
  script: string,
  args: readonly string[] = [],
  opts: { mountNs?: 'private' | 'shared' } = {},
): Promise<RpcProcess> {
  const argv = [process.execPath, '--import', 'tsx', resolve(REPO, script), ...args];
  const enter = opts.mountNs === 'shared' ? ['nsenter', `--net=/run/netns/${netns}`, '--'] : ['ip', 'netns', 'exec', `${netns}`];
  const full = netns ? [...enter, ...argv] : argv;
  const child: ChildProcess = spawn(full[0]!, full.slice(1), { cwd: REPO, stdio: ['pipe', 'pipe', 'pipe'] });
  let err = '';
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  const ready = new Promise<void>((resolveReady, rejectReady) => {
    const rl = createInterface({ input: child.stdout! });
    rl.on('line', (line) => {
      let msg: { ready?: boolean; id?: number; ok?: boolean; result?: unknown; error?: string };
      try {
        msg = JSON.parse(line) as typeof msg;
      } catch {
        return;
      }
      if (msg.ready) return resolveReady();
      const p = msg.id === undefined ? undefined : pending.get(msg.id);
      if (!p || msg.id === undefined) return;
      pending.delete(msg.id);
      if (msg.ok) p.resolve(msg.result);
      else p.reject(new Error(msg.error));
    });
    void exited.then(() => {
      rejectReady(new Error(`${script} exited before it was ready: ${err}`));
      for (const p of pending.values()) p.reject(new Error(`${script} exited: ${err}`));
      pending.clear();
    });
  });
  try {
    await ready;
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  }
  return {
    pid: child.pid ?? -1,
    call: <T>(op: string, a?: unknown) =>
      new Promise<T>((res, rej) => {
        if (child.exitCode !== null || child.signalCode !== null) return rej(new Error(`${script} has exited: ${err}`));
        const id = nextId++;
        pending.set(id, { resolve: res as (v: unknown) => void, reject: rej });
        child.stdin!.write(`${JSON.stringify({ id, op, args: a })}\n`);
      }),
    stderr: () => err,
    kill: async (signal: NodeJS.Signals = 'SIGKILL') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}
