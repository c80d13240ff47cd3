/**
 * The fake internet of the network tests: a namespace I linked to a "host" namespace H
 * (wan0 in H, isp0 in I, H's default route via I), holding an authoritative DNS server
 * and an HTTP server on every address it has, including addresses in ranges a guest must
 * never reach. Nothing leaves the two namespaces.
 *
 * HTTP: `GET /` answers "web <local address>"; `GET /bytes/N` streams N bytes (bench).
 */
import { execa } from 'execa';
import type { TestRecord } from './dns-build.js';
import { createTestNetns, type TestNetns } from '../netns.js';
import { startRpc, type RpcProcess } from './rpc.js';

export const HOST_WAN = '203.0.113.1';
export const ISP = '203.0.113.254';
export const DNS_SERVER = '198.51.100.53';
/**
 * Addresses of the fake internet (each serves HTTP on port 80). `github` and `anthropic` are
 * where github.com and api.anthropic.com resolve there: the secrets tests' fake upstreams.
 */
export const WEB = {
  web: '198.51.100.80', other: '198.51.100.81', sub: '198.51.100.82', unnamed: '198.51.100.83',
  github: '198.51.100.84', anthropic: '198.51.100.85',
} as const;
/** Addresses in ranges a guest must never reach; the fake internet serves HTTP on them too. */
export const PRIVATE_TARGETS = ['192.168.77.1', '100.64.7.1', '169.254.7.1', '10.99.0.1', '172.20.0.1'] as const;

export const ZONE: readonly TestRecord[] = [
  { name: 'web.example', type: 'A', value: WEB.web, ttl: 60 },
  { name: 'other.example', type: 'A', value: WEB.other, ttl: 60 },
  { name: 'a.web.example', type: 'A', value: WEB.sub, ttl: 60 },
  { name: 'alias.example', type: 'CNAME', value: 'web.example', ttl: 60 },
  { name: 'lan.example', type: 'A', value: '192.168.77.1', ttl: 60 },
  { name: 'github.com', type: 'A', value: WEB.github, ttl: 60 },
  { name: 'api.anthropic.com', type: 'A', value: WEB.anthropic, ttl: 60 },
];

export interface FakeInternet {
  readonly netns: TestNetns;
  /** `takeQueries()` → names asked; `takeRequests()` → "<local addr> <host> from <remote>". */
  readonly rpc: RpcProcess;
  dispose(): Promise<void>;
}

async function ip(netns: string, args: readonly string[]): Promise<string> {
  return (await execa('ip', ['-n', netns, ...args])).stdout;
}

/** Links a new fake internet to `host` and routes `host`'s default traffic to it. */
export async function attachFakeInternet(host: TestNetns): Promise<FakeInternet> {
  const internet = await createTestNetns('hobt');
  let rpc: RpcProcess | undefined;
  const dispose = async (): Promise<void> => {
    await rpc?.kill().catch(() => undefined);
    await internet.dispose();
  };
  try {
    await ip(host.name, ['link', 'add', 'wan0', 'type', 'veth', 'peer', 'name', 'isp0', 'netns', internet.name]);
    await ip(host.name, ['addr', 'add', `${HOST_WAN}/24`, 'dev', 'wan0']);
    await ip(host.name, ['link', 'set', 'wan0', 'up']);
    await ip(host.name, ['route', 'add', 'default', 'via', ISP]);
    await ip(internet.name, ['addr', 'add', `${ISP}/24`, 'dev', 'isp0']);
    await ip(internet.name, ['link', 'set', 'isp0', 'up']);
    for (const a of [DNS_SERVER, ...Object.values(WEB), ...PRIVATE_TARGETS]) await ip(internet.name, ['addr', 'add', `${a}/32`, 'dev', 'lo']);
    rpc = await startRpc(internet.name, 'test/helpers/net/fake-internet.ts', [JSON.stringify({ dnsAddress: DNS_SERVER, zone: ZONE })]);
    return { netns: internet, rpc, dispose };
  } catch (err) {
    await dispose();
    throw err;
  }
}
