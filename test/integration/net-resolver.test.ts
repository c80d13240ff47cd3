/**
 * hob's DNS forwarder on loopback (no namespaces needed): policy decisions, forwarding over
 * UDP and TCP, the allow hook running before the answer goes out, and failures.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAnswer, parseQuery, RCODE } from '../../daemon/net/dns-wire.js';
import { compilePolicy, type CompiledPolicy } from '../../daemon/net/policy.js';
import { SandboxResolver } from '../../daemon/net/resolver.js';
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
  let servers: () => UpstreamServer[];

  const zoneAnswer = (q: Buffer): Buffer => {
    const { name, questionEnd } = parseQuery(q);
    asked.push(name);
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
});
