/**
 * Services of a sandbox (processes the guest agent supervises: restarted when
 * they crash, started again at every boot) and their logs:
 *
 *   hob services ls [NAME]
 *   hob services info [NAME] SVC
 *   hob services create [NAME] SVC [--needs A,B] [--http-port N] [-e K=V]... [-w DIR] [-u USER] [--duration 5s] -- CMD ARGS...
 *   hob services start|restart [NAME] SVC [--duration 5s]
 *   hob services stop [NAME] SVC [--timeout 10s]
 *   hob services rm [NAME] SVC
 *   hob services signal [NAME] SVC SIGNAL
 *   hob logs [NAME] SVC [-f] [-n LINES] [-t]
 *
 * NAME may be left out when a `.hob` names the sandbox (the operands are then
 * one fewer). create, start, restart and stop show the service's first output
 * and events (for `--duration`, default 5 s), then its state. `hob logs`
 * prints the service's stdout lines on stdout and its stderr lines on stderr;
 * hob's own lines (started, exit, ...) go to stderr as `[hob] ...`.
 *
 * `--json`: ls/info print the service objects; create/start/restart/stop print
 * the array of stream events; `hob logs` prints the array of events, or with
 * `-f` one event per line as they come (NDJSON).
 */
import type { Command } from 'commander';
import * as z from 'zod';
import { addCommonOptions, clientFor, sandboxName, sandboxPath, wantsJson, type CliContext } from '../context.js';
import { CliError, UsageError } from '../errors.js';
import { formatFields, formatSince, formatTable, printJson, terminalSafe } from '../output.js';
import { collect, parseEnvPairs } from '../units.js';
import type { HobClient, Query } from '../client.js';
import * as wire from '../../wire/services.js';

// ---------------------------------------------------------------- response shapes (wire/services.ts), as read

/** Older hobd versions may leave out what is optional here. */
export const ServiceState = wire.ServiceStateObject.partial({ name: true, restart_count: true, enabled: true });

export const ServiceObject = wire.ServiceObject.extend({ state: ServiceState.optional() }).partial({ env: true, log_file: true });
export type ServiceObject = z.infer<typeof ServiceObject>;

export const ServiceEvent = wire.ServiceLogEvent.extend({ service: ServiceObject.optional() }).partial({ timestamp: true });
export type ServiceEvent = z.infer<typeof ServiceEvent>;

// ---------------------------------------------------------------- formatting

