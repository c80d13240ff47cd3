/**
 * Websocket close reasons: RFC 6455 section 5.5 limits a control frame's
 * payload to 125 bytes, 2 of which are the close code, so a reason is at most
 * 123 bytes of UTF-8, and `ws` throws (a RangeError, inside whatever event
 * handler closes the socket) for a longer one. Reasons often carry text from
 * the guest (an error message of any length, in any script), so every close
 * with a reason goes through `closeReason`.
 */

/** Largest close reason in bytes (125-byte control frame payload minus the 2-byte code). */
export const MAX_CLOSE_REASON_BYTES = 123;

/** Appended to a reason that had to be cut (3 bytes in UTF-8). */
const ELLIPSIS = '…';

/**
 * `text` as a valid close reason: unchanged when it fits in 123 bytes of UTF-8,
 * else cut at a character boundary (never inside a multibyte sequence or a
 * surrogate pair) with "…" appended, in at most 123 bytes.
 */
export function closeReason(text: string): string {
  // Encoding turns a lone surrogate into U+FFFD, so the bytes are always valid UTF-8.
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= MAX_CLOSE_REASON_BYTES) return bytes.toString('utf8');
  let end = MAX_CLOSE_REASON_BYTES - Buffer.byteLength(ELLIPSIS);
  // Back up to the start of a character: continuation bytes are 0b10xxxxxx.
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return `${bytes.subarray(0, end).toString('utf8')}${ELLIPSIS}`;
}
