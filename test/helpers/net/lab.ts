/**
 * The network tests' laboratory. Everything lives in namespaces it creates; nothing touches
 * the root namespace's links or nftables:
 *
 *   [guest netns] eth0 ══ socat ══ tap0 [hob sandbox netns] up0 ── hv-<id> [host netns H] wan0 ── isp0 [internet netns I]
 *
 * - H plays the machine hobd runs on: hob's SandboxNetwork runs there (host-driver.ts, a
 *   process started with `nsenter --net`, so the netns names it creates are visible to the
 *   test), with a TCP listener standing in for hobd's API.
 *   Its only uplink leads to I.
 * - I is the fake internet: DNS server 198.51.100.53 and an HTTP server on every local
 *   address, including "private" ones (192.168.77.1, 100.64.7.1, 169.254.7.1) that H itself
 *   can reach, so every "the guest cannot reach X" has a "but the host can" beside it.
 * - A VM would open tap0; here a socat in the sandbox namespace opens it and relays frames
 *   over a unix datagram socket pair to a second socat that owns the tap eth0 of a "guest"
 *   namespace. So the guest side is a real L2 peer of tap0 (ARP, carrier, MAC), exactly
 *   what a virtio-net device gives, without booting a VM.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { GATEWAY_ADDRESS, GUEST_ADDRESS, GUEST_PREFIX } from '../../../daemon/net/addresses.js';
import { attachFakeInternet, DNS_SERVER } from './internet.js';
import { createTestNetns, type TestNetns } from '../netns.js';
import { startRpc, type RpcProcess } from './rpc.js';

export { DNS_SERVER, HOST_WAN, ISP, PRIVATE_TARGETS, WEB, ZONE } from './internet.js';
/** Port of the stand-in for hobd's API listener in H. */
export const HOST_API_PORT = 7707;
export const TRANSIT_RANGE = '10.213.0.0/16';
export const RESOLVER_PORT = 10053;

/** Why these tests cannot run here, or null. */
export function labUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'network namespaces and nftables need root';
  for (const tool of ['/usr/sbin/nft', '/usr/bin/socat', '/usr/bin/nsenter', '/dev/net/tun']) if (!existsSync(tool)) return `${tool} is missing`;
  return null;
}

/** A fake guest attached to a sandbox's tap0. */
export interface Guest {
  readonly netns: TestNetns;
  call<T>(op: string, args?: unknown): Promise<T>;
  dispose(): Promise<void>;
}

export interface Lab {
  readonly host: TestNetns;
  readonly internet: TestNetns;
  /** netns prefix of this lab's sandboxes ("hn<hex>-"). */
  readonly prefix: string;
  readonly driver: RpcProcess;
  readonly fakeInternet: RpcProcess;
  /** Runs `ip` in H. */
  ipHost(args: readonly string[]): Promise<string>;
  /** `nft list ruleset` in H. */
  hostRuleset(): Promise<string>;
  /** Starts a new driver process (after killing the old one: a "crash"). */
  restartDriver(): Promise<RpcProcess>;
  attachGuest(sandboxNetns: string): Promise<Guest>;
  dispose(): Promise<void>;
}

async function ip(netns: string, args: readonly string[]): Promise<string> {
  return (await execa('ip', ['-n', netns, ...args])).stdout;
}

