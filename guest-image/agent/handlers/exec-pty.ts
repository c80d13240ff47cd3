/**
 * exec under a pseudo-terminal (node-pty). The PTY merges stdout and stderr, so
 * everything arrives on Stdout and Stderr gets its EOF at once. Stdin is always
 * open; its EOF is passed on as the terminal's EOF character (^D).
 */
import { finished } from 'node:stream/promises';
import { StreamId, type Channel } from '../../../daemon/protocol/index.js';
import type { PreparedExec } from '../command.js';
import { OpError } from '../errors.js';
import { forwardSignals, hangUpGroup, signalName } from './process-group.js';

type NodePty = typeof import('node-pty');
let ptyModule: Promise<NodePty | null> | undefined;

/**
 * node-pty is a native module shipped next to the bundled agent; it is loaded on
 * first use so that an agent whose node-pty is broken still serves everything else.
 */
export function loadPty(): Promise<NodePty | null> {
  // In the guest the agent is a CommonJS bundle run through vm.Script (bundle-agent.mjs), where
  // import() has no loader: node-pty, left outside the bundle, is require()d. From source (tests
  // on the host, an ES module) there is no require, and it is imported.
  ptyModule ??= (typeof require === 'function' ? Promise.resolve().then(() => require('node-pty') as NodePty) : import('node-pty')).then(
    (mod: NodePty & { default?: NodePty }) => (typeof mod.spawn === 'function' ? mod : (mod.default ?? null)),
    () => null,
  );
  return ptyModule;
}

export async function execPty(cmd: PreparedExec, size: { rows: number; cols: number }, channel: Channel): Promise<void> {
  const pty = await loadPty();
  if (!pty) throw new OpError('ENOTSUP', 'PTY support (node-pty) is not available in this guest');
  const term = pty.spawn(cmd.file, cmd.args, {
    name: cmd.env.TERM ?? 'xterm-256color',
    cols: size.cols,
    rows: size.rows,
    cwd: cmd.cwd,
    env: cmd.env,
    encoding: null,
  });
  const pid = term.pid;
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    term.onExit(({ exitCode, signal }) => resolve(signal ? { code: null, signal: signalName(signal) } : { code: exitCode, signal: null })),
  );
  let exitSent = false;
  channel.once('close', () => {
    if (!exitSent) hangUpGroup(pid);
  });
  if (channel.isClosed) {
    // The host gave up while the process was being started.
    hangUpGroup(pid);
    return;
  }
  forwardSignals(channel, pid);
  channel.on('control', (message) => {
    if (message.type === 'resize') {
      try {
        term.resize(message.cols, message.rows);
      } catch {
        // the terminal is already gone
      }
    }
  });
  channel.send({ type: 'ready', value: { pid } });

  const out = channel.writable(StreamId.Stdout);
  out.on('error', () => undefined);
  channel.writable(StreamId.Stderr).end();
  // With encoding null node-pty delivers Buffers (its typings say string).
  term.onData((data: string | Buffer) => {
    if (out.destroyed) return;
    if (!out.write(data)) {
      term.pause();
      out.once('drain', () => term.resume());
    }
  });
  const input = channel.readable(StreamId.Stdin);
  input.on('data', (chunk: Buffer) => {
    try {
      term.write(chunk);
    } catch {
      // the terminal is already gone
    }
  });
  input.on('end', () => {
    if (channel.receivedEof(StreamId.Stdin) && !exitSent) {
      try {
        term.write('\x04');
      } catch {
        // the terminal is already gone
      }
    }
  });

  const status = await exited;
  out.end();
  await finished(out);
  if (channel.isClosed) return;
  channel.send({ type: 'exit', code: status.code, signal: status.signal });
  exitSent = true;
  channel.close();
}
