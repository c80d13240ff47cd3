/**
 * The subset of the DNS wire format (RFC 1035) that hob's forwarding resolver needs:
 * read the question of a query, build an error answer (REFUSED, SERVFAIL, ...) to it, and
 * read the A records (following CNAMEs) and TTLs of an upstream answer. Everything else
 * in a message is relayed untouched, so no full encoder is needed. (No DNS library is
 * installed; `dns-packet` would do this too.)
 *
 * Every parse function throws DnsFormatError on a malformed message and never reads
 * outside the buffer.
 */

/** Response codes used by hob. */
export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
/** Record types used by hob. */
export const QTYPE = { A: 1, CNAME: 5, AAAA: 28 } as const;

const HEADER = 12;
const MAX_POINTER_JUMPS = 64;

/** The message is not well-formed DNS. */
export class DnsFormatError extends Error {}

/** The question of a query. */
export interface DnsQuestion {
  /** Transaction id. */
  readonly id: number;
  /** Opcode (0 = QUERY). */
  readonly opcode: number;
  /** Queried name, lowercase, without the trailing dot ("" for the root). */
  readonly name: string;
  readonly type: number;
  readonly class: number;
  /** Byte offset just past the question section. */
  readonly questionEnd: number;
}

/** An address from an answer, with its TTL in seconds. */
export interface DnsAddress {
  readonly address: string;
  readonly ttl: number;
}

/** What hob reads from an upstream answer. */
export interface DnsAnswerSummary {
  readonly id: number;
  readonly rcode: number;
  /** Truncated (TC bit): the full answer needs TCP. */
  readonly truncated: boolean;
  /** Question name, lowercase, no trailing dot; undefined when the answer has no question. */
  readonly name: string | undefined;
  readonly type: number | undefined;
  /** A records of the queried name or of names it is a CNAME (chain) of. */
  readonly addresses: readonly DnsAddress[];
}

function u16(buf: Buffer, off: number): number {
  if (off + 2 > buf.length) throw new DnsFormatError('message truncated');
  return buf.readUInt16BE(off);
}

/**
 * Reads a name at `off`; returns it and the offset after it in place. Compression pointers
 * are followed unless `opts.pointers` is false. A label containing a dot is refused: hob
 * turns labels into a dotted string, and one label "a.b" must not pass for the two labels
 * "a" and "b" (the policy would judge a different name from the one the upstream resolves).
 */
export function readName(buf: Buffer, off: number, opts: { pointers?: boolean } = {}): { name: string; end: number } {
  const labels: string[] = [];
  let pos = off;
  let end = -1;
  let jumps = 0;
  let length = 0;
  for (;;) {
    if (pos >= buf.length) throw new DnsFormatError('name runs past the message');
    const len = buf[pos] ?? 0;
    if ((len & 0xc0) === 0xc0) {
      if (opts.pointers === false) throw new DnsFormatError('compression pointer where none is allowed (the question of a query)');
      if (++jumps > MAX_POINTER_JUMPS) throw new DnsFormatError('compression loop');
      const target = u16(buf, pos) & 0x3fff;
      if (end < 0) end = pos + 2;
      pos = target;
      continue;
    }
    if ((len & 0xc0) !== 0) throw new DnsFormatError('unsupported label type');
    if (len === 0) {
      if (end < 0) end = pos + 1;
      break;
    }
    if (pos + 1 + len > buf.length) throw new DnsFormatError('label runs past the message');
    length += len + 1;
    if (length > 255) throw new DnsFormatError('name longer than 255 bytes');
    if (buf.subarray(pos + 1, pos + 1 + len).includes(0x2e)) throw new DnsFormatError('label contains a dot');
    labels.push(buf.toString('latin1', pos + 1, pos + 1 + len).toLowerCase());
    pos += 1 + len;
  }
  return { name: labels.join('.'), end };
}

/** Offset just past the resource record at `off` (name, type, class, TTL, data). */
function skipRecord(buf: Buffer, off: number): number {
  const r = readName(buf, off);
  if (r.end + 10 > buf.length) throw new DnsFormatError('record runs past the message');
  const end = r.end + 10 + u16(buf, r.end + 8);
  if (end > buf.length) throw new DnsFormatError('record data runs past the message');
  return end;
}

/**
 * Reads the question of a query (QR=0, exactly one question). hob forwards the guest's
 * bytes, so what it judges must be all the upstream can read: the question name must be
 * written out in full (no compression pointer), a standard query (opcode 0) carries no
 * answer or authority records, and every byte of the message belongs to a record the
 * header counts (the EDNS OPT record of ordinary resolvers is in the additional section).
 * @throws DnsFormatError when it is not such a query.
 */
