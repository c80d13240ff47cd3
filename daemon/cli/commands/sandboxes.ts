/**
 * Sandbox lifecycle: `hob create | ls | info | rm | start | stop`.
 */
import type { Command } from 'commander';
import { parseResponse, type HobClient } from '../client.js';
import { addCommonOptions, clientFor, sandboxName, sandboxPath, wantsJson, type CliContext } from '../context.js';
import { CliError, ExitCode, UsageError, describeFailure, formatFailureLine } from '../errors.js';
import { progressFor, runWithProgress } from '../operation.js';
import { formatBytes, formatFields, formatSince, formatTable, printJson } from '../output.js';
import { SandboxList, SandboxObject } from '../sandbox-schemas.js';
import { autoCheckpointText, idleText, keepAwakeText } from '../settings-text.js';
import type { BootTimelineObject } from '../../wire/boot-timeline.js';
import { checkImageName, checkSandboxName, collect, parseDiskGiB, parseEnvPairs, parseMemoryMiB, parsePositiveInt } from '../units.js';

export interface CreateOptions {
  readonly image?: string;
  /** `SRC:vN`: create from checkpoint vN of sandbox SRC instead of an image. */
  readonly from?: string;
  readonly cpus?: string;
  readonly memory?: string;
  readonly disk?: string;
  readonly label?: readonly string[];
  readonly env?: readonly string[];
  /** `NAME[=VAR]`: secrets to grant (docs/architecture.md §11). */
  readonly secret?: readonly string[];
  readonly public?: boolean;
  readonly cold?: boolean;
}

/** The API body of `hob create` (Sprites' create body plus hob's `image` and `from`). @throws UsageError for bad values. */
export async function createBody(name: string, o: CreateOptions): Promise<Record<string, unknown>> {
  const config: Record<string, number> = {};
  if (o.cpus !== undefined) config.cpus = parsePositiveInt(o.cpus, '--cpus');
  if (o.memory !== undefined) config.ram_mb = parseMemoryMiB(o.memory);
  if (o.disk !== undefined) config.storage_gb = parseDiskGiB(o.disk);
  const body: Record<string, unknown> = { name: checkSandboxName(name) };
  if (o.image !== undefined && o.from !== undefined) throw new UsageError('give --image or --from, not both');
  if (o.image !== undefined) body.image = checkImageName(o.image);
  // Loaded only here: checkpoint references pull in the checkpoint wire schemas (docs/architecture.md §23).
  if (o.from !== undefined) body.from = (await import('../checkpoint-refs.js')).checkCheckpointSource(o.from);
  if (Object.keys(config).length > 0) body.config = config;
  if (o.label !== undefined && o.label.length > 0) body.labels = [...o.label];
  if (o.env !== undefined && o.env.length > 0) body.environment = parseEnvPairs(o.env, '--env');
  if (o.secret !== undefined && o.secret.length > 0) {
    body.secrets = o.secret.map((s) => {
      const m = /^([A-Za-z][A-Za-z0-9_-]{0,63})(?:=([A-Za-z_][A-Za-z0-9_]{0,127}))?$/.exec(s);
      if (!m) throw new UsageError(`--secret ${s}: expected NAME or NAME=VAR (a secret name, a variable name)`);
      return m[2] !== undefined ? { secret: m[1], env: m[2] } : { secret: m[1] };
    });
  }
  if (o.public) body.url_settings = { auth: 'public' };
  if (o.cold) body.cold = true;
  return body;
}

/** Every sandbox, following the API's pages. */
export async function listAll(client: HobClient): Promise<SandboxObject[]> {
  const all: SandboxObject[] = [];
  let token: string | undefined;
  for (let page = 0; page < 10_000; page++) {
    const res = await client.json('GET', '/v1/sandboxes', SandboxList, { query: { max_results: 50, continuation_token: token } });
    all.push(...res.sprites);
    if (!res.has_more || !res.next_continuation_token) break;
    token = res.next_continuation_token;
  }
  return all;
}

