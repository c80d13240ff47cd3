/**
 * Sandbox networking, default policy: a guest reaches the (fake) internet by name and by
 * address, and cannot reach the host, another sandbox or private ranges. Everything runs
 * in namespaces this test creates (see test/helpers/net/lab.ts); no VM is booted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { createTestNetns } from '../helpers/netns.js';
import { newId } from '../../daemon/db/ids.js';
import { GATEWAY_ADDRESS, GATEWAY_MAC, macForSandbox, transitAddresses } from '../../daemon/net/addresses.js';
import type { SandboxNetConfig } from '../../daemon/net/index.js';
import {
  createLab, DNS_SERVER, HOST_API_PORT, HOST_WAN, ISP, labUnavailable, PRIVATE_TARGETS, RESOLVER_PORT, TRANSIT_RANGE, WEB,
  type Guest, type Lab,
} from '../helpers/net/lab.js';
import type { Outcome, RawDnsResult } from '../helpers/net/probe.js';

const unavailable = labUnavailable();

describe.skipIf(unavailable !== null)(`sandbox network isolation${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  let lab: Lab;
  const a = { id: newId(), slot: 3 };
  const b = { id: newId(), slot: 4 };
  let netA: SandboxNetConfig;
  let netB: SandboxNetConfig;
  let guestA: Guest;

  beforeAll(async () => {
    lab = await createLab();
    netA = await lab.driver.call<SandboxNetConfig>('setup', a);
    netB = await lab.driver.call<SandboxNetConfig>('setup', b);
    guestA = await lab.attachGuest(netA.netSpec.netns!);
  });

  afterAll(async () => {
    await lab?.dispose();
  });

  it('returns the VM network spec and the kernel command line', () => {
    expect(netA.netSpec).toEqual({ tap: 'tap0', mac: macForSandbox(a.id), netns: `${lab.prefix}${a.id}` });
    expect(netA.cmdlineArgs).toBe('hob.ip=172.31.255.2/30 hob.gw=172.31.255.1 hob.dns=172.31.255.1');
    expect(netA.transit).toEqual(transitAddresses(TRANSIT_RANGE, a.slot));
    expect(netB.netSpec.mac).not.toBe(netA.netSpec.mac);
  });

  it('builds the namespace: tap0 with the fixed gateway address and MAC, no IPv6 anywhere', async () => {
    const ns = netA.netSpec.netns!;
    const tap = JSON.parse((await execa('ip', ['-n', ns, '-j', 'addr', 'show', 'dev', 'tap0'])).stdout) as { address: string; addr_info: { family: string; local: string }[] }[];
    expect(tap[0]?.address).toBe(GATEWAY_MAC);
    expect(tap[0]?.addr_info.map((x) => `${x.family} ${x.local}`)).toEqual([`inet ${GATEWAY_ADDRESS}`]);
    expect((await execa('ip', ['-n', ns, '-6', 'addr', 'show'])).stdout).toBe('');
    expect((await execa('ip', ['netns', 'exec', ns, 'sysctl', '-n', 'net.ipv6.conf.all.disable_ipv6'])).stdout).toBe('1');
    expect(await lab.ipHost(['-6', 'addr', 'show', 'dev', `hv-${a.id}`])).toBe('');
    expect(await lab.ipHost(['-4', '-o', 'addr', 'show', 'dev', `hv-${a.id}`])).toContain(`${netA.transit.host}/30`);
  });

  it('resolves names through hob\'s resolver (UDP, TCP, CNAME) and reaches the internet by name and address', async () => {
    expect(await guestA.call('resolve', { name: 'web.example' })).toEqual({ ok: true, value: [WEB.web] });
    expect(await guestA.call('resolve', { name: 'alias.example' })).toEqual({ ok: true, value: [WEB.web] });
    expect(await guestA.call('dns', { name: 'other.example', transport: 'tcp' })).toEqual({ ok: true, value: { rcode: 0, addresses: [WEB.other] } });
    expect(await guestA.call('dns', { name: 'missing.example', transport: 'udp' })).toEqual({ ok: true, value: { rcode: 3, addresses: [] } });
    expect(await guestA.call('http', { url: 'http://web.example/' })).toEqual({ ok: true, value: { status: 200, body: `web ${WEB.web}` } });
    expect(await guestA.call('http', { url: `http://${WEB.unnamed}/` })).toEqual({ ok: true, value: { status: 200, body: `web ${WEB.unnamed}` } });
    // The fake internet saw the host's address: the guest's and the transit address never leave.
    const seen = await lab.fakeInternet.call<string[]>('takeRequests');
    expect(seen.length).toBeGreaterThan(0);
    for (const line of seen) expect(line).toMatch(new RegExp(`from ${HOST_WAN.replace(/\./g, '\\.')}$`));
  });

  it('cannot reach the host: its API port on any of its addresses, the resolver port elsewhere', async () => {
    const targets = [
      { host: HOST_WAN, port: HOST_API_PORT },
      { host: netA.transit.host, port: HOST_API_PORT },
      { host: netB.transit.host, port: HOST_API_PORT },
      { host: netB.transit.host, port: RESOLVER_PORT },
    ];
    for (const t of targets) {
      // Positive control: the listener is there, the host itself reaches it.
      if (t.port === HOST_API_PORT) expect(await lab.driver.call('connect', t), `host -> ${t.host}`).toEqual({ ok: true, value: true });
      expect(await guestA.call('connect', t), `guest -> ${t.host}:${t.port}`).toEqual({ ok: false, code: 'EHOSTUNREACH' });
    }
    // The gateway itself offers nothing but DNS.
    expect(await guestA.call('connect', { host: GATEWAY_ADDRESS, port: HOST_API_PORT })).toEqual({ ok: false, code: 'EHOSTUNREACH' });
  });

  it('cannot reach another sandbox or private ranges', async () => {
    expect(await guestA.call('connect', { host: netB.transit.sandbox, port: 80 })).toEqual({ ok: false, code: 'EHOSTUNREACH' });
    for (const target of PRIVATE_TARGETS) {
      expect(await lab.driver.call('http', { url: `http://${target}/` }), `host -> ${target}`).toEqual({ ok: true, value: { status: 200, body: `web ${target}` } });
      expect(await guestA.call('http', { url: `http://${target}/` }), `guest -> ${target}`).toEqual({ ok: false, code: 'EHOSTUNREACH' });
    }
    // A name resolving to a private address does not help either.
    expect(await guestA.call('resolve', { name: 'lan.example' })).toEqual({ ok: true, value: ['192.168.77.1'] });
    expect(await guestA.call('http', { url: 'http://lan.example/' })).toEqual({ ok: false, code: 'EHOSTUNREACH' });
  });

  it('lets the guest query another DNS server directly when unrestricted', async () => {
    const r = await guestA.call<Outcome<RawDnsResult>>('dns', { server: DNS_SERVER, name: 'web.example', transport: 'udp' });
    expect(r).toEqual({ ok: true, value: { rcode: 0, addresses: [WEB.web] } });
  });

  it('the host forwards for its sandboxes only: the host-wide switch stays off, nothing else is routed (issue 12 finding 10)', async () => {
    const sysctl = async (key: string) => (await execa('ip', ['netns', 'exec', lab.host.name, 'sysctl', '-n', key])).stdout;
    expect(await sysctl('net.ipv4.ip_forward')).toBe('0');
    expect(await sysctl(`net.ipv4.conf.hv-${a.id}.forwarding`)).toBe('1');
    expect(await sysctl('net.ipv4.conf.wan0.forwarding')).toBe('1');
    // A LAN peer of the host (lan0), which the fake internet knows the way back to.
    const lan = await createTestNetns('hobtl');
    try {
      await execa('ip', ['-n', lab.host.name, 'link', 'add', 'lan0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', lan.name]);
      await lab.ipHost(['addr', 'add', '10.77.0.1/30', 'dev', 'lan0']);
      await lab.ipHost(['link', 'set', 'lan0', 'up']);
      await execa('ip', ['-n', lan.name, 'addr', 'add', '10.77.0.2/30', 'dev', 'eth0']);
      await execa('ip', ['-n', lan.name, 'link', 'set', 'eth0', 'up']);
      await execa('ip', ['-n', lan.name, 'route', 'add', 'default', 'via', '10.77.0.1']);
      await execa('ip', ['-n', lab.internet.name, 'route', 'add', '10.77.0.0/30', 'via', HOST_WAN]);
      /** Whether a UDP datagram sent from `from` to `to` arrives in `at`. */
      const arrives = async (from: string, at: string, to: string, port: number): Promise<boolean> => {
        const receiver = execa('ip', ['netns', 'exec', at, 'timeout', '3', 'socat', '-u', `UDP4-RECV:${port}`, 'STDOUT'], { reject: false });
        await new Promise((r) => setTimeout(r, 300));
        for (let i = 0; i < 3; i++) {
          await execa('ip', ['netns', 'exec', from, 'socat', '-u', 'STDIN', `UDP4-SENDTO:${to}:${port}`], { input: 'hello\n', reject: false });
        }
        return (await receiver).stdout.includes('hello');
      };
      // Positive controls: the host itself reaches both sides.
      expect(await arrives(lab.host.name, lan.name, '10.77.0.2', 9911)).toBe(true);
      expect(await arrives(lab.host.name, lab.internet.name, ISP, 9912)).toBe(true);
      // The LAN peer cannot use the host as a router to the internet, nor the internet to the LAN.
      expect(await arrives(lan.name, lab.internet.name, WEB.web, 9913)).toBe(false);
      expect(await arrives(lab.internet.name, lan.name, '10.77.0.2', 9914)).toBe(false);
      // And the sandbox still reaches the internet.
      expect(await guestA.call('http', { url: `http://${WEB.unnamed}/` })).toEqual({ ok: true, value: { status: 200, body: `web ${WEB.unnamed}` } });
    } finally {
      await lan.dispose();
    }
  });
});
