/**
 * Sleep and the idle policy (docs/architecture.md §7):
 *
 * - `hob sleep [NAME] [--hibernate]`: paused now (warm: memory resident), or
 *   hibernated (cold: memory saved in the sandbox, no VMM process).
 * - `hob wake [NAME]`: running again (progress on stderr); any exec, console
 *   or file request wakes a sandbox by itself, this is for doing it ahead.
 * - `hob keep-awake [NAME] --for 1h` holds it awake (waking it), `--off` ends
 *   the hold.
 * - `hob idle [NAME] [--pause-after D|off] [--hibernate-after D|off] [--default]`:
 *   this sandbox's idle times; without options it shows them. Options change
 *   only the times given; `--default` first drops the sandbox's own times
 *   (back to hobd's), so `--default` alone resets both.
 *
 * NAME defaults to the `.hob` sandbox. With `--json` each prints the sandbox
 * object hobd answers (the Sprite object with hob's fields).
 */
import type { Command } from 'commander';
import { MAX_IDLE_SECONDS, MAX_KEEP_AWAKE_SECONDS } from '../../wire/sprite-requests.js';
import { parseResponse } from '../client.js';
import { addCommonOptions, clientFor, sandboxName, sandboxPath, wantsJson, type CliContext } from '../context.js';
import { UsageError } from '../errors.js';
import { progressFor, runWithProgress } from '../operation.js';
import { printJson } from '../output.js';
import { SandboxObject } from '../sandbox-schemas.js';
import { idleText, keepAwakeText, type IdleTimes } from '../settings-text.js';
import { formatDurationSeconds, parseDurationSeconds, parseIdleSeconds } from '../units.js';

export interface IdleOptions {
  readonly pauseAfter?: string;
  readonly hibernateAfter?: string;
  readonly default?: boolean;
}

/**
 * The `idle` value `hob idle` sends: the sandbox's current times (none with
 * `--default`) with the given ones replaced; null when that leaves none (hobd's
 * defaults). Undefined when no option was given (nothing to change).
 * @throws UsageError for a bad duration.
 */
export function idleUpdate(current: IdleTimes | undefined, o: IdleOptions): IdleTimes | null | undefined {
  if (o.pauseAfter === undefined && o.hibernateAfter === undefined && !o.default) return undefined;
  const next: { pause_after_seconds?: number; hibernate_after_seconds?: number } = o.default ? {} : { ...current };
  if (o.pauseAfter !== undefined) next.pause_after_seconds = idleOption(o.pauseAfter, '--pause-after');
  if (o.hibernateAfter !== undefined) next.hibernate_after_seconds = idleOption(o.hibernateAfter, '--hibernate-after');
  return Object.keys(next).length === 0 ? null : next;
}

function idleOption(text: string, option: string): number {
  const seconds = parseIdleSeconds(text, option);
  if (seconds > MAX_IDLE_SECONDS) throw new UsageError(`${option} is at most 30 days (got "${text}")`);
  return seconds;
}

/** `--for` of keep-awake in seconds (1 s to a week). @throws UsageError. */
export function keepAwakeSeconds(text: string): number {
  const seconds = parseDurationSeconds(text, '--for');
  if (seconds < 1 || seconds > MAX_KEEP_AWAKE_SECONDS) throw new UsageError(`--for is between 1s and 7d (got "${text}")`);
  return seconds;
}

/** What `hob sleep` says about the state it left. */
function sleepMessage(s: SandboxObject): string {
  if (s.state === 'paused') return `${s.name} is paused (memory kept in RAM; it wakes on the next request or with hob wake)\n`;
  if (s.state === 'hibernated') return `${s.name} is hibernated (memory saved to disk, no VM process; it wakes on the next request or with hob wake)\n`;
  return `${s.name} is ${s.state}\n`;
}