/** The `hob ls` table. */
export function sandboxTable(sandboxes: readonly SandboxObject[], now: Date = new Date()): string {
  return formatTable(
    ['NAME', 'STATE', 'SINCE', 'CPUS', 'MEMORY', 'DISK', 'IMAGE'],
    sandboxes.map((s) => [s.name, s.state, formatSince(s.state_since, now), String(s.cpus), formatBytes(s.memory_mib * 1024 ** 2), formatBytes(s.disk_bytes), s.image]),
  );
}

/** The `hob info` block. */
export function sandboxFields(s: SandboxObject, now: Date = new Date()): string {
  const env = Object.entries(s.environment);
  return formatFields([
    ['name', s.name],
    ['state', `${s.state} (since ${formatSince(s.state_since, now)})`],
    ['url', `${s.url} (${s.url_settings.auth === 'public' ? 'public' : 'private'})`],
    ['image', s.image],
    ['cpus', String(s.cpus)],
    ['memory', formatBytes(s.memory_mib * 1024 ** 2)],
    ['disk', formatBytes(s.disk_bytes)],
    ['vmm', s.vmm],
    ['created', s.created_at],
    ['labels', s.labels.length > 0 ? s.labels.join(', ') : undefined],
    ['environment', env.length > 0 ? env.map(([k, v]) => `${k}=${v}`).join(' ') : undefined],
    ['idle', s.idle === undefined ? undefined : idleText(s.idle)],
    ['keep awake', keepAwakeText(s.keep_awake_until, now)],
    ['checkpoints', s.auto_checkpoint === undefined ? undefined : `automatic ${autoCheckpointText(s.auto_checkpoint)}`],
    ['forked from', s.forked_from ? `${s.forked_from.sandbox} ${s.forked_from.checkpoint ?? '(its state at the time)'}` : undefined],
    ['last boot', s.boot_timeline === undefined ? undefined : bootTimelineText(s.boot_timeline)],
    ['last error', s.last_error ?? undefined],
  ]);
}

/** `hob info`'s "last boot": when each step began, in seconds after the VMM started. */
export function bootTimelineText(t: BootTimelineObject): string {
  const steps = t.phases.filter((p) => p.name !== 'vmm-start').map((p) => `${p.name} ${(p.ms / 1000).toFixed(2)}`);
  return `${(t.total_ms / 1000).toFixed(2)} s to the agent (${t.vmm}); steps at s: ${steps.join(', ')}`;
}

const LIVE_STATES = new Set(['running', 'paused', 'creating']);

