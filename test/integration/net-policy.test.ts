/**
 * Per-sandbox egress policy, live: denied names get REFUSED (and never reach the upstream
 * server), allowed names resolve and connect, raw-IP dials outside what the resolver
 * returned are rejected, and a policy change applies at once without touching the
 * sandbox's links. Everything runs in namespaces this test creates; no VM is booted.
 */
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../daemon/db/ids.js';
import type { NetworkPolicy, SandboxNetConfig } from '../../daemon/net/index.js';
import { createLab, DNS_SERVER, labUnavailable, WEB, type Guest, type Lab } from '../helpers/net/lab.js';

const unavailable = labUnavailable();
const REJECTED = { ok: false, code: 'EHOSTUNREACH' };
const ok = (body: string) => ({ ok: true, value: { status: 200, body } });

describe.skipIf(unavailable !== null)(`sandbox egress policy${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  let lab: Lab;
  const sb = { id: newId(), slot: 0 };
  let net: SandboxNetConfig;
  let guest: Guest;
  let tapIndex: string;

  const setPolicy = (policy: NetworkPolicy) => lab.driver.call<boolean>('setPolicy', { id: sb.id, policy });
  const tapIfindex = async () => (await execa('ip', ['-n', net.netSpec.netns!, '-o', 'link', 'show', 'dev', 'tap0'])).stdout.split(':')[0];

  beforeAll(async () => {
    lab = await createLab();
    net = await lab.driver.call<SandboxNetConfig>('setup', {
      ...sb,
      policy: { rules: [{ domain: 'web.example', action: 'allow' }, { domain: '*', action: 'deny' }] },
    });
    guest = await lab.attachGuest(net.netSpec.netns!);
    tapIndex = (await tapIfindex())!;
  });

  afterAll(async () => {
    await lab?.dispose();
  });

  it('refuses denied names without asking upstream, and resolves allowed ones', async () => {
    await lab.fakeInternet.call('takeQueries');
    expect(await guest.call('dns', { name: 'other.example', transport: 'udp' })).toEqual({ ok: true, value: { rcode: 5, addresses: [] } });
    expect(await guest.call('dns', { name: 'other.example', transport: 'tcp' })).toEqual({ ok: true, value: { rcode: 5, addresses: [] } });
    expect(await guest.call('resolve', { name: 'other.example' })).toEqual({ ok: false, code: 'EREFUSED' });
    expect(await guest.call('resolve', { name: 'web.example' })).toEqual({ ok: true, value: [WEB.web] });
    expect(await lab.fakeInternet.call('takeQueries')).toEqual(['web.example']);
  });

  it('connects to the addresses of allowed names only; raw-IP dials and DNS bypass are rejected', async () => {
    expect(await guest.call('http', { url: 'http://web.example/' })).toEqual(ok(`web ${WEB.web}`));
    expect(await guest.call('http', { url: `http://${WEB.web}/` })).toEqual(ok(`web ${WEB.web}`));
    expect(await guest.call('http', { url: `http://${WEB.other}/` })).toEqual(REJECTED);
    expect(await guest.call('http', { url: `http://${WEB.unnamed}/` })).toEqual(REJECTED);
    // The upstream server itself is not in the set: the guest cannot go around the resolver.
    expect(await guest.call('dns', { server: DNS_SERVER, name: 'other.example', transport: 'tcp' })).toEqual(REJECTED);
    // Positive control: the host reaches what the guest may not.
    expect(await lab.driver.call('http', { url: `http://${WEB.other}/` })).toEqual(ok(`web ${WEB.other}`));
  });

  it('applies a policy change live: newly allowed names work, revoked ones stop', async () => {
    expect(await setPolicy({ rules: [{ domain: 'web.example', action: 'allow' }, { domain: 'other.example', action: 'allow' }] })).toBe(true);
    expect(await guest.call('http', { url: `http://${WEB.other}/` })).toEqual(REJECTED); // not resolved yet
    expect(await guest.call('http', { url: 'http://other.example/' })).toEqual(ok(`web ${WEB.other}`));
    expect(await guest.call('http', { url: `http://${WEB.web}/` })).toEqual(ok(`web ${WEB.web}`)); // kept across the change

    // Revoke web.example: its address leaves the set at once, the name is refused.
    expect(await setPolicy({ rules: [{ domain: 'other.example', action: 'allow' }] })).toBe(true);
    expect(await guest.call('http', { url: `http://${WEB.web}/` })).toEqual(REJECTED);
    expect(await guest.call('resolve', { name: 'web.example' })).toEqual({ ok: false, code: 'EREFUSED' });
    expect(await guest.call('http', { url: `http://${WEB.other}/` })).toEqual(ok(`web ${WEB.other}`));
    // The tap was never recreated: a running VM would have kept its NIC.
    expect(await tapIfindex()).toBe(tapIndex);
  });

  it('matches wildcards on subdomains only, first matching rule wins', async () => {
    expect(await setPolicy({ rules: [{ domain: 'a.web.example', action: 'deny' }, { domain: '*.web.example', action: 'allow' }] })).toBe(true);
    expect(await guest.call('resolve', { name: 'a.web.example' })).toEqual({ ok: false, code: 'EREFUSED' });
    expect(await setPolicy({ rules: [{ domain: '*.web.example', action: 'allow' }] })).toBe(true);
    expect(await guest.call('resolve', { name: 'a.web.example' })).toEqual({ ok: true, value: [WEB.sub] });
    expect(await guest.call('http', { url: 'http://a.web.example/' })).toEqual(ok(`web ${WEB.sub}`));
    expect(await guest.call('resolve', { name: 'web.example' })).toEqual({ ok: false, code: 'EREFUSED' });
  });

  it('an empty policy lifts every restriction but the default isolation', async () => {
    expect(await setPolicy({ rules: [] })).toBe(true);
    expect(await guest.call('http', { url: `http://${WEB.unnamed}/` })).toEqual(ok(`web ${WEB.unnamed}`));
    expect(await guest.call('resolve', { name: 'other.example' })).toEqual({ ok: true, value: [WEB.other] });
    expect(await guest.call('http', { url: 'http://192.168.77.1/' })).toEqual(REJECTED);
  });

  it('reports a sandbox without network instead of failing', async () => {
    expect(await lab.driver.call('setPolicy', { id: newId(), policy: { rules: [] } })).toBe(false);
    await expect(lab.driver.call('setPolicy', { id: sb.id, policy: { rules: [{ domain: 'bad domain', action: 'allow' }] } })).rejects.toThrow(/domain/);
  });
});
