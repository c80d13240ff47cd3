/**
 * `sprite-env` (and its alias `hob-env`): the API inside the guest from the
 * command line, with the subcommands of Sprites' `sprite-env`. Installed as
 * /usr/local/bin/sprite-env, a wrapper for
 * `/opt/hob/node /opt/hob/agent/agent.mjs sprite-env ARGS`.
 *
 * It prints what the API answers (JSON, or NDJSON for streams) on stdout.
 * Exit status 0 for a 2xx answer, 1 for an error answer or an unreachable
 * socket (the message on stderr), 2 for a usage error.
 */
import http from 'node:http';
import { parseArgs } from 'node:util';
import { GUEST_API_SOCKET } from './socket.js';

export const SPRITE_ENV_COMMAND = 'sprite-env';

const USAGE = `usage: sprite-env [--socket PATH] COMMAND ...
Talks to this sandbox's API at ${GUEST_API_SOCKET} (hob relays it to hobd; only this sandbox is reachable).

  info                                     this sandbox (JSON)
  checkpoints list [--include-auto]        its checkpoints
  checkpoints get ID
  checkpoints create [--comment TEXT]      take one now (NDJSON progress)
  checkpoints restore ID                   scheduled: hob restores once the answer is out (the sandbox restarts)
  services list | get NAME | delete NAME
  services create NAME --cmd CMD [--args a,b] [--env K=v,...] [--dir DIR] [--needs a,b]
                       [--http-port N] [--duration 5s | --no-stream]
  services start NAME [--duration 5s] | stop NAME | restart NAME [--duration 5s]
  services signal NAME SIGNAL              e.g. TERM, HUP
  services logs NAME [--lines N]
  tasks list | get NAME | delete NAME      keep-awake holds (Sprites' tasks)
  tasks create NAME [--expire 1h]          hold the sandbox awake (at most 1h; refresh to go on)
  tasks refresh NAME [--expire 1h]         create or extend
  curl [-X METHOD] [-d BODY] PATH          any request, e.g. curl /v1/services
`;

class UsageError extends Error {}

interface Call {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  readonly path: string;
  readonly body?: unknown;
}

const enc = encodeURIComponent;

function need(args: readonly string[], index: number, what: string): string {
  const value = args[index];
  if (value === undefined || value.startsWith('-')) throw new UsageError(`missing ${what}`);
  return value;
}

