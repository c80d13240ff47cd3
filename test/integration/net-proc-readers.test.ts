/**
 * What a sandbox network set-up reads from /proc instead of starting `ip`: the uplinks
 * (daemon/net/host-forwarding.ts: the interfaces of the main table's IPv4 default routes,
 * /proc/net/route) and whether a link exists (daemon/net/namespace.ts, /proc/net/dev). Both
 * agree with `ip`, on fixed texts and in a real namespace of the test's own.
 */
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { parseDefaultRouteInterfaces } from '../../daemon/net/host-forwarding.js';
import { parseProcNetDevNames } from '../../daemon/net/namespace.js';

const HEADER = 'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n';

describe('parseDefaultRouteInterfaces', () => {
  it('finds the interfaces of default routes only, once each, sorted', () => {
    const text = HEADER + [
      'wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0',
      'eth0\t00000000\t010200C0\t0003\t0\t0\t100\t00000000\t0\t0\t0',
      'eth0\t00000000\t020200C0\t0003\t0\t0\t200\t00000000\t0\t0\t0',
      'eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0',
      // A route to 0.0.0.0/8 is not a default route.
      'eth1\t00000000\t00000000\t0001\t0\t0\t0\t000000FF\t0\t0\t0',
    ].join('\n');
    expect(parseDefaultRouteInterfaces(text)).toEqual(['eth0', 'wlan0']);
  });

  it('skips routes without a device and routes that are not up', () => {
    const text = HEADER + ['*\t00000000\t00000000\t0201\t0\t0\t0\t00000000\t0\t0\t0', 'eth2\t00000000\t010200C0\t0002\t0\t0\t0\t00000000\t0\t0\t0'].join('\n');
    expect(parseDefaultRouteInterfaces(text)).toEqual([]);
  });

  it('reads interface names from /proc/net/dev, names with dots and dashes included', () => {
    const text = 'Inter-|   Receive |  Transmit\n face |bytes packets|bytes packets\n    lo: 1 2 0 0 0 0 0 0 1 2 0 0 0 0 0 0\nhv-abc123.x:0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n';
    expect([...parseProcNetDevNames(text)]).toEqual(['lo', 'hv-abc123.x']);
    expect(parseProcNetDevNames('').size).toBe(0);
  });

  it('is empty for a table with no routes, or an empty text', () => {
    expect(parseDefaultRouteInterfaces(HEADER)).toEqual([]);
    expect(parseDefaultRouteInterfaces('')).toEqual([]);
  });

  it('agrees with ip route in a namespace of its own', async () => {
    const ns = `hob-rt-${process.pid}`;
    await execa('ip', ['netns', 'add', ns]);
    try {
      const inNs = (...argv: string[]) => execa('ip', ['netns', 'exec', ns, ...argv]);
      await inNs('ip', 'link', 'add', 'up1', 'type', 'veth', 'peer', 'name', 'peer1');
      await inNs('ip', 'link', 'add', 'up2', 'type', 'veth', 'peer', 'name', 'peer2');
      await inNs('ip', 'link', 'set', 'up1', 'up');
      await inNs('ip', 'link', 'set', 'up2', 'up');
      await inNs('ip', 'addr', 'add', '10.99.1.2/24', 'dev', 'up1');
      await inNs('ip', 'addr', 'add', '10.99.2.2/24', 'dev', 'up2');
      await inNs('ip', 'route', 'add', 'default', 'via', '10.99.1.1', 'dev', 'up1', 'metric', '10');
      await inNs('ip', 'route', 'add', 'default', 'via', '10.99.2.1', 'dev', 'up2', 'metric', '20');
      await inNs('ip', 'route', 'add', 'unreachable', '10.98.0.0/16');
      const fromProc = parseDefaultRouteInterfaces((await inNs('cat', '/proc/net/route')).stdout);
      const fromIp = (JSON.parse((await inNs('ip', '-j', '-4', 'route', 'show', 'default')).stdout) as { dev: string }[]).map((r) => r.dev).sort();
      expect(fromProc).toEqual(['up1', 'up2']);
      expect(fromProc).toEqual(fromIp);
      const devNames = parseProcNetDevNames((await inNs('cat', '/proc/net/dev')).stdout);
      const ipNames = (JSON.parse((await inNs('ip', '-j', 'link', 'show')).stdout) as { ifname: string }[]).map((l) => l.ifname);
      expect([...devNames].sort()).toEqual([...ipNames].sort());
      expect(devNames.has('peer1')).toBe(true);
    } finally {
      await execa('ip', ['netns', 'delete', ns], { reject: false });
    }
  });
});
