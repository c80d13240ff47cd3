/**
 * Builds DNS messages for tests (hob itself only reads them, see daemon/net/dns-wire.ts):
 * a query, and an answer with A and CNAME records, names written uncompressed.
 */

function encodeName(name: string): Buffer {
  const parts = name === '' ? [] : name.split('.');
  return Buffer.concat([...parts.map((p) => Buffer.concat([Buffer.from([p.length]), Buffer.from(p, 'latin1')])), Buffer.from([0])]);
}

/** A standard query (RD set) for `name`. */
export function buildQuery(name: string, type = 1, id = Math.floor(Math.random() * 0x10000)): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt16BE(id, 0);
  h.writeUInt16BE(0x0100, 2);
  h.writeUInt16BE(1, 4);
  const q = Buffer.alloc(4);
  q.writeUInt16BE(type, 0);
  q.writeUInt16BE(1, 2);
  return Buffer.concat([h, encodeName(name), q]);
}

export interface TestRecord {
  readonly name: string;
  readonly type: 'A' | 'CNAME';
  /** Dotted quad for A, a name for CNAME. */
  readonly value: string;
  readonly ttl: number;
}

/** An answer to `query` (its id and question) with these records and rcode. */
export function buildAnswer(query: Buffer, records: readonly TestRecord[], rcode = 0, questionEnd?: number): Buffer {
  const end = questionEnd ?? query.length;
  const h = Buffer.from(query.subarray(0, 12));
  h.writeUInt16BE(0x8000 | (h.readUInt16BE(2) & 0x0100) | 0x0400 | 0x0080 | rcode, 2);
  h.writeUInt16BE(1, 4);
  h.writeUInt16BE(records.length, 6);
  h.writeUInt16BE(0, 8);
  h.writeUInt16BE(0, 10);
  const rrs = records.map((r) => {
    const rdata = r.type === 'A' ? Buffer.from(r.value.split('.').map(Number)) : encodeName(r.value);
    const fixed = Buffer.alloc(10);
    fixed.writeUInt16BE(r.type === 'A' ? 1 : 5, 0);
    fixed.writeUInt16BE(1, 2);
    fixed.writeUInt32BE(r.ttl, 4);
    fixed.writeUInt16BE(rdata.length, 8);
    return Buffer.concat([encodeName(r.name), fixed, rdata]);
  });
  return Buffer.concat([h, query.subarray(12, end), ...rrs]);
}
