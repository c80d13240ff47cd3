/**
 * Guest console output (and service logs) made fit to show on a page. The bytes are the
 * guest's: escape sequences that colour, move the cursor or set a title mean nothing in a
 * `<pre>` and are removed; other control characters, and the Unicode controls that reorder
 * text (bidi overrides), become a visible U+FFFD. Markup needs nothing here: hono's JSX
 * escapes every text it renders.
 */

/**
 * ESC sequences a terminal would act on: CSI (`ESC [` params, final byte), OSC and the
 * other string sequences (`ESC ] ... BEL` or `ESC \\`; DCS, SOS, PM, APC; unterminated ones
 * run to the end), two-byte escapes, and the 8-bit CSI (0x9b).
 */
const ESCAPES = /\x1b\[[0-?]*[ -/]*[@-~]|\x9b[0-?]*[ -/]*[@-~]|\x1b[\]PX^_][^\x07\x1b]*(?:\x07|\x1b\\|$)|\x1b[ -/]*[0-~]?/g;
/** What is left that a page should not show as it is: C0 (but tab and newline), DEL, C1, bidi and separator controls. */
const UNSHOWABLE = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

export function consoleDisplayText(text: string): string {
  return text
    .replace(ESCAPES, '')
    .replace(/\r+\n/g, '\n')
    .replace(/\r/g, '\n') // a progress line redrawn in place: each state on a line of its own
    .replace(/[^\n]\x08/g, '') // backspace erases the character before it
    .replace(UNSHOWABLE, '\ufffd');
}

/** A tail cut in the middle of a line starts with that line's end: drop it. */
export function dropPartialFirstLine(text: string, cut: boolean): string {
  if (!cut) return text;
  const nl = text.indexOf('\n');
  return nl < 0 ? text : text.slice(nl + 1);
}
