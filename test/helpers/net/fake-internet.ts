/**
 * The fake internet of the network tests, run inside its own namespace: an authoritative
 * DNS server (UDP and TCP) for a small zone, and an HTTP server on port 80 of every local
 * address that answers "web <local address>" (and `/bytes/N`: N bytes). Both log who asked what.
 *
 * argv[2]: JSON {dnsAddress: string, zone: TestRecord[]}.
 */
import dgram from 'node:dgram';
import http from 'node:http';
import net from 'node:net';
import { parseQuery } from '../../../daemon/net/dns-wire.js';
import { sendBytes } from './byte-stream.js';
import { buildAnswer, type TestRecord } from './dns-build.js';
import { serve } from './rpc.js';

const config = JSON.parse(process.argv[2] ?? '{}') as { dnsAddress: string; zone: TestRecord[] };
const queries: string[] = [];
const requests: string[] = [];

function answer(msg: Buffer): Buffer | undefined {
  try {
    const q = parseQuery(msg);
    queries.push(q.name);
    const out: TestRecord[] = [];
    let name = q.name;
    for (let i = 0; i < 8; i++) {
      const cname = config.zone.find((r) => r.name === name && r.type === 'CNAME');
      if (!cname) break;
      out.push(cname);
      name = cname.value;
    }
    if (q.type === 1) out.push(...config.zone.filter((r) => r.name === name && r.type === 'A'));
    const known = config.zone.some((r) => r.name === q.name);
    return buildAnswer(msg, out, known ? 0 : 3, q.questionEnd);
  } catch {
    return undefined;
  }
}

const udp = dgram.createSocket('udp4');
udp.on('message', (msg, rinfo) => {
  const a = answer(msg);
  if (a) udp.send(a, rinfo.port, rinfo.address);
});
await new Promise<void>((r) => udp.bind(53, config.dnsAddress, () => r()));

const tcp = net.createServer((sock) => {
  let buf = Buffer.alloc(0);
  sock.on('error', () => sock.destroy());
  sock.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
      const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
      buf = buf.subarray(2 + msg.length);
      const a = answer(Buffer.from(msg));
      if (!a) continue;
      const len = Buffer.alloc(2);
      len.writeUInt16BE(a.length);
      sock.write(Buffer.concat([len, a]));
    }
  });
});
await new Promise<void>((r) => tcp.listen(53, config.dnsAddress, () => r()));

const web = http.createServer((req, res) => {
  requests.push(`${req.socket.localAddress} ${req.headers.host ?? ''} from ${req.socket.remoteAddress}`);
  const bytes = /^\/bytes\/(\d{1,10})$/.exec(req.url ?? '');
  if (bytes) return sendBytes(res, Number(bytes[1]));
  res.end(`web ${req.socket.localAddress}`);
});
await new Promise<void>((r) => web.listen(80, '0.0.0.0', () => r()));

serve({
  /** Names asked so far (in order), then forgets them. */
  takeQueries: () => queries.splice(0),
  /** HTTP requests so far: "<local addr> <host header> from <remote addr>", then forgets them. */
  takeRequests: () => requests.splice(0),
});
