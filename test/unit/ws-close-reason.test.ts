import { describe, expect, it } from 'vitest';
import { MAX_CLOSE_REASON_BYTES, closeReason } from '../../daemon/websocket/close-reason.js';

const bytes = (s: string) => Buffer.byteLength(s, 'utf8');

describe('closeReason', () => {
  it('keeps a reason that fits', () => {
    expect(closeReason('')).toBe('');
    expect(closeReason('nothing is listening on localhost:8080')).toBe('nothing is listening on localhost:8080');
    const exact = 'é'.repeat(61) + 'x'; // 123 bytes
    expect(bytes(exact)).toBe(MAX_CLOSE_REASON_BYTES);
    expect(closeReason(exact)).toBe(exact);
  });

  it.each([
    ['ASCII', 'a'.repeat(500)],
    ['2-byte', 'é'.repeat(200)],
    ['3-byte', '€'.repeat(200)],
    ['4-byte (surrogate pairs)', '😀'.repeat(200)],
    ['mixed', `x${'😀€é'.repeat(50)}`],
  ])('cuts a long %s reason at a character boundary, in at most 123 bytes', (_kind, text) => {
    const reason = closeReason(text);
    expect(bytes(reason)).toBeLessThanOrEqual(MAX_CLOSE_REASON_BYTES);
    expect(reason.endsWith('…')).toBe(true);
    expect(text.startsWith(reason.slice(0, -1))).toBe(true);
    expect(reason).not.toContain('\uFFFD');
    // Not cut shorter than needed: one more character would not fit.
    const next = text.slice(reason.length - 1).codePointAt(0)!;
    expect(bytes(reason) + bytes(String.fromCodePoint(next))).toBeGreaterThan(MAX_CLOSE_REASON_BYTES);
  });

  it('encodes a lone surrogate as U+FFFD rather than producing invalid UTF-8', () => {
    const reason = closeReason(`a\uD800b${'x'.repeat(300)}`);
    expect(reason.startsWith('a\uFFFDb')).toBe(true);
    expect(bytes(reason)).toBeLessThanOrEqual(MAX_CLOSE_REASON_BYTES);
  });
});
