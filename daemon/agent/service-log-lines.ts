/**
 * The NDJSON lines of `service.logs` (one ServiceLogEntry per line) as the
 * host reads them from a hostile guest: every line is bounded, a longer one is
 * cut and says so.
 */
import { ServiceLogEntrySchema, type ServiceLogEntry } from '../protocol/index.js';

/**
 * Longest `service.logs` line the host keeps whole, in bytes. The agent cuts a
 * service's output lines at 16 Ki characters (MAX_LINE_CHARS in
 * guest-image/agent/services/service-log.ts); as JSON a character takes at most
 * 6 bytes ("\u0001"), so an honest entry stays under 96 KiB plus its fields.
 */
export const MAX_LOG_ENTRY_BYTES = 128 * 1024;

/** The entry of a whole line; undefined for a line that is not one (dropped). */
export function parseLogEntryLine(line: string): ServiceLogEntry | undefined {
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch {
    return undefined;
  }
  const entry = ServiceLogEntrySchema.safeParse(json);
  return entry.success ? entry.data : undefined;
}

/** How the agent writes an output line's entry: its fields in this order, `data` last. */
const OUTPUT_ENTRY_HEAD = /^\{"time":(\d{1,16}(?:\.\d{1,6})?),"stream":"(stdout|stderr)","data":"/;
/** A JSON string's content up to its closing quote (or the end of the input). */
const STRING_CONTENT = /^(?:[^"\\]|\\.)*/s;

/**
 * The entry for the first MAX_LOG_ENTRY_BYTES of a longer line: an output
 * line's text as far as it got, marked as cut; for anything else a `hob`
 * error entry saying a line was dropped.
 */
export function cutLogEntry(head: string, now = Date.now()): ServiceLogEntry {
  const marker = `[hob: line cut: longer than ${MAX_LOG_ENTRY_BYTES} bytes]`;
  const m = OUTPUT_ENTRY_HEAD.exec(head);
  const text = m ? decodePartialString(head.slice(m[0].length)) : undefined;
  if (!m || text === undefined) return { time: now, stream: 'hob', event: 'error', data: `a log line from the guest was dropped: ${marker}` };
  // The marker replaces the end of the text, so the entry stays within the bound.
  const room = MAX_LOG_ENTRY_BYTES - Buffer.byteLength(marker) - 1;
  let kept = text.slice(0, room);
  while (Buffer.byteLength(kept) > room) kept = kept.slice(0, Math.floor(kept.length * 0.9));
  return { time: Number(m[1]), stream: m[2] as 'stdout' | 'stderr', data: `${kept} ${marker}` };
}

/** The content of a JSON string cut anywhere (possibly inside an escape), decoded; undefined if it is not one. */
function decodePartialString(raw: string): string | undefined {
  const content = (STRING_CONTENT.exec(raw) as RegExpExecArray)[0];
  // An escape cut in two ("\u00") is at most 5 characters long: drop it.
  for (let drop = 0; drop <= 5 && drop <= content.length; drop++) {
    try {
      return JSON.parse(`"${content.slice(0, content.length - drop)}"`) as string;
    } catch {
      // try a shorter piece
    }
  }
  return undefined;
}
