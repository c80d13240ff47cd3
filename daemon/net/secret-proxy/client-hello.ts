/**
 * Reading the server name (SNI) of a TLS ClientHello before deciding whether to
 * terminate the connection or pass it through untouched (docs/architecture.md §11).
 * The bytes are the guest's: every length is checked against what is there and
 * the whole hello is bounded (MAX_CLIENT_HELLO_BYTES).
 */

/** Most bytes read before the ClientHello must be complete. */
export const MAX_CLIENT_HELLO_BYTES = 16 * 1024;

export type HelloResult =
  | { kind: 'incomplete' }
  | { kind: 'invalid'; reason: string }
  | { kind: 'hello'; serverName: string | undefined };

const HANDSHAKE = 22;
const CLIENT_HELLO = 1;
const EXT_SERVER_NAME = 0;

/** Concatenates the handshake-record fragments at the start of `buf`. */
function handshakeBytes(buf: Buffer): { data: Buffer; complete: boolean } | string {
  const parts: Buffer[] = [];
  let off = 0;
  let total = 0;
  let need = -1;
  while (off + 5 <= buf.length) {
    if (buf[off] !== HANDSHAKE) return 'not a TLS handshake record';
    if (buf[off + 1] !== 3) return 'not TLS';
    const len = buf.readUInt16BE(off + 3);
    if (len === 0 || len > 16_384) return 'bad record length';
    if (off + 5 + len > buf.length) break;
    parts.push(buf.subarray(off + 5, off + 5 + len));
    total += len;
    off += 5 + len;
    if (need < 0 && total >= 4) {
      const first = Buffer.concat(parts);
      if (first[0] !== CLIENT_HELLO) return 'not a ClientHello';
      need = 4 + first.readUIntBE(1, 3);
    }
    if (need >= 0 && total >= need) return { data: Buffer.concat(parts).subarray(0, need), complete: true };
  }
  if (buf.length > 0 && buf[0] !== HANDSHAKE) return 'not a TLS handshake record';
  return { data: Buffer.alloc(0), complete: false };
}

/** Parses the start of a connection. `incomplete` means: read more (up to MAX_CLIENT_HELLO_BYTES). */
export function parseClientHello(buf: Buffer): HelloResult {
  const hs = handshakeBytes(buf);
  if (typeof hs === 'string') return { kind: 'invalid', reason: hs };
  if (!hs.complete) {
    return buf.length >= MAX_CLIENT_HELLO_BYTES ? { kind: 'invalid', reason: 'ClientHello too large' } : { kind: 'incomplete' };
  }
  const h = hs.data;
  let p = 4 + 2 + 32; // handshake header, legacy_version, random
  const need = (n: number) => p + n <= h.length;
  if (!need(1)) return { kind: 'invalid', reason: 'truncated' };
  p += 1 + (h[p] ?? 0); // session id
  if (!need(2)) return { kind: 'invalid', reason: 'truncated' };
  p += 2 + h.readUInt16BE(p); // cipher suites
  if (!need(1)) return { kind: 'invalid', reason: 'truncated' };
  p += 1 + (h[p] ?? 0); // compression methods
  if (p === h.length) return { kind: 'hello', serverName: undefined };
  if (!need(2)) return { kind: 'invalid', reason: 'truncated' };
  const extEnd = p + 2 + h.readUInt16BE(p);
  p += 2;
  if (extEnd > h.length) return { kind: 'invalid', reason: 'truncated extensions' };
  while (p + 4 <= extEnd) {
    const type = h.readUInt16BE(p);
    const len = h.readUInt16BE(p + 2);
    p += 4;
    if (p + len > extEnd) return { kind: 'invalid', reason: 'truncated extension' };
    if (type === EXT_SERVER_NAME) {
      // server_name_list: u16 length, then (u8 type, u16 length, name)*; only host_name (0) exists.
      if (len < 5 || h[p + 2] !== 0) return { kind: 'invalid', reason: 'bad server_name' };
      const nameLen = h.readUInt16BE(p + 3);
      if (5 + nameLen > len || nameLen === 0 || nameLen > 253) return { kind: 'invalid', reason: 'bad server_name' };
      const name = h.toString('latin1', p + 5, p + 5 + nameLen);
      if (!/^[A-Za-z0-9.-]+$/.test(name)) return { kind: 'invalid', reason: 'server name is not a DNS name' };
      return { kind: 'hello', serverName: name.toLowerCase().replace(/\.$/, '') };
    }
    p += len;
  }
  return { kind: 'hello', serverName: undefined };
}
