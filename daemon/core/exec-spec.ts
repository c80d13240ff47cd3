/**
 * What to run for an exec request: argv, environment, working directory, TTY,
 * stdin — derived from the websocket query or the HTTP exec body.
 */
import { envPairsToRecord, type ExecQuery, type HttpExecBody } from '../wire/exec.js';

export interface ExecSpec {
  /** argv[0] is looked up in the guest's PATH when it has no slash. */
  readonly argv: readonly string[];
  /** Replaces the guest's default environment when set. */
  readonly env: Readonly<Record<string, string>> | undefined;
  readonly cwd: string | undefined;
  readonly tty: { readonly rows: number; readonly cols: number } | undefined;
  /** Whether the process gets a stdin pipe (otherwise /dev/null). A TTY always has one. */
  readonly stdin: boolean;
  /** User name or uid; undefined: the image's default user (docs/architecture.md §5). */
  readonly user: string | undefined;
}

/**
 * The guest environment hob fills in when a client's env replaces the default
 * one (so PATH lookups still work). No HOME: the guest agent keeps the HOME,
 * USER and LOGNAME of whoever the command runs as (docs/architecture.md §5).
 */
export const BASE_ENV: Readonly<Record<string, string>> = {
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  LANG: 'C.UTF-8',
};

/**
 * The environment of an exec: undefined (the guest agent's default) when
 * neither the client nor the sandbox sets any variable; otherwise the
 * client's variables over the sandbox's environment over BASE_ENV, and TERM
 * for a TTY. Sprites replaces the environment outright when `env` is given;
 * hob keeps the basics so that `env=FOO=1` does not also lose PATH.
 */
export function execEnv(
  clientEnv: Readonly<Record<string, string>> | undefined,
  sandboxEnv: Readonly<Record<string, string>>,
  tty: boolean,
): Record<string, string> | undefined {
  const client = clientEnv ?? {};
  if (Object.keys(client).length === 0 && Object.keys(sandboxEnv).length === 0) return undefined;
  return { ...BASE_ENV, ...(tty ? { TERM: 'xterm-256color' } : {}), ...sandboxEnv, ...client };
}

/**
 * argv of a websocket exec: `path` replaces argv[0] when given (Sprites: "the
 * executable; defaults to the first cmd"); with neither, a login bash for a
 * TTY and plain bash otherwise.
 */
export function argvFromQuery(cmd: readonly string[], path: string | undefined, tty: boolean): string[] {
  if (cmd.length === 0) return path !== undefined ? [path] : tty ? ['bash', '-l'] : ['bash'];
  return path !== undefined ? [path, ...cmd.slice(1)] : [...cmd];
}

export function specFromQuery(query: ExecQuery, sandboxEnv: Readonly<Record<string, string>>): ExecSpec {
  const tty = query.tty;
  return {
    argv: argvFromQuery(query.cmd, query.path, tty),
    env: execEnv(query.env.length > 0 ? envPairsToRecord(query.env) : undefined, sandboxEnv, tty),
    cwd: query.dir,
    tty: tty ? { rows: query.rows, cols: query.cols } : undefined,
    stdin: tty ? true : (query.stdin ?? false),
    user: query.user,
  };
}

/** A command line string runs under `sh -c`; an array is the argv itself. */
export function specFromHttpBody(body: HttpExecBody, sandboxEnv: Readonly<Record<string, string>>, user?: string): ExecSpec {
  return {
    argv: typeof body.command === 'string' ? ['/bin/sh', '-c', body.command] : body.command,
    env: execEnv(body.env, sandboxEnv, false),
    cwd: body.dir,
    tty: undefined,
    stdin: body.stdin !== undefined,
    user,
  };
}
