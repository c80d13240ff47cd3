/**
 * `hob events [NAME]`: hob's event log (state changes, checkpoints, restores,
 * forks, sleeps, policy changes, ...): all sandboxes, or one (with destroyed
 * sandboxes that had the name). `-f` keeps printing new events as they happen.
 */
import type { Command } from 'commander';
import { parseResponse } from '../client.js';
import { addCommonOptions, clientFor, wantsJson, type CliContext } from '../context.js';
import { UsageError } from '../errors.js';
import { formatTable, printJson, terminalSafe } from '../output.js';
import { EventList, EventObject } from '../schemas.js';
import { checkSandboxName } from '../units.js';

interface EventsOptions {
  type?: string[];
  since?: string;
  after?: string;
  limit?: string;
  follow?: boolean;
}

/** `key=value` pairs of an event's data, on one line. */
export function eventDetails(data: Readonly<Record<string, unknown>>): string {
  return Object.entries(data)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ')
    .replace(/[\r\n\t]+/g, ' ');
}

/** Time of an event as printed: UTC to the second. */
function eventTime(iso: string): string {
  return iso.replace(/\.\d+Z$/, 'Z');
}

export function eventsTable(events: readonly EventObject[]): string {
  return formatTable(
    ['TIME', 'SANDBOX', 'TYPE', 'DETAILS'],
    events.map((e) => [eventTime(e.at), e.sandbox ?? '-', e.type, eventDetails(e.data)]),
  );
}

/** One event as a line of `hob events -f` (terminal-safe: names and details may come from a guest). */
export function eventLine(e: EventObject): string {
  return `${terminalSafe(`${eventTime(e.at)}  ${e.sandbox ?? '-'}  ${e.type}  ${eventDetails(e.data)}`.trimEnd())}\n`;
}

export function registerEventsCommand(program: Command, ctx: CliContext): void {
  const { io } = ctx;
  addCommonOptions(
    program
      .command('events')
      .description("show hob's event log: all sandboxes, or one (and destroyed ones that had its name)")
      .argument('[name]', 'sandbox (default: every sandbox)')
      .option('--type <type>', 'only events of this type (repeatable, or a comma list: state,checkpoint)', (v: string, prev: string[] = []) => [...prev, v])
      .option('--since <time>', 'only events since an ISO 8601 time or a duration ago (10m, 2h)')
      .option('--after <id>', 'only events after this event id')
      .option('--limit <n>', 'at most this many events (1-1000, default 100; not with -f)')
      .option('-f, --follow', 'keep printing new events as they happen (Ctrl+C ends)'),
  ).action(async (name: string | undefined, o: EventsOptions, cmd: Command) => {
    if (name !== undefined) checkSandboxName(name);
    if (o.after !== undefined && !/^\d{1,15}$/.test(o.after)) throw new UsageError(`--after takes an event id (a number), not "${o.after}"`);
    if (o.limit !== undefined && !/^\d{1,4}$/.test(o.limit)) throw new UsageError(`--limit takes a number from 1 to 1000, not "${o.limit}"`);
    if (o.follow && o.limit !== undefined) throw new UsageError('--limit does not apply with --follow');
    const client = clientFor(cmd, ctx);
    const query = { sandbox: name, type: o.type, since: o.since, after: o.after, limit: o.limit };
    const json = wantsJson(cmd);

    if (!o.follow) {
      const page = await client.json('GET', '/v1/events', EventList, { query });
      if (json) return printJson(io.stdout, page.events);
      io.stdout.write(page.events.length === 0 ? 'no events\n' : eventsTable(page.events));
      if (page.has_more) io.stderr.write(`more events follow: hob events${name ? ` ${name}` : ''} --after ${page.events.at(-1)?.id ?? 0}\n`);
      return;
    }
    for await (const value of client.sse('/v1/events', { query: { ...query, follow: 1 } })) {
      const event = parseResponse(EventObject, value, 'GET /v1/events?follow=1');
      // --json with -f: one JSON object per line (NDJSON), as each event arrives.
      io.stdout.write(json ? `${JSON.stringify(event)}\n` : eventLine(event));
    }
  });
}
