import { describe, expect, it } from 'vitest';
import { AddressBook, MAX_ALLOW_SECONDS, MIN_ALLOW_SECONDS, allowSeconds } from '../../daemon/net/address-book.js';
import { allowScript, egressScript, hostTableScript, sandboxTableScript } from '../../daemon/net/nftables.js';
import { compilePolicy } from '../../daemon/net/policy.js';
import { parseResolvConf, parseServer } from '../../daemon/net/upstream.js';
import { parseConfig } from '../../daemon/config.js';

describe('nftables scripts', () => {
  it('host table: replaces itself atomically, blocks private ranges and the transit range, opens only the resolver port', () => {
    const s = hostTableScript({ transitRange: '10.213.0.0/16', resolverPort: 10053, guardedUplinks: [] });
    expect(s.startsWith('table inet hob {}\ndelete table inet hob\ntable inet hob {')).toBe(true);
    for (const r of ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', '169.254.0.0/16', '224.0.0.0/4', '10.213.0.0/16']) expect(s).toContain(r);
    expect(s).toContain('th dport 10053 fib daddr . iif type local accept');
    expect(s).toContain('ip saddr 10.213.0.0/16 oifname != "hv-*" masquerade');
    expect(s).not.toMatch(/\b(ip|ip6|inet) (filter|nat)\b/); // no other table is named
    expect(s).toContain('168.63.129.16/32');
    expect(s).toMatch(/set guarded_uplinks \{\n\s+type ifname;\n\s+\}/);
  });

  it('host table: the guard drops foreign forwarding arriving on the uplinks hob made forward', () => {
    const s = hostTableScript({ transitRange: '10.213.0.0/16', resolverPort: 10053, guardedUplinks: ['eth0', 'wlan0'] });
    expect(s).toContain('elements = { "eth0", "wlan0" }');
    const forward = s.slice(s.indexOf('chain forward {'));
    // First rule of the chain, before the sandbox rules accept anything.
    expect(forward.split('\n')[2]?.trim()).toBe('iifname @guarded_uplinks oifname != "hv-*" drop');
  });

  it('sandbox table: DNAT of the guest DNS, SNAT to the transit address, egress per policy', () => {
    const open = sandboxTableScript({ hostAddress: '10.213.0.1', sandboxAddress: '10.213.0.2', resolverPort: 10053, restricted: false, allowed: [] });
    expect(open).toContain('ip daddr 172.31.255.1 udp dport 53 dnat ip to 10.213.0.1:10053');
    expect(open).toContain('ip daddr 172.31.255.1 tcp dport 53 dnat ip to 10.213.0.1:10053');
    expect(open).toContain('oifname "up0" snat ip to 10.213.0.2');
    expect(open).toContain('add rule inet hob egress accept');
    expect(open).not.toContain('@allow4 accept');
    const closed = sandboxTableScript({ hostAddress: '10.213.0.1', sandboxAddress: '10.213.0.2', resolverPort: 10053, restricted: true, allowed: [{ address: '198.51.100.80', timeoutSeconds: 299.2 }] });
    expect(closed).toContain('add element inet hob allow4 { 198.51.100.80 timeout 300s }');
    expect(closed).toContain('egress ip daddr @allow4 accept');
    expect(egressScript(true, [])).not.toContain('add element');
  });

  it('refreshes allow-set timeouts with add, delete, add', () => {
    expect(allowScript([{ address: '1.2.3.4', timeoutSeconds: 600 }]).split('\n').filter(Boolean)).toEqual([
      'add element inet hob allow4 { 1.2.3.4 timeout 600s }',
      'delete element inet hob allow4 { 1.2.3.4 }',
      'add element inet hob allow4 { 1.2.3.4 timeout 600s }',
    ]);
    expect(allowScript([])).toBe('');
  });
});

describe('address book', () => {
  const policy = (rules: { domain: string; action: 'allow' | 'deny' }[]) => compilePolicy({ rules });

  it('clamps how long an answer stays allowed', () => {
    expect(allowSeconds(5)).toBe(MIN_ALLOW_SECONDS);
    expect(allowSeconds(3600)).toBe(3600);
    expect(allowSeconds(10 ** 7)).toBe(MAX_ALLOW_SECONDS);
  });

  it('keeps the addresses of names the policy still allows, for their remaining time', () => {
    const book = new AddressBook();
    const t0 = 1_000_000;
    book.record('a.example', [{ address: '192.0.2.1', ttl: 600 }, { address: '192.0.2.2', ttl: 600 }], t0);
    book.record('b.example', [{ address: '192.0.2.2', ttl: 900 }, { address: '192.0.2.3', ttl: 60 }], t0);
    const both = policy([{ domain: '*', action: 'allow' }]);
    expect(book.allowed(both, t0 + 100_000).sort((x, y) => x.address.localeCompare(y.address))).toEqual([
      { address: '192.0.2.1', timeoutSeconds: 500 },
      { address: '192.0.2.2', timeoutSeconds: 800 },
      { address: '192.0.2.3', timeoutSeconds: 200 },
    ]);
    const onlyA = policy([{ domain: 'a.example', action: 'allow' }]);
    expect(book.allowed(onlyA, t0).map((e) => e.address).sort()).toEqual(['192.0.2.1', '192.0.2.2']);
    expect(book.allowed(onlyA, t0, new Set(['192.0.2.2']))).toEqual([{ address: '192.0.2.2', timeoutSeconds: 600 }]);
    // Expired entries are not allowed and are pruned.
    expect(book.allowed(both, t0 + 1_000_000)).toEqual([]);
    book.prune(t0 + 1_000_000);
    expect(book.size).toBe(0);
  });
});

describe('upstream servers and the network config', () => {
  it('parses server specs and resolv.conf', () => {
    expect(parseServer('1.1.1.1')).toEqual({ address: '1.1.1.1', port: 53, family: 4 });
    expect(parseServer('1.1.1.1:5353')).toEqual({ address: '1.1.1.1', port: 5353, family: 4 });
    expect(parseServer('[2606:4700::1111]:53')).toEqual({ address: '2606:4700::1111', port: 53, family: 6 });
    expect(parseServer('2606:4700::1111')).toMatchObject({ family: 6, port: 53 });
    expect(parseServer('dns.example')).toBeUndefined();
    expect(parseServer('1.1.1.1:0')).toBeUndefined();
    expect(parseResolvConf('# x\nnameserver 127.0.0.53\noptions edns0\nnameserver bogus\n nameserver 9.9.9.9\nsearch lan\n')).toEqual([
      { address: '127.0.0.53', port: 53, family: 4 },
      { address: '9.9.9.9', port: 53, family: 4 },
    ]);
  });

  it('has documented defaults and rejects bad values', () => {
    expect(parseConfig('', { env: {} }).network).toEqual({ enabled: true, transitRange: '10.213.0.0/16', resolverPort: 10053, secretProxyPort: 10443, netnsPrefix: 'hob-' });
    const c = parseConfig('network: { transitRange: 192.0.2.0/24, upstreamDns: ["9.9.9.9", "[::1]:53"], netnsPrefix: hobt1- }', { env: {} });
    expect(c.network).toEqual({ enabled: true, transitRange: '192.0.2.0/24', resolverPort: 10053, secretProxyPort: 10443, upstreamDns: ['9.9.9.9', '[::1]:53'], netnsPrefix: 'hobt1-' });
    expect(() => parseConfig('network: { transitRange: 10.213.0.1/16 }', { env: {} })).toThrow(/network.transitRange.*host bits/);
    expect(() => parseConfig('network: { transitRange: 10.213.0.0/31 }', { env: {} })).toThrow(/network.transitRange/);
    expect(() => parseConfig('network: { upstreamDns: [dns.example] }', { env: {} })).toThrow(/network.upstreamDns/);
    expect(() => parseConfig('network: { netnsPrefix: HOB }', { env: {} })).toThrow(/network.netnsPrefix/);
    expect(parseConfig('network: { enabled: false }', { env: {} }).network.enabled).toBe(false);
    expect(() => parseConfig('network: { enabled: maybe }', { env: {} })).toThrow(/network.enabled/);
    expect(() => parseConfig('network: { typo: 1 }', { env: {} })).toThrow(/unknown key 'network.typo'/);
  });
});
