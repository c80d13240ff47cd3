/**
 * What every command line needs before its command is known: the process's
 * streams and environment (`CliIo`, replaceable in tests), the run's exit
 * code, and the common options. Kept apart from context.ts, which loads the
 * client and zod, so that `hob --version` and `hob --help` load neither.
 */
import type { Readable, Writable } from 'node:stream';
import type { Command } from 'commander';

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
    // A getter: node makes process.stdin (a socket or terminal stream) on first use, and most commands never read it.
    get stdin() {
      return process.stdin;
    },
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
