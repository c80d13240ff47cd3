/**
 * hob's DNS forwarder on loopback (no namespaces needed): policy decisions, forwarding over
 * UDP and TCP, the allow hook running before the answer goes out, and failures.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAnswer, parseQuery, RCODE } from '../../daemon/net/dns-wire.js';
import { compilePolicy, type CompiledPolicy } from '../../daemon/net/policy.js';
import { LengthPrefixedReader, MAX_TCP_PENDING, SandboxResolver } from '../../daemon/net/resolver.js';
import type { UpstreamServer } from '../../daemon/net/upstream.js';
import { buildAnswer, buildQuery } from '../helpers/net/dns-build.js';

const LOOPBACK = '127.0.0.1';

function udpAsk(port: number, msg: Buffer): Promise<Buffer | 'timeout'> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    const t = setTimeout(() => {
      s.close();
      resolve('timeout');
    }, 3000);
    s.on('message', (m) => {
      clearTimeout(t);
      s.close();
      resolve(m);
    });
    s.send(msg, port, LOOPBACK);
  });
}

function tcpAsk(port: number, msgs: Buffer[]): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: LOOPBACK, port });
    let buf = Buffer.alloc(0);
    const out: Buffer[] = [];
    s.on('error', reject);
    s.on('connect', () => {
      s.write(Buffer.concat(msgs.map((m) => Buffer.concat([Buffer.from([m.length >> 8, m.length & 255]), m]))));
    });
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        out.push(Buffer.from(buf.subarray(2, 2 + buf.readUInt16BE(0))));
        buf = buf.subarray(2 + buf.readUInt16BE(0));
      }
      if (out.length === msgs.length) {
        s.destroy();
        resolve(out);
      }
    });
  });
}

describe('hob resolver', () => {
  let upstreamUdp: dgram.Socket;
  let upstreamTcp: net.Server;
  let upstream: UpstreamServer;
  let resolver: SandboxResolver;
  const asked: string[] = [];
  const events: string[] = [];
  let policy: CompiledPolicy = compilePolicy({ rules: [{ domain: 'web.example', action: 'allow' }, { domain: '*.ok.example', action: 'allow' }] });
  let hookFails = false;
  /** When set, the upstream answers the question for this name instead (same id). */
  let renameTo: string | undefined;
  let servers: () => UpstreamServer[];

  const zoneAnswer = (q: Buffer): Buffer => {
    const { name, questionEnd } = parseQuery(q);
    asked.push(name);
    if (renameTo) {
      const other = buildQuery(renameTo, 1, q.readUInt16BE(0));
      return buildAnswer(other, [{ name: renameTo, type: 'A', value: '198.51.100.81', ttl: 30 }]);
    }
    return buildAnswer(q, name.endsWith('example') ? [{ name, type: 'A', value: '198.51.100.80', ttl: 30 }] : [], 0, questionEnd);
  };

  beforeAll(async () => {
    upstreamUdp = dgram.createSocket('udp4');
    upstreamUdp.on('message', (m, r) => upstreamUdp.send(zoneAnswer(m), r.port, r.address));
    await new Promise<void>((r) => upstreamUdp.bind(0, LOOPBACK, () => r()));
    const port = upstreamUdp.address().port;
    upstreamTcp = net.createServer((s) => {
      s.on('error', () => undefined);
      s.on('data', (d: Buffer) => {
        const a = zoneAnswer(d.subarray(2));
        s.write(Buffer.concat([Buffer.from([a.length >> 8, a.length & 255]), a]));
      });
    });
    await new Promise<void>((r) => upstreamTcp.listen(port, LOOPBACK, () => r()));
    upstream = { address: LOOPBACK, port, family: 4 };
    servers = () => [upstream];
    resolver = await SandboxResolver.start({
      address: LOOPBACK,
      port: 0,
      upstream: () => servers(),
      policy: () => policy,
      onAnswer: async (name, addresses) => {
        await new Promise((r) => setTimeout(r, 20));
        if (hookFails) throw new Error('nft failed');
        events.push(`allow ${name} ${addresses.map((a) => `${a.address}/${a.ttl}`).join(',')}`);
      },
    });
  });

  afterAll(async () => {
    await resolver?.close();
    upstreamUdp?.close();
    upstreamTcp?.close();
  });

  it('forwards allowed names and runs the allow hook before answering', async () => {
    const q = buildQuery('web.example', 1, 4242);
    const r = await udpAsk(resolver.port, q);
    events.push('answer');
    expect(r).not.toBe('timeout');
    const a = parseAnswer(r as Buffer);
    expect(a).toMatchObject({ id: 4242, rcode: 0, name: 'web.example', addresses: [{ address: '198.51.100.80', ttl: 30 }] });
    expect(events.splice(0)).toEqual(['allow web.example 198.51.100.80/30', 'answer']);
  });

  it('refuses denied names without asking upstream', async () => {
    asked.splice(0);
    for (const name of ['other.example', 'ok.example', 'evil.web.example']) {
      const a = parseAnswer((await udpAsk(resolver.port, buildQuery(name))) as Buffer);
      expect(a.rcode, name).toBe(RCODE.REFUSED);
    }
    expect(asked).toEqual([]);
    const sub = parseAnswer((await udpAsk(resolver.port, buildQuery('a.ok.example'))) as Buffer);
    expect(sub.rcode).toBe(0);
    expect(asked).toEqual(['a.ok.example']);
  });

  it('answers several queries on one TCP connection', async () => {
    const answers = await tcpAsk(resolver.port, [buildQuery('web.example', 1, 1), buildQuery('denied.example', 1, 2)]);
    const byId = new Map(answers.map((b) => [parseAnswer(b).id, parseAnswer(b)]));
    expect(byId.get(1)).toMatchObject({ rcode: 0, addresses: [{ address: '198.51.100.80' }] });
    expect(byId.get(2)).toMatchObject({ rcode: RCODE.REFUSED });
  });

  it('applies a new policy to the next query', async () => {
    const before = policy;
    policy = compilePolicy({ rules: [] });
    try {
      expect(parseAnswer((await udpAsk(resolver.port, buildQuery('other.example'))) as Buffer).rcode).toBe(0);
    } finally {
      policy = before;
    }
    expect(parseAnswer((await udpAsk(resolver.port, buildQuery('other.example'))) as Buffer).rcode).toBe(RCODE.REFUSED);
  });

  it('answers SERVFAIL when the allow hook fails or no upstream answers', async () => {
    hookFails = true;
    try {
      expect(parseAnswer((await udpAsk(resolver.port, buildQuery('web.example'))) as Buffer).rcode).toBe(RCODE.SERVFAIL);
    } finally {
      hookFails = false;
    }
    // A closed port on loopback: the upstream exchange fails at once (ICMP port unreachable).
    const closed = dgram.createSocket('udp4');
    await new Promise<void>((r) => closed.bind(0, LOOPBACK, () => r()));
    const deadPort = closed.address().port;
    closed.close();
    servers = () => [{ address: LOOPBACK, port: deadPort, family: 4 }];
    try {
      expect(parseAnswer((await udpAsk(resolver.port, buildQuery('web.example'))) as Buffer).rcode).toBe(RCODE.SERVFAIL);
    } finally {
      servers = () => [upstream];
    }
  });

  it('answers FORMERR to malformed queries and ignores non-queries', async () => {
    const bad = Buffer.concat([buildQuery('x.example').subarray(0, 12), Buffer.from([0x3f])]);
    const r = await udpAsk(resolver.port, bad);
    expect(r).not.toBe('timeout');
    expect(parseAnswer(r as Buffer).rcode).toBe(RCODE.FORMERR);
    const notQuery = buildAnswer(buildQuery('x.example'), []);
    expect(await udpAsk(resolver.port, notQuery)).toBe('timeout');
  });

  it('answers FORMERR to hostile questions without asking upstream (issue 12 finding 10)', async () => {
    asked.splice(0);
    const label = (t: string): Buffer => Buffer.concat([Buffer.from([t.length]), Buffer.from(t, 'latin1')]);
    const head = buildQuery('x').subarray(0, 12);
    const typeClass = Buffer.from([0, 1, 0, 1]);
    const hostile = {
      // One label "web.example": hob would judge the allowed name web.example.
      dottedLabel: Buffer.concat([head, label('web.example'), Buffer.from([0]), typeClass]),
      // "a" + pointer back into the header: a name hob and the upstream may read differently.
      pointer: Buffer.concat([head, label('web'), Buffer.from([0xc0, 12]), typeClass]),
      trailing: Buffer.concat([buildQuery('web.example'), buildQuery('other.example')]),
    };
    for (const [what, msg] of Object.entries(hostile)) {
      for (const r of [await udpAsk(resolver.port, msg), ...(await tcpAsk(resolver.port, [msg]))]) {
        expect(r, what).not.toBe('timeout');
        expect(parseAnswer(r as Buffer).rcode, what).toBe(RCODE.FORMERR);
      }
    }
    expect(asked).toEqual([]);
  });

  it('answers SERVFAIL when the upstream answers another name than hob parsed', async () => {
    renameTo = 'other.example';
    const eventsBefore = events.length;
    try {
      const [tcp] = await tcpAsk(resolver.port, [buildQuery('web.example', 1, 9)]);
      expect(parseAnswer(tcp!)).toMatchObject({ id: 9, rcode: RCODE.SERVFAIL, addresses: [] });
      const udp = await udpAsk(resolver.port, buildQuery('web.example', 1, 10));
      expect(parseAnswer(udp as Buffer)).toMatchObject({ id: 10, rcode: RCODE.SERVFAIL, addresses: [] });
    } finally {
      renameTo = undefined;
    }
    expect(events.slice(eventsBefore).filter((e) => e.includes('other.example'))).toEqual([]);
  });

  it('reads a TCP query trickled one byte at a time (issue 12 finding 5)', async () => {
    const q = buildQuery('web.example', 1, 77);
    const framed = Buffer.concat([Buffer.from([q.length >> 8, q.length & 255]), q]);
    const answer = await new Promise<Buffer>((resolve, reject) => {
      const s = net.connect({ host: LOOPBACK, port: resolver.port });
      s.setNoDelay(true);
      s.on('error', reject);
      let buf = Buffer.alloc(0);
      s.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          s.destroy();
          resolve(buf.subarray(2));
        }
      });
      s.on('connect', async () => {
        for (const byte of framed) {
          s.write(Buffer.from([byte]));
          await new Promise((r) => setTimeout(r, 1));
        }
      });
    });
    expect(parseAnswer(answer)).toMatchObject({ id: 77, rcode: 0 });
  });

  it('stops reading a TCP client that sends queries but never reads its answers (issue 12 finding 5)', async () => {
    asked.splice(0);
    const q = buildQuery('web.example', 1, 5);
    const framed = Buffer.concat([Buffer.from([q.length >> 8, q.length & 255]), q]);
    const s = net.connect({ host: LOOPBACK, port: resolver.port });
    s.on('error', () => undefined);
    await new Promise<void>((r) => s.on('connect', () => r()));
    s.pause();
    // Up to 40 MiB of queries for 8 s; a resolver that answered them all would queue twice that in answers for us.
    const flood = Buffer.concat(Array.from({ length: 4096 }, () => framed));
    let written = 0;
    const deadline = Date.now() + 8000;
    while (written < 40 * 1024 * 1024 && Date.now() < deadline) {
      if (!s.write(flood)) await Promise.race([new Promise((r) => s.once('drain', r)), new Promise((r) => setTimeout(r, 500))]);
      written += flood.length;
    }
    // Let the resolver work through what it read.
    await new Promise((r) => setTimeout(r, 1500));
    const answered = asked.length;
    s.destroy();
    // It stopped reading: far fewer queries were answered than sent (each answer is ~45 bytes; the
    // bound is the socket buffers plus MAX_TCP_UNSENT_BYTES, not the flood).
    expect(written).toBeGreaterThan(2 * 1024 * 1024);
    expect(answered).toBeLessThan(written / framed.length / 4);
    expect(answered).toBeGreaterThan(MAX_TCP_PENDING);
    // And it still serves others.
    expect(parseAnswer((await udpAsk(resolver.port, buildQuery('web.example', 1, 6))) as Buffer).rcode).toBe(0);
  });
});

describe('LengthPrefixedReader', () => {
  it('splits messages across and within chunks, and joins a trickled message once', () => {
    const msg = (n: number, fill: number): Buffer => Buffer.concat([Buffer.from([n >> 8, n & 255]), Buffer.alloc(n, fill)]);
    const stream = Buffer.concat([msg(3, 1), msg(0, 0), msg(60_000, 2), msg(5, 3)]);
    const reader = new LengthPrefixedReader();
    const out: Buffer[] = [];
    const originalConcat = Buffer.concat;
    let copied = 0;
    Buffer.concat = ((list: readonly Uint8Array[], total?: number) => {
      const b = originalConcat(list, total);
      copied += b.length;
      return b;
    }) as typeof Buffer.concat;
    try {
      for (let i = 0; i < stream.length; i += 7) out.push(...reader.push(stream.subarray(i, i + 7)));
    } finally {
      Buffer.concat = originalConcat;
    }
    expect(out.map((m) => m.length)).toEqual([3, 0, 60_000, 5]);
    expect(out[2]!.every((b) => b === 2)).toBe(true);
    expect(copied).toBeLessThan(4 * stream.length);
  });
});
