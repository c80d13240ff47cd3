/**
 * The text form of a service log line, one per line in
 * /var/log/hob/services/<name>.log:
 *
 *   2025-01-02T03:04:05.678Z [stdout] the process's line
 *   2025-01-02T03:04:05.678Z [stderr] a line it wrote to stderr
 *   2025-01-02T03:04:05.678Z [hob] started: pid 123
 *   2025-01-02T03:04:05.678Z [hob] exit: code 1; restarting in 2s
 *
 * `parseLogLine` reads it back (when the agent starts, to fill its in-memory
 * tail from the file), so the two must stay inverse of each other.
 */
import type { ServiceLogEntry } from '../../../daemon/protocol/index.js';

type HobEvent = NonNullable<ServiceLogEntry['event']>;
const EVENTS: ReadonlySet<string> = new Set<HobEvent>(['started', 'exit', 'stopping', 'stopped', 'error']);

export function formatLogLine(entry: ServiceLogEntry): string {
  const time = new Date(entry.time).toISOString();
  if (entry.stream === 'hob') return `${time} [hob] ${entry.event ?? 'error'}: ${entry.data}`;
  return `${time} [${entry.stream}] ${entry.data}`;
}

const LINE = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) \[(stdout|stderr|hob)\] ?(.*)$/s;

/** The entry of one line of a log file; undefined for a line that is not in this format. */
export function parseLogLine(line: string): ServiceLogEntry | undefined {
  const m = LINE.exec(line);
  if (!m) return undefined;
  const time = Date.parse(m[1] as string);
  const stream = m[2] as ServiceLogEntry['stream'];
  const rest = m[3] as string;
  if (Number.isNaN(time)) return undefined;
  if (stream !== 'hob') return { time, stream, data: rest };
  const colon = rest.indexOf(':');
  const event = colon > 0 ? rest.slice(0, colon) : '';
  if (!EVENTS.has(event)) return { time, stream, data: rest, event: 'error' };
  const data = rest.slice(colon + 1).replace(/^ /, '');
  const entry: ServiceLogEntry = { time, stream, data, event: event as HobEvent };
  if (event === 'exit' || event === 'stopped') {
    const code = /^code (-?\d+)/.exec(data);
    if (code) entry.exitCode = Number(code[1]);
    else if (/^signal /.test(data)) entry.exitCode = null;
  }
  return entry;
}

/** "code 3" or "signal SIGTERM": how a process ended, as the log says it. */
export function describeExit(code: number | null, signal: string | null): string {
  return signal ? `signal ${signal}` : `code ${code ?? 0}`;
}
