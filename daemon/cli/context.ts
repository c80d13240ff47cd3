/**
 * What every command works with: the process's streams and environment
 * (`CliIo`, replaceable in tests), the common options (`--json` and the
 * connection flags, accepted before the command and after it), and the
 * default sandbox from `.hob`.
 */
import type { Readable, Writable } from 'node:stream';
import type { Command } from 'commander';
import { HobClient, resolveTarget } from './client.js';
import { findDefaultSandbox } from './dotfile.js';
import { UsageError } from './errors.js';
import { checkSandboxName } from './units.js';

/** Standard input as the CLI needs it: a terminal has isTTY and setRawMode. */
export type CliInput = Readable & { isTTY?: boolean; setRawMode?(mode: boolean): unknown };
/** Standard output/error: a terminal has isTTY, columns, rows and emits `resize`. */
export type CliOutput = Writable & { isTTY?: boolean; columns?: number; rows?: number };

export interface CliIo {
  readonly stdin: CliInput;
  readonly stdout: CliOutput;
  readonly stderr: CliOutput;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Where `.hob` lookup starts and relative local paths are resolved. */
  readonly cwd: string;
  /** Subscribes to process signals; returns the unsubscribe function. */
  onSignal(signals: readonly NodeJS.Signals[], handler: (signal: NodeJS.Signals) => void): () => void;
}

/** The real process. */
export function processIo(): CliIo {
  return {
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
    onSignal(signals, handler) {
      for (const s of signals) process.on(s, handler);
      return () => {
        for (const s of signals) process.off(s, handler);
      };
    },
  };
}

export interface CliContext {
  readonly io: CliIo;
  /** The exit code of the run; commands that pass a remote exit code through set it. */
  exitCode: number;
}

/** Options every command accepts. */
export interface CommonOptions {
  readonly json?: boolean;
  readonly socket?: string;
  readonly url?: string;
  readonly token?: string;
}

/** Adds the connection flags (and `--json` unless `json: false`) to a command. */
export function addCommonOptions(cmd: Command, opts: { json?: boolean } = {}): Command {
  if (opts.json !== false) cmd.option('--json', 'print machine-readable JSON on stdout');
  return cmd
    .option('--socket <path>', 'unix socket of hobd (env HOB_SOCKET, default /run/hob/hob.sock)')
    .option('--url <url>', 'talk to hobd over TCP instead, e.g. http://127.0.0.1:7707 (env HOB_URL)')
    .option('--token <token>', 'API token for --url (env HOB_TOKEN)');
}

/** The common options as given before or after the command (after wins). */
export function commonOptions(cmd: Command): CommonOptions {
  // Commander's optsWithGlobals lets the outer command win; here the option nearest the command wins.
  const chain: Command[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) chain.unshift(c);
  const merged: Record<string, unknown> = {};
  for (const c of chain) {
    for (const [key, value] of Object.entries(c.opts())) if (value !== undefined) merged[key] = value;
  }
  return merged as CommonOptions;
}

export function clientFor(cmd: Command, ctx: CliContext): HobClient {
  const o = commonOptions(cmd);
  return new HobClient(resolveTarget({ socket: o.socket, url: o.url, token: o.token }, ctx.io.env));
}

export function wantsJson(cmd: Command): boolean {
  return commonOptions(cmd).json === true;
}

/**
 * The sandbox a command is about: the NAME argument when given, else the
 * nearest `.hob`. @throws UsageError when neither names one, or the name is invalid.
 */
export async function sandboxName(given: string | undefined, ctx: CliContext): Promise<string> {
  if (given !== undefined) return checkSandboxName(given);
  const found = await findDefaultSandbox(ctx.io.cwd);
  if (!found) throw new UsageError('no sandbox given: name one, or run `hob use NAME` to set a default for this directory');
  return found.name;
}

/** The API path of a sandbox (hob's own mount of the Sprites routes). */
export function sandboxPath(name: string, rest = ''): string {
  return `/v1/sandboxes/${encodeURIComponent(name)}${rest}`;
}