export function registerSandboxCommands(program: Command, ctx: CliContext): void {
  const out = ctx.io.stdout;

  addCommonOptions(
    program
      .command('create')
      .description('create a sandbox and boot it')
      .argument('<name>', 'sandbox name (a-z, 0-9, "-")')
      .option('--image <image>', 'image to create it from (default: hobd\'s default, usually dev)')
      .option('--from <SRC:vN>', 'create it from checkpoint vN of sandbox SRC instead of an image')
      .option('--cpus <n>', 'virtual CPUs')
      .option('--memory <size>', 'memory, e.g. 2G or 512M')
      .option('--disk <size>', 'disk size in whole GiB, e.g. 100G (sparse: costs only what is written)')
      .option('--label <label>', 'a label (repeatable)', collect)
      .option('--env <KEY=VALUE>', 'an environment variable of every command run in it (repeatable)', collect)
      .option('--secret <NAME[=VAR]>', 'grant a secret (see hob secrets): $VAR holds a placeholder (repeatable; a fork inherits none but these)', collect)
      .option('--public', 'make its URL reachable without a token')
      .option('--cold', 'boot it even when a warm template of its image could start it at once'),
  ).action(async (name: string, o: CreateOptions, cmd: Command) => {
    const body = await createBody(name, o);
    const client = clientFor(cmd, ctx);
    const value = await runWithProgress(client, 'POST', '/v1/sandboxes', { json: body }, progressFor(cmd, ctx));
    const sandbox = parseResponse(SandboxObject, value, 'create');
    if (wantsJson(cmd)) return printJson(out, sandbox);
    out.write(`created ${sandbox.name}: ${sandbox.state}, ${sandbox.cpus} CPU${sandbox.cpus === 1 ? '' : 's'}, ${formatBytes(sandbox.memory_mib * 1024 ** 2)} memory, ${formatBytes(sandbox.disk_bytes)} disk, ${o.from !== undefined ? `from ${o.from}` : `image ${sandbox.image}`}\n`);
    out.write(`open a shell with: hob console ${sandbox.name}\n`);
  });

  addCommonOptions(program.command('ls').alias('list').description('list sandboxes')).action(async (_o: unknown, cmd: Command) => {
    const sandboxes = await listAll(clientFor(cmd, ctx));
    if (wantsJson(cmd)) return printJson(out, sandboxes);
    out.write(sandboxTable(sandboxes));
  });

  addCommonOptions(program.command('info').description('show a sandbox').argument('[name]', 'sandbox (default: from .hob)')).action(
    async (given: string | undefined, _o: unknown, cmd: Command) => {
      const name = await sandboxName(given, ctx);
      const sandbox = await clientFor(cmd, ctx).json('GET', sandboxPath(name), SandboxObject);
      if (wantsJson(cmd)) return printJson(out, sandbox);
      out.write(sandboxFields(sandbox));
    },
  );

  addCommonOptions(
    program
      .command('rm')
      .alias('remove')
      .description('delete sandboxes with their disks and checkpoints')
      .argument('<names...>', 'sandboxes to delete')
      .option('-f, --force', 'also delete running sandboxes (they are stopped first)'),
  ).action(async (names: string[], o: { force?: boolean }, cmd: Command) => {
    const checked = names.map(checkSandboxName);
    const client = clientFor(cmd, ctx);
    const removed: string[] = [];
    const failed: Array<{ name: string; message: string }> = [];
    for (const name of checked) {
      try {
        if (!o.force) {
          const sandbox = await client.json('GET', sandboxPath(name), SandboxObject);
          if (LIVE_STATES.has(sandbox.state)) throw new CliError(`${name} is ${sandbox.state}: stop it first (hob stop ${name}) or use rm -f`);
        }
        await client.empty('DELETE', sandboxPath(name));
        removed.push(name);
        if (!wantsJson(cmd)) out.write(`removed ${name}\n`);
      } catch (err) {
        const { message, exitCode } = describeFailure(err);
        // Not being able to reach hobd fails every name the same way: stop at once.
        if (exitCode === ExitCode.Unreachable) throw err;
        failed.push({ name, message });
        ctx.io.stderr.write(formatFailureLine(message));
      }
    }
    if (wantsJson(cmd)) printJson(out, { removed, failed });
    if (failed.length > 0) ctx.exitCode = ExitCode.Failure;
  });

  addCommonOptions(program.command('start').description('boot a stopped sandbox').argument('[name]', 'sandbox (default: from .hob)')).action(
    async (given: string | undefined, _o: unknown, cmd: Command) => {
      const name = await sandboxName(given, ctx);
      const value = await runWithProgress(clientFor(cmd, ctx), 'POST', sandboxPath(name, '/start'), {}, progressFor(cmd, ctx));
      const sandbox = parseResponse(SandboxObject, value, 'start');
      if (wantsJson(cmd)) return printJson(out, sandbox);
      out.write(`${sandbox.name} is ${sandbox.state}\n`);
    },
  );

  addCommonOptions(program.command('stop').description('shut a sandbox down (its disk is kept)').argument('[name]', 'sandbox (default: from .hob)')).action(
    async (given: string | undefined, _o: unknown, cmd: Command) => {
      const name = await sandboxName(given, ctx);
      const sandbox = await clientFor(cmd, ctx).json('POST', sandboxPath(name, '/stop'), SandboxObject);
      if (wantsJson(cmd)) return printJson(out, sandbox);
      out.write(`${sandbox.name} is ${sandbox.state}\n`);
    },
  );
}
