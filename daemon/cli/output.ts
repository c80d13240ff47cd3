/**
 * How results are shown: aligned tables and `key: value` blocks for people,
 * JSON for programs (`--json`: pretty-printed JSON on stdout and nothing else
 * there; progress and messages go to stderr).
 */
import type { Writable } from 'node:stream';

/** JSON text of a value, as `--json` prints it (two-space indent, trailing newline). */
export function jsonText(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

export function printJson(out: Writable, value: unknown): void {
  out.write(jsonText(value));
}

/**
 * Characters a terminal may act on instead of showing: C0 controls (ESC starts
 * colour, cursor, title and hyperlink sequences), DEL, C1 controls (0x9b is a
 * one-byte CSI), and the Unicode direction controls that make text display in
 * another order than it is (Trojan Source: LRM/RLM, ALM, LRE..RLO, LRI..PDI),
 * plus the line and paragraph separators.
 */
const TERMINAL_UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const NAMED_ESCAPES: Readonly<Record<string, string>> = { '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/**
 * Text from a guest (file names, service names and errors, guest error
 * messages in API errors) made safe to print on a terminal: every character
 * in TERMINAL_UNSAFE is shown as an escape (`\x1b`, `\n`, `\u202e`), so a
 * sandbox cannot move the cursor, rewrite what hob printed, set the window
 * title or reorder text. Printable Unicode is kept as it is.
 */
export function terminalSafe(text: string): string {
  return text.replace(TERMINAL_UNSAFE, (c) => {
    const named = NAMED_ESCAPES[c];
    if (named !== undefined) return named;
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/**
 * An aligned table: a header row, then one row per item, columns separated by
 * three spaces, no padding after the last column. Cells are single-line
 * (newlines and tabs become spaces) and terminal-safe (terminalSafe).
 */
export function formatTable(headers: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const clean = (cell: string) => terminalSafe(cell.replace(/[\r\n\t]+/g, ' '));
  const all = [headers.map(clean), ...rows.map((r) => headers.map((_, i) => clean(r[i] ?? '')))];
  const widths = headers.map((_, i) => Math.max(...all.map((r) => displayWidth(r[i] ?? ''))));
  return all
    .map((r) =>
      r
        .map((cell, i) => (i === r.length - 1 ? cell : cell + ' '.repeat((widths[i] ?? 0) - displayWidth(cell))))
        .join('   ')
        .trimEnd(),
    )
    .map((line) => `${line}\n`)
    .join('');
}

/** Terminal columns a string takes (code points; hob's cells are names, numbers and ASCII commands). */
function displayWidth(text: string): number {
  return [...text].length;
}

/** `key: value` lines with the values aligned (and terminal-safe); entries with an undefined value are left out. */
export function formatFields(fields: ReadonlyArray<readonly [string, string | undefined]>): string {
  const shown = fields.filter((f): f is readonly [string, string] => f[1] !== undefined);
  const width = Math.max(0, ...shown.map(([k]) => k.length + 1));
  return shown.map(([k, v]) => `${`${k}:`.padEnd(width)} ${terminalSafe(v)}\n`).join('');
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** Bytes in binary units: `512 MiB`, `2 GiB`, `1.5 GiB`, `100 GiB`, `812 B`. At most one decimal, none when whole. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '-';
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  const rounded = Math.round(value * 10) / 10;
  const text = Number.isInteger(rounded) ? String(rounded) : rounded.toFixed(1);
  return `${text} ${UNITS[unit]}`;
}

/** How long ago an ISO time was: `12s ago`, `5m ago`, `3h ago`, `4d ago`; `-` for an unreadable time. */
export function formatSince(iso: string, now: Date = new Date()): string {
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return '-';
  const s = Math.max(0, Math.floor((now.getTime() - then) / 1000));
  if (s < 60) return `${s}s ago`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ago`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ago`;
  return `${Math.floor(h / 24)}d ago`;
}
