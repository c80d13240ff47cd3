/**
 * One flood against one host protocol stack, in a process of its own so that its RSS is
 * the attack's alone (bench/floods.ts runs it). The host end is the AgentClient of the
 * checkout at argv[2] (this one, or an older one to compare with); the attacker end is
 * raw frames (the hostile-guest helper's rawFrame) on a real unix socket pair (it needs no
 * Mux: it answers HELLO and the first request, then floods).
 *
 * argv: <checkout root> <attack name> <flood bytes>
 * stdout: one JSON line { rssGrowthMiB, dropped, seconds }.
 */
import net from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { rawFrame, writeDrained } from '../test/helpers/hostile-agent.js';

interface Client {
  readonly isClosed: boolean;
  stat(path: string): Promise<unknown>;
  run(argv: string[]): Promise<unknown>;
  exec(options: { argv: string[] }): Promise<unknown>;
}
interface ClientModule {
  AgentClient: { connect(stream: net.Socket, options?: object): Promise<Client> };
}

const [root = '.', attack = 'window-overrun', floodArg = String(64 * 2 ** 20)] = process.argv.slice(2);
const FLOOD = Number(floodArg);
const { AgentClient } = (await import(pathToFileURL(join(root, 'daemon/agent/index.ts')).href)) as ClientModule;

const frame = (kind: number, channel: number, payload: Buffer, stream = 0, claimed = payload.length): Buffer => rawFrame(kind, channel, payload, stream, claimed);
const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));

async function socketPair(): Promise<[net.Socket, net.Socket]> {
  const path = `/tmp/hob-flood-${process.pid}.sock`;
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(path, () => r()));
  const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
  const a = net.connect(path);
  const b = await accepted;
  server.close();
  return [a, b];
}

/** Reads the host's frames; calls `onFrame` with kind, channel and payload. */
function readFrames(sock: net.Socket, onFrame: (kind: number, channel: number, payload: Buffer) => void): void {
  let buf = Buffer.alloc(0);
  sock.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 12 && buf.length >= 12 + buf.readUInt32BE(8)) {
      const n = buf.readUInt32BE(8);
      onFrame(buf[2] as number, buf.readUInt32BE(4), buf.subarray(12, 12 + n));
      buf = buf.subarray(12 + n);
    }
  });
}

async function flood(sock: net.Socket, make: (i: number) => Buffer, total: number): Promise<void> {
  let sent = 0;
  for (let i = 0; sent < total; i++) {
    const batch: Buffer[] = [];
    let size = 0;
    while (size < 256 * 1024) {
      const f = make(i++);
      batch.push(f);
      size += f.length;
    }
    if (!(await writeDrained(sock, Buffer.concat(batch)))) return;
    sent += size;
  }
}

const [hostSock, agentSock] = await socketPair();
hostSock.on('error', () => undefined);
agentSock.on('error', () => undefined);
let firstRequest: (channel: number) => void = () => undefined;
const requested = new Promise<number>((r) => (firstRequest = r));
readFrames(agentSock, (kind, channel, payload) => {
  if (kind === 1) {
    const nonce = (JSON.parse(payload.toString()) as { nonce?: string }).nonce;
    agentSock.write(frame(1, 0, json({ role: 'agent', version: 1, agentVersion: 'flood', capabilities: ['exec', 'fs.stat', 'ping', 'hello.nonce'], bootId: 'b', ...(nonce ? { nonce } : {}) })));
  } else if (kind === 2) {
    firstRequest(channel);
  }
});
const client = await AgentClient.connect(hostSock, { timeoutMs: 10_000 });
global.gc?.();
const rssBefore = process.memoryUsage().rss;
const started = performance.now();

switch (attack) {
  case 'window-overrun': {
    // An exec whose output nobody reads, flooded far beyond the 1 MiB window.
    void client.exec({ argv: ['cat'] }).catch(() => undefined);
    const channel = await requested;
    agentSock.write(frame(2, channel, json({ type: 'ready', value: { pid: 1 } })));
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    await flood(agentSock, () => frame(3, channel, chunk, 1), FLOOD);
    break;
  }
  case 'unknown-channels-not-reading': {
    // CONTROL frames on channels the host never opened, while never reading what it answers.
    agentSock.pause();
    agentSock.removeAllListeners('data');
    const payload = json({ type: 'result', value: {} });
    await flood(agentSock, (i) => frame(2, 0x4000_0000 + i, payload), FLOOD);
    break;
  }
  case 'hello-flood':
    await flood(agentSock, () => frame(1, 0, json({ role: 'agent', version: 1, agentVersion: 'x'.repeat(1000), capabilities: [], bootId: 'b' })), FLOOD);
    break;
  case 'huge-lengths':
    await flood(agentSock, () => frame(2, 7, Buffer.alloc(0), 0, 0xffff_ffff), FLOOD);
    break;
  case 'run-endless-output': {
    // A well-behaved stream (it honours the window) that never ends, into run().
    let settled = false;
    const run = client.run(['yes']).catch(() => undefined).finally(() => (settled = true));
    const channel = await requested;
    agentSock.write(frame(2, channel, json({ type: 'ready', value: { pid: 1 } })));
    let credit = 1024 * 1024;
    readFrames(agentSock, (kind, ch, payload) => {
      if (kind === 4 && ch === channel) credit += payload.readUInt32BE(0);
    });
    const chunk = Buffer.alloc(64 * 1024, 0x62);
    for (let sent = 0; sent < FLOOD && !client.isClosed && !settled; ) {
      if (credit < chunk.length) {
        await new Promise((r) => setTimeout(r, 1));
        if (agentSock.destroyed) break;
        continue;
      }
      credit -= chunk.length;
      sent += chunk.length;
      if (!(await writeDrained(agentSock, frame(3, channel, chunk, 1)))) break;
    }
    await Promise.race([run, new Promise((r) => setTimeout(r, 2000))]);
    break;
  }
  default:
    throw new Error(`unknown attack ${attack}`);
}
await new Promise((r) => setTimeout(r, 200));
const peak = process.memoryUsage().rss;
process.stdout.write(`${JSON.stringify({ rssGrowthMiB: (peak - rssBefore) / 2 ** 20, dropped: client.isClosed, seconds: (performance.now() - started) / 1000 })}\n`);
process.exit(0);
