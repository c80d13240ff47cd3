import { describe, expect, it } from 'vitest';
import { FramePacer } from '../../daemon/api/frame-pacer.js';
import { Scrollback } from '../../daemon/core/scrollback.js';

const text = (sb: Scrollback) => sb.snapshot().map((c) => `${c.stream}:${c.data.toString()}`);

describe('Scrollback ring', () => {
  it('keeps everything while under capacity, in order, with stream ids', () => {
    const sb = new Scrollback(100);
    sb.push(1, Buffer.from('out'));
    sb.push(2, Buffer.from('err'));
    sb.push(1, Buffer.alloc(0));
    expect(text(sb)).toEqual(['1:out', '2:err']);
    expect(sb.bytes).toBe(6);
  });

  it('drops the oldest bytes first, trimming a chunk partially', () => {
    const sb = new Scrollback(8);
    sb.push(1, Buffer.from('abcd'));
    sb.push(2, Buffer.from('efgh'));
    sb.push(1, Buffer.from('ij'));
    expect(text(sb)).toEqual(['1:cd', '2:efgh', '1:ij']);
    expect(sb.bytes).toBe(8);
  });

  it('keeps only the tail of a chunk larger than the ring', () => {
    const sb = new Scrollback(4);
    sb.push(1, Buffer.from('xy'));
    sb.push(1, Buffer.from('0123456789'));
    expect(text(sb)).toEqual(['1:6789']);
  });

  it('copies pushed data (a caller reusing its buffer cannot change history)', () => {
    const sb = new Scrollback(10);
    const buf = Buffer.from('abc');
    sb.push(1, buf);
    buf.write('zzz');
    expect(text(sb)).toEqual(['1:abc']);
  });
});

describe('FramePacer', () => {
  it('sends the first frame at once, merges same-stream output queued meanwhile, never merges across streams or into the exit', async () => {
    const sent: Buffer[] = [];
    const pacer = new FramePacer((f) => sent.push(f), 5);
    pacer.push(1, Buffer.from('a'));
    pacer.push(1, Buffer.from('b'));
    pacer.push(1, Buffer.from('c'));
    pacer.push(2, Buffer.from('E'));
    pacer.push(2, Buffer.from('F'));
    pacer.push(3, Buffer.from([0]), false);
    expect(sent.map((f) => f.toString('latin1'))).toEqual(['\x01a']);
    expect(pacer.backlog).toBe(5);
    await pacer.drained();
    expect(sent.map((f) => f.toString('latin1'))).toEqual(['\x01a', '\x01bc', '\x02EF', '\x03\x00']);
    expect(pacer.backlog).toBe(0);
    await pacer.drained();
  });
});