export function parseQuery(buf: Buffer): DnsQuestion {
  if (buf.length < HEADER) throw new DnsFormatError('shorter than a DNS header');
  const flags = u16(buf, 2);
  if (flags & 0x8000) throw new DnsFormatError('not a query (QR set)');
  if (u16(buf, 4) !== 1) throw new DnsFormatError('a query must have exactly one question');
  const opcode = (flags >> 11) & 0xf;
  const q = readName(buf, HEADER, { pointers: false });
  const type = u16(buf, q.end);
  const klass = u16(buf, q.end + 2);
  const questionEnd = q.end + 4;
  const [an, ns, ar] = [u16(buf, 6), u16(buf, 8), u16(buf, 10)];
  if (opcode === 0 && an + ns > 0) throw new DnsFormatError('a standard query carries no answer or authority records');
  let pos = questionEnd;
  for (let i = 0; i < an + ns + ar; i++) pos = skipRecord(buf, pos);
  if (pos !== buf.length) throw new DnsFormatError(`${buf.length - pos} trailing bytes after the records the header counts`);
  return { id: u16(buf, 0), opcode, name: q.name, type, class: klass, questionEnd };
}

/**
 * An answer to `query` with no records and the given rcode (REFUSED, SERVFAIL, ...):
 * same id, opcode and RD bit, RA set, the question copied. When the query's question
 * cannot be read, the answer carries only the header (id and rcode), as FORMERR answers do.
 */
export function errorResponse(query: Buffer, rcode: number): Buffer {
  let questionEnd = HEADER;
  let qdcount = 0;
  try {
    questionEnd = parseQuery(query).questionEnd;
    qdcount = 1;
  } catch {
    // header only
  }
  const out = Buffer.alloc(questionEnd);
  query.copy(out, 0, 0, Math.min(questionEnd, query.length));
  const flags = query.length >= 4 ? query.readUInt16BE(2) : 0;
  // QR=1, keep opcode and RD, RA=1, rcode.
  out.writeUInt16BE(0x8000 | (flags & 0x7900) | 0x0080 | (rcode & 0xf), 2);
  out.writeUInt16BE(qdcount, 4);
  out.writeUInt16BE(0, 6);
  out.writeUInt16BE(0, 8);
  out.writeUInt16BE(0, 10);
  return out;
}

/** The id of a message (first two bytes). */
export function messageId(buf: Buffer): number {
  return u16(buf, 0);
}

/** A copy of `buf` with its id replaced. */
export function withId(buf: Buffer, id: number): Buffer {
  const out = Buffer.from(buf);
  out.writeUInt16BE(id & 0xffff, 0);
  return out;
}

/**
 * Reads an answer: rcode, TC bit, question, and the A records of the question's name and
 * of the CNAME chain starting at it (records for unrelated names are ignored).
 * @throws DnsFormatError when it is not a well-formed answer.
 */
export function parseAnswer(buf: Buffer): DnsAnswerSummary {
  if (buf.length < HEADER) throw new DnsFormatError('shorter than a DNS header');
  const flags = u16(buf, 2);
  if (!(flags & 0x8000)) throw new DnsFormatError('not an answer (QR clear)');
  const qd = u16(buf, 4);
  const an = u16(buf, 6);
  let pos = HEADER;
  let name: string | undefined;
  let type: number | undefined;
  for (let i = 0; i < qd; i++) {
    const q = readName(buf, pos);
    if (i === 0) {
      name = q.name;
      type = u16(buf, q.end);
    }
    pos = q.end + 4;
    if (pos > buf.length) throw new DnsFormatError('question runs past the message');
  }
  const records: { name: string; type: number; ttl: number; rdata: number; rdlength: number }[] = [];
  for (let i = 0; i < an; i++) {
    const r = readName(buf, pos);
    const rtype = u16(buf, r.end);
    const rclass = u16(buf, r.end + 2);
    if (r.end + 10 > buf.length) throw new DnsFormatError('record runs past the message');
    const ttl = buf.readUInt32BE(r.end + 4);
    const rdlength = u16(buf, r.end + 8);
    const rdata = r.end + 10;
    if (rdata + rdlength > buf.length) throw new DnsFormatError('record data runs past the message');
    if (rclass === 1) records.push({ name: r.name, type: rtype, ttl, rdata, rdlength });
    pos = rdata + rdlength;
  }
  const addresses: DnsAddress[] = [];
  if (name !== undefined) {
    // Follow the CNAME chain from the question's name (records may come in any order).
    const chain = new Set([name]);
    for (let grew = true; grew; ) {
      grew = false;
      for (const r of records) {
        if (r.type !== QTYPE.CNAME || !chain.has(r.name)) continue;
        const target = readName(buf, r.rdata).name;
        if (!chain.has(target)) {
          chain.add(target);
          grew = true;
        }
      }
    }
    for (const r of records) {
      if (r.type === QTYPE.A && r.rdlength === 4 && chain.has(r.name)) {
        addresses.push({ address: [...buf.subarray(r.rdata, r.rdata + 4)].join('.'), ttl: r.ttl });
      }
    }
  }
  return { id: u16(buf, 0), rcode: flags & 0xf, truncated: (flags & 0x0200) !== 0, name, type, addresses };
}