export function registerSleepCommands(program: Command, ctx: CliContext): void {
  const out = ctx.io.stdout;

  addCommonOptions(
    program
      .command('sleep')
      .description('put a sandbox to sleep now: paused (memory stays in RAM), or with --hibernate saved to disk')
      .argument('[name]', 'sandbox (default: from .hob)')
      .option('--hibernate', 'save its memory to disk and end the VM process (frees the RAM; wakes a little slower)'),
  ).action(async (given: string | undefined, o: { hibernate?: boolean }, cmd: Command) => {
    const name = await sandboxName(given, ctx);
    const sandbox = await clientFor(cmd, ctx).json('POST', sandboxPath(name, '/sleep'), SandboxObject, { json: o.hibernate ? { hibernate: true } : {} });
    if (wantsJson(cmd)) return printJson(out, sandbox);
    out.write(sleepMessage(sandbox));
  });

  addCommonOptions(
    program.command('wake').description('wake a sleeping sandbox (boots a stopped one)').argument('[name]', 'sandbox (default: from .hob)'),
  ).action(async (given: string | undefined, _o: unknown, cmd: Command) => {
    const name = await sandboxName(given, ctx);
    const value = await runWithProgress(clientFor(cmd, ctx), 'POST', sandboxPath(name, '/wake'), {}, progressFor(cmd, ctx));
    const sandbox = parseResponse(SandboxObject, value, 'wake');
    if (wantsJson(cmd)) return printJson(out, sandbox);
    out.write(`${sandbox.name} is ${sandbox.state}\n`);
  });

  addCommonOptions(
    program
      .command('keep-awake')
      .description('keep a sandbox awake for a while (waking it), or end such a hold with --off')
      .argument('[name]', 'sandbox (default: from .hob)')
      .option('--for <duration>', 'how long, e.g. 90s, 30m, 1h, 2d (at most 7d)')
      .option('--off', 'end the hold: the sandbox sleeps again after its idle time'),
  ).action(async (given: string | undefined, o: { for?: string; off?: boolean }, cmd: Command) => {
    if ((o.for === undefined) === (o.off !== true)) throw new UsageError('give --for DURATION or --off');
    const seconds = o.for === undefined ? undefined : keepAwakeSeconds(o.for);
    const name = await sandboxName(given, ctx);
    const client = clientFor(cmd, ctx);
    const sandbox =
      seconds === undefined
        ? await client.json('DELETE', sandboxPath(name, '/keep-awake'), SandboxObject)
        : await client.json('POST', sandboxPath(name, '/keep-awake'), SandboxObject, { json: { seconds } });
    if (wantsJson(cmd)) return printJson(out, sandbox);
    const hold = keepAwakeText(sandbox.keep_awake_until);
    out.write(hold === undefined ? `${sandbox.name}: no keep-awake hold; it sleeps after its idle time\n` : `${sandbox.name} is ${sandbox.state} and kept awake ${hold}\n`);
  });

  addCommonOptions(
    program
      .command('idle')
      .description('show or set how long a sandbox may be idle before it is paused and hibernated')
      .argument('[name]', 'sandbox (default: from .hob)')
      .option('--pause-after <duration>', 'pause after this long idle, e.g. 30s, 5m; "off" never pauses')
      .option('--hibernate-after <duration>', 'hibernate after this long idle, e.g. 30m, 2h; "off" never hibernates')
      .option('--default', 'drop this sandbox\'s own times first (back to hobd\'s defaults)'),
  ).action(async (given: string | undefined, o: IdleOptions, cmd: Command) => {
    // Check the options before anything is sent.
    idleUpdate(undefined, o);
    const name = await sandboxName(given, ctx);
    const client = clientFor(cmd, ctx);
    let sandbox = await client.json('GET', sandboxPath(name), SandboxObject);
    const idle = idleUpdate(sandbox.idle, o);
    if (idle !== undefined) sandbox = await client.json('PUT', sandboxPath(name), SandboxObject, { json: { idle } });
    if (wantsJson(cmd)) return printJson(out, sandbox);
    out.write(`${sandbox.name}: ${idleText(sandbox.idle)}\n`);
  });
}