function options(args: readonly string[], spec: Record<string, { type: 'string' | 'boolean'; short?: string }>): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  // `--args "-m,http.server"` as Sprites writes it: a value may start with "-".
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    const long = arg.startsWith('--') ? spec[arg.slice(2)] : undefined;
    const short = /^-[A-Za-z]$/.test(arg) ? Object.entries(spec).find(([, o]) => o.short === arg.slice(1)) : undefined;
    const name = long ? arg.slice(2) : short?.[0];
    if (name !== undefined && spec[name]?.type === 'string' && i + 1 < args.length) {
      joined.push(`--${name}=${args[++i] as string}`);
    } else {
      joined.push(arg);
    }
  }
  try {
    return parseArgs({ args: joined, options: spec, strict: true, allowPositionals: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

const list = (text: string | undefined): string[] | undefined => (text === undefined ? undefined : text.split(',').filter((s) => s !== ''));

function servicesCall(args: readonly string[]): Call {
  const sub = args[0];
  const { values, positionals } = options(args.slice(1), {
    cmd: { type: 'string' }, args: { type: 'string' }, env: { type: 'string' }, dir: { type: 'string' }, needs: { type: 'string' },
    'http-port': { type: 'string' }, duration: { type: 'string' }, 'no-stream': { type: 'boolean' }, lines: { type: 'string' },
  });
  const name = (): string => enc(need(positionals, 0, 'service name'));
  const duration = values['no-stream'] ? '0' : (values.duration as string | undefined);
  const q = duration !== undefined ? `?duration=${enc(duration)}` : '';
  switch (sub) {
    case 'list': return { method: 'GET', path: '/v1/services' };
    case 'get': return { method: 'GET', path: `/v1/services/${name()}` };
    case 'delete': return { method: 'DELETE', path: `/v1/services/${name()}` };
    case 'start': return { method: 'POST', path: `/v1/services/${name()}/start${q}` };
    case 'stop': return { method: 'POST', path: `/v1/services/${name()}/stop` };
    case 'restart': return { method: 'POST', path: `/v1/services/${name()}/restart${q}` };
    case 'logs': return { method: 'GET', path: `/v1/services/${name()}/logs${values.lines !== undefined ? `?lines=${enc(values.lines as string)}` : ''}` };
    case 'signal': return { method: 'POST', path: '/v1/services/signal', body: { name: need(positionals, 0, 'service name'), signal: need(positionals, 1, 'signal') } };
    case 'create': {
      if (typeof values.cmd !== 'string') throw new UsageError('services create needs --cmd');
      const env = list(values.env as string | undefined);
      const port = values['http-port'] === undefined ? undefined : Number(values['http-port']);
      if (port !== undefined && !Number.isInteger(port)) throw new UsageError('--http-port takes a port number');
      return {
        method: 'PUT',
        path: `/v1/services/${name()}${q}`,
        body: {
          cmd: values.cmd,
          args: list(values.args as string | undefined) ?? [],
          ...(env ? { env: Object.fromEntries(env.map((kv) => [kv.slice(0, Math.max(0, kv.indexOf('='))) || kv, kv.includes('=') ? kv.slice(kv.indexOf('=') + 1) : ''])) } : {}),
          ...(values.dir !== undefined ? { dir: values.dir } : {}),
          ...(values.needs !== undefined ? { needs: list(values.needs as string) } : {}),
          ...(port !== undefined ? { http_port: port } : {}),
        },
      };
    }
    default: throw new UsageError(`unknown services command ${JSON.stringify(sub ?? '')}`);
  }
}

function checkpointsCall(args: readonly string[]): Call {
  const sub = args[0];
  const { values, positionals } = options(args.slice(1), { comment: { type: 'string', short: 'm' }, 'include-auto': { type: 'boolean' } });
  switch (sub) {
    case 'list': case 'ls': return { method: 'GET', path: `/v1/checkpoints${values['include-auto'] ? '?include_auto=true' : ''}` };
    case 'get': case 'info': return { method: 'GET', path: `/v1/checkpoints/${enc(need(positionals, 0, 'checkpoint id'))}` };
    case 'create': return { method: 'POST', path: '/v1/checkpoint', body: values.comment !== undefined ? { comment: values.comment } : {} };
    case 'restore': return { method: 'POST', path: `/v1/checkpoints/${enc(need(positionals, 0, 'checkpoint id'))}/restore` };
    default: throw new UsageError(`unknown checkpoints command ${JSON.stringify(sub ?? '')}`);
  }
}

function tasksCall(args: readonly string[]): Call {
  const sub = args[0];
  const { values, positionals } = options(args.slice(1), { expire: { type: 'string' } });
  const expire = (values.expire as string | undefined) ?? '1h';
  switch (sub) {
    case 'list': case 'ls': return { method: 'GET', path: '/v1/tasks' };
    case 'get': return { method: 'GET', path: `/v1/tasks/${enc(need(positionals, 0, 'task name'))}` };
    case 'delete': return { method: 'DELETE', path: `/v1/tasks/${enc(need(positionals, 0, 'task name'))}` };
    case 'create': return { method: 'POST', path: '/v1/tasks', body: { name: need(positionals, 0, 'task name'), expire } };
    case 'refresh': return { method: 'PUT', path: `/v1/tasks/${enc(need(positionals, 0, 'task name'))}`, body: { expire } };
    default: throw new UsageError(`unknown tasks command ${JSON.stringify(sub ?? '')}`);
  }
}

function curlCall(args: readonly string[]): Call {
  const { values, positionals } = options(args, { request: { type: 'string', short: 'X' }, data: { type: 'string', short: 'd' } });
  const method = ((values.request as string | undefined) ?? (values.data !== undefined ? 'POST' : 'GET')).toUpperCase();
  if (method !== 'GET' && method !== 'POST' && method !== 'PUT' && method !== 'DELETE') throw new UsageError(`method ${method}: GET, POST, PUT or DELETE`);
  let path = need(positionals, 0, 'path');
  // `http://sprite/v1/...` as in Sprites' curl examples.
  if (/^https?:\/\//.test(path)) path = new URL(path).pathname + new URL(path).search;
  return { method, path, ...(values.data !== undefined ? { body: values.data } : {}) };
}

function toCall(args: readonly string[]): Call {
  const [command, ...rest] = args;
  switch (command) {
    case 'info': return { method: 'GET', path: '/v1/info' };
    case 'checkpoints': case 'checkpoint': return checkpointsCall(rest);
    case 'services': return servicesCall(rest);
    case 'tasks': return tasksCall(rest);
    case 'curl': return curlCall(rest);
    default: throw new UsageError(`unknown command ${JSON.stringify(command ?? '')}`);
  }
}

function send(socketPath: string, call: Call): Promise<{ status: number; body: string }> {
  const body = call.body === undefined ? undefined : typeof call.body === 'string' ? call.body : JSON.stringify(call.body);
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, method: call.method, path: call.path, headers: { host: 'sprite', ...(body !== undefined ? { 'content-type': 'application/json' } : {}) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function pretty(text: string): string {
  try {
    return `${JSON.stringify(JSON.parse(text), null, 2)}\n`;
  } catch {
    return text.endsWith('\n') || text === '' ? text : `${text}\n`; // NDJSON, or text
  }
}

/** Runs the command with `args` (after the command name); resolves with the exit status. */
export async function runSpriteEnvCli(args: readonly string[]): Promise<number> {
  let socket = process.env.SPRITE_API_SOCKET ?? GUEST_API_SOCKET;
  const rest = [...args];
  while (rest[0] === '--socket') {
    socket = rest[1] ?? socket;
    rest.splice(0, 2);
  }
  if (rest.length === 0 || rest.includes('--help') || rest.includes('-h') || rest[0] === 'help') {
    process.stdout.write(USAGE);
    return rest.length === 0 ? 2 : 0;
  }
  let call: Call;
  try {
    call = toCall(rest);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`sprite-env: ${err.message}\n${USAGE}`);
    return 2;
  }
  let answer;
  try {
    answer = await send(socket, call);
  } catch (err) {
    process.stderr.write(`sprite-env: cannot reach the API at ${socket}: ${(err as Error).message}\n`);
    return 1;
  }
  if (answer.status >= 200 && answer.status < 300) {
    process.stdout.write(pretty(answer.body));
    return 0;
  }
  let message = answer.body.trim();
  try {
    const parsed = JSON.parse(answer.body) as { message?: unknown };
    if (typeof parsed.message === 'string') message = parsed.message;
  } catch {
    // not JSON: said as is
  }
  process.stderr.write(`sprite-env: ${answer.status}: ${message}\n`);
  return 1;
}