export async function createLab(): Promise<Lab> {
  const tag = randomBytes(3).toString('hex');
  const prefix = `hn${tag}-`;
  const cleanups: (() => Promise<unknown>)[] = [];
  const cleanup = async (): Promise<void> => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
  };
  try {
    const host = await createTestNetns('hobt');
    cleanups.push(() => host.dispose());
    // The host's ICMP rate limit would turn some of the many rejections these tests provoke
    // into silent drops (the dial then fails only after a SYN retransmission).
    await execa('ip', ['netns', 'exec', host.name, 'sysctl', '-q', '-w', 'net.ipv4.icmp_ratelimit=0']);
    const world = await attachFakeInternet(host);
    cleanups.push(() => world.dispose());
    const { netns: internet, rpc: fakeInternet } = world;

    // Sandboxes of this lab are torn down by the driver; these catch what a failing test left.
    cleanups.push(async () => {
      const { readdir } = await import('node:fs/promises');
      for (const n of await readdir('/run/netns').catch(() => [] as string[])) {
        if (n.startsWith(prefix)) await execa('ip', ['netns', 'delete', n], { reject: false });
      }
    });

    const forwardingStateFile = `/tmp/${prefix}forwarding.json`;
    cleanups.push(() => rm(forwardingStateFile, { force: true }));
    const driverOpts = JSON.stringify({ transitRange: TRANSIT_RANGE, resolverPort: RESOLVER_PORT, upstreamDns: [DNS_SERVER], netnsPrefix: prefix, forwardingStateFile });
    let driver = await startRpc(host.name, 'test/helpers/net/host-driver.ts', [driverOpts], { mountNs: 'shared' });
    cleanups.push(() => driver.kill());
    await driver.call('listen', { port: HOST_API_PORT });

    const lab: Lab = {
      host,
      internet,
      prefix,
      get driver() {
        return driver;
      },
      fakeInternet,
      ipHost: (args) => ip(host.name, args),
      hostRuleset: async () => (await execa('ip', ['netns', 'exec', host.name, 'nft', 'list', 'ruleset'])).stdout,
      restartDriver: async () => {
        await driver.kill('SIGKILL');
        driver = await startRpc(host.name, 'test/helpers/net/host-driver.ts', [driverOpts], { mountNs: 'shared' });
        await driver.call('listen', { port: HOST_API_PORT });
        return driver;
      },
      attachGuest: async (sandboxNetns) => {
        const g = await attachGuest(sandboxNetns);
        cleanups.push(() => g.dispose());
        return g;
      },
      dispose: cleanup,
    };
    return lab;
  } catch (err) {
    await cleanup();
    throw err;
  }
}

async function waitFor(path: string, what: () => string): Promise<void> {
  for (let i = 0; i < 100 && !existsSync(path); i++) await sleep(50);
  if (!existsSync(path)) throw new Error(`${path} did not appear: ${what()}`);
}

async function attachGuest(sandboxNetns: string): Promise<Guest> {
  const netns = await createTestNetns('hobtg');
  const sockA = `/tmp/${netns.name}-a.sock`;
  const sockB = `/tmp/${netns.name}-b.sock`;
  const procs: ChildProcess[] = [];
  let log = '';
  const start = (argv: string[]): void => {
    const p = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
    p.stderr?.on('data', (d: Buffer) => (log += d.toString()));
    procs.push(p);
  };
  let probe: RpcProcess | undefined;
  const dispose = async (): Promise<void> => {
    await probe?.kill().catch(() => undefined);
    for (const p of procs) {
      if (p.exitCode === null && p.signalCode === null) {
        const gone = new Promise((r) => p.once('exit', r));
        p.kill('SIGKILL');
        await gone;
      }
    }
    await netns.dispose();
    await rm(sockA, { force: true });
    await rm(sockB, { force: true });
  };
  try {
    // No IPv6 in the guest: nothing is sent on eth0 before both relays are up.
    await execa('ip', ['netns', 'exec', netns.name, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
    // -s: a datagram to a peer that is not bound yet must not end the relay.
    start(['ip', 'netns', 'exec', sandboxNetns, 'socat', '-s', 'TUN,tun-name=tap0,tun-type=tap,iff-no-pi', `UNIX-SENDTO:${sockB},bind=${sockA}`]);
    await waitFor(sockA, () => log);
    start(['ip', 'netns', 'exec', netns.name, 'socat', '-s', `TUN:${GUEST_ADDRESS}/${GUEST_PREFIX},tun-name=eth0,tun-type=tap,iff-no-pi,iff-up`, `UNIX-SENDTO:${sockA},bind=${sockB}`]);
    await waitFor(sockB, () => log);
    await ip(netns.name, ['route', 'add', 'default', 'via', GATEWAY_ADDRESS]);
    probe = await startRpc(netns.name, 'test/helpers/net/guest.ts');
    const p = probe;
    return { netns, call: (op, args) => p.call(op, args), dispose };
  } catch (err) {
    await dispose();
    throw new Error(`cannot attach a guest to ${sandboxNetns}: ${(err as Error).message}\n${log}`);
  }
}