/** A service's command line as one string. */
export function commandLine(s: Pick<ServiceObject, 'cmd' | 'args'>): string {
  return [s.cmd, ...s.args].map((w) => (/^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/** "running (pid 12)", "failed: exited with code 1 (restart in 4s)", "stopped". */
export function describeState(state: ServiceObject['state'], now: Date = new Date()): string {
  if (!state) return '-';
  let text = state.status;
  if (state.pid !== undefined) text += ` (pid ${state.pid})`;
  if (state.status === 'failed' && state.error) text += `: ${state.error}`;
  if (state.next_restart_at) {
    const s = Math.max(0, Math.ceil((Date.parse(state.next_restart_at) - now.getTime()) / 1000));
    text += Number.isNaN(s) ? '' : ` (restart in ${s}s)`;
  }
  return text;
}

export function serviceTable(services: readonly ServiceObject[], now: Date = new Date()): string {
  return formatTable(
    ['SERVICE', 'STATUS', 'PID', 'RESTARTS', 'HTTP', 'NEEDS', 'STARTED', 'COMMAND'],
    services.map((s) => {
      const cmd = commandLine(s);
      return [
        s.name,
        s.state?.status ?? '-',
        s.state?.pid !== undefined ? String(s.state.pid) : '-',
        String(s.state?.restart_count ?? 0),
        s.http_port !== undefined ? String(s.http_port) : '-',
        s.needs.length > 0 ? s.needs.join(',') : '-',
        s.state?.started_at ? formatSince(s.state.started_at, now) : '-',
        cmd.length > 60 ? `${cmd.slice(0, 57)}...` : cmd,
      ];
    }),
  );
}

export function serviceFields(s: ServiceObject, now: Date = new Date()): string {
  return formatFields([
    ['service', s.name],
    ['status', describeState(s.state, now)],
    ['command', commandLine(s)],
    ['needs', s.needs.length > 0 ? s.needs.join(', ') : undefined],
    ['http port', s.http_port !== undefined ? String(s.http_port) : undefined],
    ['directory', s.dir],
    ['user', s.user],
    ['env', s.env && Object.keys(s.env).length > 0 ? Object.entries(s.env).map(([k, v]) => `${k}=${v}`).join(' ') : undefined],
    ['started', s.state?.started_at ? `${s.state.started_at} (${formatSince(s.state.started_at, now)})` : undefined],
    ['restarts', String(s.state?.restart_count ?? 0)],
    ['at boot', s.state?.enabled === false ? 'no (stopped explicitly)' : 'yes'],
    ['log', s.log_file],
  ]);
}

/** The text of one event for people, and where it goes; undefined for `complete`. */
export function eventLine(e: ServiceEvent, timestamps: boolean): { text: string; to: 'stdout' | 'stderr' } | undefined {
  if (e.type === 'complete') return undefined;
  const time = timestamps && e.timestamp !== undefined ? new Date(e.timestamp) : undefined;
  const prefix = time === undefined ? '' : `${Number.isNaN(time.getTime()) ? '-' : time.toISOString()} `;
  if (e.type === 'stdout' || e.type === 'stderr') {
    const data = e.data ?? '';
    return { text: `${prefix}${data.endsWith('\n') ? data : `${data}\n`}`, to: e.type };
  }
  // hob's own lines (supervisor events, errors) carry guest text: terminal-safe. The service's output above is printed as it is, like exec output.
  return { text: `${prefix}[hob] ${terminalSafe(e.type)}${e.data ? `: ${terminalSafe(e.data)}` : ''}\n`, to: 'stderr' };
}

// ---------------------------------------------------------------- operands

/** `[NAME] SVC ...rest`: splits operands when the sandbox may come from .hob (`count` operands after NAME). */
export function splitOperands(operands: readonly string[], count: number): { name: string | undefined; rest: string[] } {
  if (operands.length === count) return { name: undefined, rest: [...operands] };
  if (operands.length === count + 1) return { name: operands[0], rest: operands.slice(1) };
  throw new UsageError(`expected ${count === 1 ? 'SERVICE' : 'SERVICE and one more operand'}, with the sandbox before them unless a .hob names it`);
}

/** Operands of `create`: the words before `--` are [NAME] SVC, those after it the command. */
export function splitCreateOperands(operands: readonly string[], raw: readonly string[]): { name: string | undefined; svc: string; argv: string[] } {
  const dash = raw.indexOf('--');
  const after = dash < 0 ? 0 : raw.length - dash - 1;
  const before = operands.slice(0, operands.length - after);
  const argv = operands.slice(operands.length - after);
  if (before.length < 1 || before.length > 2) throw new UsageError('usage: hob services create [NAME] SERVICE [options] -- CMD ARGS...');
  const { name, rest } = splitOperands(before, 1);
  return { name, svc: checkServiceName(rest[0] as string), argv };
}

export function checkServiceName(name: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(name)) throw new UsageError(`"${name}" is not a service name (letters, digits, ".", "_", "-"; at most 63)`);
  return name;
}

const servicePath = (name: string, svc: string, rest = ''): string => sandboxPath(name, `/services/${encodeURIComponent(svc)}${rest}`);

// ---------------------------------------------------------------- streams

/**
 * Reads a service event stream: prints it for people (or collects it for
 * --json), fails with CliError on an `error` line that is not the service's
 * own (`error` events also report a start failure, which is printed), and
 * returns the service from `complete`.
 */
async function runStream(client: HobClient, method: string, path: string, options: { query?: Query; json?: unknown }, ctx: CliContext, json: boolean): Promise<ServiceObject | undefined> {
  const { io } = ctx;
  const events: unknown[] = [];
  let service: ServiceObject | undefined;
  for await (const value of client.ndjson(method, path, options)) {
    events.push(value);
    const event = ServiceEvent.safeParse(value);
    if (!event.success) continue;
    if (event.data.type === 'complete') service = event.data.service;
    if (json) continue;
    const line = eventLine(event.data, false);
    if (line) io[line.to].write(line.text);
  }
  if (json) printJson(io.stdout, events);
  const last = ServiceEvent.safeParse(events[events.length - 1]);
  if (last.success && last.data.type === 'error') throw new CliError(last.data.data ?? 'the operation failed');
  return service;
}

function printOutcome(ctx: CliContext, service: ServiceObject | undefined, json: boolean): void {
  if (json || !service) return;
  ctx.io.stderr.write(`${terminalSafe(service.name)}: ${terminalSafe(describeState(service.state))}\n`);
}

// ---------------------------------------------------------------- commands

interface CreateOptions {
  readonly needs?: string;
  readonly httpPort?: string;
  readonly env?: readonly string[];
  readonly workdir?: string;
  readonly user?: string;
  readonly duration?: string;
}

export function registerServiceCommands(program: Command, ctx: CliContext): void {
  const { io } = ctx;
  const services = program.command('services').alias('service').description('supervised processes in a sandbox: restarted on crash, started at boot');

  addCommonOptions(services.command('ls').alias('list').description('list the services of a sandbox').argument('[name]', 'sandbox (default: from .hob)')).action(
    async (given: string | undefined, _o: unknown, cmd: Command) => {
      const name = await sandboxName(given, ctx);
      const list = await clientFor(cmd, ctx).json('GET', sandboxPath(name, '/services'), z.array(ServiceObject));
      if (wantsJson(cmd)) return printJson(io.stdout, list);
      if (list.length === 0) {
        io.stderr.write(`no services in ${name}; create one with: hob services create ${name} SERVICE -- CMD ARGS...\n`);
        return;
      }
      io.stdout.write(serviceTable(list));
    },
  );

  addCommonOptions(services.command('info').alias('get').description('show one service').argument('<operands...>', '[NAME] SERVICE')).action(
    async (operands: string[], _o: unknown, cmd: Command) => {
      const split = splitOperands(operands, 1);
      const name = await sandboxName(split.name, ctx);
      const svc = checkServiceName(split.rest[0] as string);
      const service = await clientFor(cmd, ctx).json('GET', servicePath(name, svc), ServiceObject);
      if (wantsJson(cmd)) return printJson(io.stdout, service);
      io.stdout.write(serviceFields(service));
    },
  );

  addCommonOptions(
    services
      .command('create')
      .description('create (or replace) a service and start it: hob services create NAME SERVICE -- CMD ARGS...')
      .argument('<operands...>', '[NAME] SERVICE -- CMD ARGS...')
      .option('--needs <services>', 'comma-separated services started before this one')
      .option('--http-port <port>', 'the port the sandbox URL routes to (one service at most)')
      .option('-e, --env <KEY=VALUE>', 'environment variable (repeatable)', collect)
      .option('-w, --workdir <dir>', 'working directory (absolute)')
      .option('-u, --user <user>', 'run as this user (default root)')
      .option('--duration <duration>', 'how long to show its first output', '5s'),
  ).action(async (operands: string[], o: CreateOptions, cmd: Command) => {
    const raw = (cmd.parent?.args ?? []).slice(1);
    const split = splitCreateOperands(operands, raw);
    if (split.argv.length === 0) throw new UsageError('no command given: hob services create [NAME] SERVICE -- CMD ARGS...');
    const name = await sandboxName(split.name, ctx);
    let httpPort: number | undefined;
    if (o.httpPort !== undefined) {
      httpPort = Number(o.httpPort);
      if (!/^\d{1,5}$/.test(o.httpPort) || httpPort < 1 || httpPort > 65535) throw new UsageError(`--http-port must be a port number (got "${o.httpPort}")`);
    }
    const needs = o.needs === undefined ? [] : o.needs.split(',').map((s) => s.trim()).filter(Boolean).map(checkServiceName);
    const body = {
      cmd: split.argv[0],
      args: split.argv.slice(1),
      needs,
      env: parseEnvPairs(o.env ?? [], '-e'),
      ...(o.workdir !== undefined ? { dir: o.workdir } : {}),
      ...(o.user !== undefined ? { user: o.user } : {}),
      ...(httpPort !== undefined ? { http_port: httpPort } : {}),
    };
    const json = wantsJson(cmd);
    const service = await runStream(clientFor(cmd, ctx), 'PUT', servicePath(name, split.svc), { json: body, query: { duration: o.duration } }, ctx, json);
    printOutcome(ctx, service, json);
  });

  for (const verb of ['start', 'restart'] as const) {
    addCommonOptions(
      services
        .command(verb)
        .description(verb === 'start' ? 'start a service (and what it needs); it starts at boot again' : 'stop a service, then start it')
        .argument('<operands...>', '[NAME] SERVICE')
        .option('--duration <duration>', 'how long to show its first output', '5s'),
    ).action(async (operands: string[], o: { duration: string }, cmd: Command) => {
      const split = splitOperands(operands, 1);
      const name = await sandboxName(split.name, ctx);
      const svc = checkServiceName(split.rest[0] as string);
      const json = wantsJson(cmd);
      const service = await runStream(clientFor(cmd, ctx), 'POST', servicePath(name, svc, `/${verb}`), { query: { duration: o.duration } }, ctx, json);
      printOutcome(ctx, service, json);
    });
  }

  addCommonOptions(
    services
      .command('stop')
      .description('stop a service (SIGTERM, then SIGKILL after the timeout); it stays stopped, also after a reboot')
      .argument('<operands...>', '[NAME] SERVICE')
      .option('--timeout <duration>', 'time between SIGTERM and SIGKILL', '10s'),
  ).action(async (operands: string[], o: { timeout: string }, cmd: Command) => {
    const split = splitOperands(operands, 1);
    const name = await sandboxName(split.name, ctx);
    const svc = checkServiceName(split.rest[0] as string);
    const json = wantsJson(cmd);
    const service = await runStream(clientFor(cmd, ctx), 'POST', servicePath(name, svc, '/stop'), { query: { timeout: o.timeout } }, ctx, json);
    printOutcome(ctx, service, json);
  });

  addCommonOptions(services.command('rm').alias('delete').description('stop and delete a service (its log file stays)').argument('<operands...>', '[NAME] SERVICE')).action(
    async (operands: string[], _o: unknown, cmd: Command) => {
      const split = splitOperands(operands, 1);
      const name = await sandboxName(split.name, ctx);
      const svc = checkServiceName(split.rest[0] as string);
      await clientFor(cmd, ctx).empty('DELETE', servicePath(name, svc));
      if (wantsJson(cmd)) printJson(io.stdout, { deleted: svc });
    },
  );

  addCommonOptions(
    services.command('signal').alias('kill').description('send a signal (TERM, HUP, USR1, KILL, ...) to a service\'s process group').argument('<operands...>', '[NAME] SERVICE SIGNAL'),
  ).action(async (operands: string[], _o: unknown, cmd: Command) => {
    const split = splitOperands(operands, 2);
    const name = await sandboxName(split.name, ctx);
    const svc = checkServiceName(split.rest[0] as string);
    const signal = split.rest[1] as string;
    await clientFor(cmd, ctx).empty('POST', sandboxPath(name, '/services/signal'), { json: { name: svc, signal } });
    if (wantsJson(cmd)) printJson(io.stdout, { name: svc, signal });
  });

  addCommonOptions(
    program
      .command('logs')
      .description('show the log of a service (-f to follow it)')
      .argument('<operands...>', '[NAME] SERVICE')
      .option('-f, --follow', 'keep printing new lines until interrupted')
      .option('-n, --lines <count>', 'how many of the last lines to show (at most 1000)', '100')
      .option('-t, --timestamps', 'prefix each line with its time'),
  ).action(async (operands: string[], o: { follow?: boolean; lines: string; timestamps?: boolean }, cmd: Command) => {
    const split = splitOperands(operands, 1);
    const name = await sandboxName(split.name, ctx);
    const svc = checkServiceName(split.rest[0] as string);
    if (!/^\d{1,5}$/.test(o.lines)) throw new UsageError(`-n must be a number of lines (got "${o.lines}")`);
    const json = wantsJson(cmd);
    const events: unknown[] = [];
    const query: Query = { lines: o.lines, follow: o.follow ? true : undefined };
    for await (const value of clientFor(cmd, ctx).ndjson('GET', servicePath(name, svc, '/logs'), { query })) {
      if (json) {
        if (o.follow) io.stdout.write(`${JSON.stringify(value)}\n`);
        else events.push(value);
        continue;
      }
      const event = ServiceEvent.safeParse(value);
      if (!event.success) continue;
      const line = eventLine(event.data, o.timestamps === true);
      if (line) io[line.to].write(line.text);
    }
    if (json && !o.follow) printJson(io.stdout, events);
  });
}
