import { describe, expect, it } from 'vitest';
import { DnsFormatError, errorResponse, parseAnswer, parseQuery, RCODE, readName, withId } from '../../daemon/net/dns-wire.js';
import { buildAnswer, buildQuery } from '../helpers/net/dns-build.js';

describe('DNS wire subset', () => {
  it('reads the question of a query', () => {
    const q = buildQuery('WWW.Example.COM', 1, 0x1234);
    expect(parseQuery(q)).toEqual({ id: 0x1234, opcode: 0, name: 'www.example.com', type: 1, class: 1, questionEnd: q.length });
  });

  it('refuses what is not a single-question query', () => {
    const answer = buildAnswer(buildQuery('a.example'), []);
    expect(() => parseQuery(answer)).toThrow(/QR/);
    const two = buildQuery('a.example');
    two.writeUInt16BE(2, 4);
    expect(() => parseQuery(two)).toThrow(/one question/);
    expect(() => parseQuery(Buffer.alloc(5))).toThrow(DnsFormatError);
    expect(() => parseQuery(buildQuery('a.example').subarray(0, 20))).toThrow(DnsFormatError);
  });

  it('builds error answers that keep id, RD and the question', () => {
    const q = buildQuery('denied.example', 28, 0xbeef);
    const r = errorResponse(q, RCODE.REFUSED);
    const a = parseAnswer(r);
    expect(a).toMatchObject({ id: 0xbeef, rcode: RCODE.REFUSED, name: 'denied.example', type: 28, addresses: [] });
    expect(r.readUInt16BE(2) & 0x0100).toBe(0x0100); // RD copied
    expect(r.readUInt16BE(2) & 0x0080).toBe(0x0080); // RA
    // Garbage after a readable header: header-only FORMERR.
    const bad = Buffer.concat([q.subarray(0, 12), Buffer.from([0xc0])]);
    expect(errorResponse(bad, RCODE.FORMERR).length).toBe(12);
  });

  it('follows CNAME chains and ignores records of unrelated names', () => {
    const q = buildQuery('alias.example');
    const r = buildAnswer(q, [
      { name: 'alias.example', type: 'CNAME', value: 'mid.example', ttl: 30 },
      { name: 'target.example', type: 'A', value: '203.0.113.9', ttl: 50 },
      { name: 'mid.example', type: 'CNAME', value: 'target.example', ttl: 30 },
      { name: 'unrelated.example', type: 'A', value: '203.0.113.66', ttl: 50 },
    ]);
    expect(parseAnswer(r).addresses).toEqual([{ address: '203.0.113.9', ttl: 50 }]);
  });

  it('reads compressed names and stops compression loops', () => {
    // Header, question "a.example", one answer whose name is a pointer to the question name.
    const q = buildQuery('a.example', 1, 7);
    const header = Buffer.from(q.subarray(0, 12));
    header.writeUInt16BE(0x8180, 2);
    header.writeUInt16BE(1, 6);
    const rr = Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 9, 0, 4, 192, 0, 2, 7]);
    const msg = Buffer.concat([header, q.subarray(12), rr]);
    expect(parseAnswer(msg).addresses).toEqual([{ address: '192.0.2.7', ttl: 9 }]);

    const loop = Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xc0, 12]);
    expect(() => readName(loop, 12)).toThrow(/loop/);
    const truncated = Buffer.concat([msg.subarray(0, msg.length - 2)]);
    expect(() => parseAnswer(truncated)).toThrow(DnsFormatError);
  });

  it('replaces ids without touching the original', () => {
    const q = buildQuery('a.example', 1, 1);
    const w = withId(q, 0xffff);
    expect(w.readUInt16BE(0)).toBe(0xffff);
    expect(q.readUInt16BE(0)).toBe(1);
  });

  describe('hostile questions (issue 12 finding 10): hob judges exactly the bytes it forwards', () => {
    const label = (text: string): Buffer => Buffer.concat([Buffer.from([text.length]), Buffer.from(text, 'latin1')]);
    const typeClass = Buffer.from([0, 1, 0, 1]);
    const header = (counts: [number, number, number, number] = [1, 0, 0, 0]): Buffer => {
      const h = Buffer.alloc(12);
      h.writeUInt16BE(0x4242, 0);
      h.writeUInt16BE(0x0100, 2);
      counts.forEach((c, i) => h.writeUInt16BE(c, 4 + 2 * i));
      return h;
    };

    it('refuses a compression pointer in the question', () => {
      // "a" + pointer to offset 12 would make the name a.a.a... for hob and something else upstream.
      const msg = Buffer.concat([header(), label('ok'), label('example'), Buffer.from([0]), typeClass]);
      expect(() => parseQuery(msg)).not.toThrow();
      const pointer = Buffer.concat([header(), label('evil'), Buffer.from([0xc0, 12]), typeClass]);
      expect(() => parseQuery(pointer)).toThrow(/compression/);
    });

    it('refuses trailing bytes and records a query does not carry', () => {
      const q = buildQuery('web.example');
      expect(() => parseQuery(Buffer.concat([q, Buffer.from([0])]))).toThrow(/trailing/);
      expect(() => parseQuery(Buffer.concat([q, buildQuery('evil.example')]))).toThrow(/trailing/);
      const withAnswer = Buffer.from(q);
      withAnswer.writeUInt16BE(1, 6);
      const rr = Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 9, 0, 4, 192, 0, 2, 7]);
      expect(() => parseQuery(Buffer.concat([withAnswer, rr]))).toThrow(/answer or authority/);
    });

    it('accepts the EDNS OPT record of an ordinary resolver', () => {
      const q = buildQuery('web.example');
      q.writeUInt16BE(1, 10);
      const opt = Buffer.from([0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0]);
      expect(parseQuery(Buffer.concat([q, opt])).name).toBe('web.example');
      // An OPT whose data runs past the message is malformed.
      const short = Buffer.from([0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 9]);
      expect(() => parseQuery(Buffer.concat([q, short]))).toThrow(DnsFormatError);
    });

    it('refuses a label containing a dot (one label "x.ok.example" is not three)', () => {
      const msg = Buffer.concat([header(), label('x.ok.example'), Buffer.from([0]), typeClass]);
      expect(() => parseQuery(msg)).toThrow(/dot/);
      const answer = buildAnswer(buildQuery('web.example'), [{ name: 'web.example', type: 'A', value: '192.0.2.1', ttl: 5 }]);
      const dotted = Buffer.concat([answer.subarray(0, 12), label('web.example'), Buffer.from([0]), answer.subarray(12 + 13)]);
      expect(() => parseAnswer(dotted)).toThrow(/dot/);
    });

    it('never reads outside the buffer, whatever is cut off', () => {
      const q = buildQuery('a.web.example');
      for (let n = 0; n < q.length; n++) expect(() => parseQuery(q.subarray(0, n)), `first ${n} bytes`).toThrow(DnsFormatError);
      const a = buildAnswer(q, [{ name: 'a.web.example', type: 'A', value: '192.0.2.1', ttl: 5 }]);
      for (let n = 0; n < a.length; n++) expect(() => parseAnswer(a.subarray(0, n)), `first ${n} bytes`).toThrow(DnsFormatError);
    });
  });
});
