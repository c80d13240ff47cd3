/**
 * Sandbox networking over time: setup/teardown cycles leave nothing behind, teardown is
 * idempotent, and after a crash of the process that owns the networking (hobd) a new one
 * re-attaches to the sandboxes it keeps and removes the rest. Everything runs in
 * namespaces this test creates; no VM is booted.
 */
import { readdir, writeFile } from 'node:fs/promises';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../daemon/db/ids.js';
import type { SandboxNetConfig } from '../../daemon/net/index.js';
import { createLab, labUnavailable, WEB, type Lab } from '../helpers/net/lab.js';

const unavailable = labUnavailable();

describe.skipIf(unavailable !== null)(`sandbox network lifecycle${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  let lab: Lab;
  let baselineRuleset: string;
  let baselineLinks: string[];

  const namespaces = async () => (await readdir('/run/netns')).filter((n) => n.startsWith(lab.prefix)).sort();
  const hostLinks = async () => (await lab.ipHost(['-o', 'link', 'show'])).split('\n').map((l) => l.split(':')[1]?.trim().split('@')[0] ?? '').sort();

  beforeAll(async () => {
    lab = await createLab();
    baselineRuleset = await lab.hostRuleset();
    baselineLinks = await hostLinks();
  });

  afterAll(async () => {
    await lab?.dispose();
  });

  it('has only hob\'s static host table before any sandbox', () => {
    expect(baselineRuleset).toMatch(/^table inet hob \{/);
    expect(baselineRuleset.match(/^table /gm)).toHaveLength(1);
    expect(baselineLinks).toEqual(['lo', 'wan0']);
  });

  it('20 setup/teardown cycles leave no namespace, veth, tap or nftables element behind', async () => {
    for (let i = 0; i < 20; i++) {
      const id = newId();
      const net = await lab.driver.call<SandboxNetConfig>('setup', { id, slot: i % 3, policy: i % 2 ? { rules: [{ include: 'defaults' }] } : { rules: [] } });
      // While it exists, it is all there.
      expect(await namespaces()).toEqual([net.netSpec.netns]);
      expect(await hostLinks()).toContain(`hv-${id}`);
      expect((await execa('ip', ['-n', net.netSpec.netns!, '-o', 'link', 'show', 'dev', 'tap0'])).stdout).toContain('tap0');
      await lab.driver.call('teardown', { id });
      await lab.driver.call('teardown', { id }); // idempotent
    }
    expect(await namespaces()).toEqual([]);
    expect(await hostLinks()).toEqual(baselineLinks);
    expect(await lab.hostRuleset()).toBe(baselineRuleset);
    expect(await lab.driver.call('activeIds')).toEqual([]);
  });

  it('after a crash, re-attaches to the sandboxes it keeps and removes the others', async () => {
    const keep = { id: newId(), slot: 7 };
    const drop = { id: newId(), slot: 8 };
    const policy = { rules: [{ domain: 'web.example', action: 'allow' }] };
    const net = await lab.driver.call<SandboxNetConfig>('setup', { ...keep, policy });
    await lab.driver.call('setup', { ...drop });
    const guest = await lab.attachGuest(net.netSpec.netns!);
    expect(await guest.call('resolve', { name: 'web.example' })).toEqual({ ok: true, value: [WEB.web] });
    const tapBefore = (await execa('ip', ['-n', net.netSpec.netns!, '-o', 'link', 'show', 'dev', 'tap0'])).stdout.split(':')[0];

    // hobd dies: its resolver goes with it, the namespaces and rules stay.
    const driver = await lab.restartDriver();
    expect(await guest.call('resolve', { name: 'web.example' })).not.toEqual({ ok: true, value: [WEB.web] });
    expect(await namespaces()).toEqual([`${lab.prefix}${drop.id}`, `${lab.prefix}${keep.id}`].sort());

    expect(await driver.call('reconcile', { keep: [keep.id] })).toEqual([drop.id]);
    expect(await namespaces()).toEqual([net.netSpec.netns]);
    expect(await hostLinks()).not.toContain(`hv-${drop.id}`);

    // Re-attach (what the manager does for an adopted VM): same tap, DNS and policy back.
    const again = await driver.call<SandboxNetConfig>('setup', { ...keep, policy });
    expect(again).toEqual(net);
    expect((await execa('ip', ['-n', net.netSpec.netns!, '-o', 'link', 'show', 'dev', 'tap0'])).stdout.split(':')[0]).toBe(tapBefore);
    expect(await guest.call('resolve', { name: 'web.example' })).toEqual({ ok: true, value: [WEB.web] });
    expect(await guest.call('http', { url: 'http://web.example/' })).toEqual({ ok: true, value: { status: 200, body: `web ${WEB.web}` } });
    expect(await guest.call('resolve', { name: 'other.example' })).toEqual({ ok: false, code: 'EREFUSED' });
    expect(await guest.call('http', { url: `http://${WEB.other}/` })).toEqual({ ok: false, code: 'EHOSTUNREACH' });

    // Nothing kept any more: everything goes, even with the "VM" still holding the tap.
    expect(await driver.call('reconcile', { keep: [] })).toEqual([keep.id]);
    await guest.dispose();
    expect(await namespaces()).toEqual([]);
    expect(await hostLinks()).toEqual(baselineLinks);
    expect(await lab.hostRuleset()).toBe(baselineRuleset);
  });

  it('repairs half-made or damaged sandboxes, and reconcile removes half-made ones', async () => {
    // A name left by a process in another mount namespace: an empty file, no namespace on it.
    const stale = newId();
    await writeFile(`/run/netns/${lab.prefix}${stale}`, '');
    const net = await lab.driver.call<SandboxNetConfig>('setup', { id: stale, slot: 1 });
    expect((await execa('ip', ['-n', net.netSpec.netns!, '-o', 'link', 'show', 'dev', 'tap0'])).stdout).toContain('tap0');
    // Someone deletes the host side: setup puts it back, keeping the tap.
    const tap = (await execa('ip', ['-n', net.netSpec.netns!, '-o', 'link', 'show', 'dev', 'tap0'])).stdout.split(':')[0];
    await lab.ipHost(['link', 'del', `hv-${stale}`]);
    await lab.driver.call('setup', { id: stale, slot: 1 });
    expect(await lab.ipHost(['-4', '-o', 'addr', 'show', 'dev', `hv-${stale}`])).toContain(`${net.transit.host}/30`);
    expect((await execa('ip', ['-n', net.netSpec.netns!, '-o', 'link', 'show', 'dev', 'tap0'])).stdout.split(':')[0]).toBe(tap);
    // A crash right after `ip netns add`: a bare namespace with hob's prefix.
    const bare = newId();
    await execa('ip', ['netns', 'add', `${lab.prefix}${bare}`]);
    expect(await lab.driver.call('reconcile', { keep: [] })).toEqual([bare, stale].sort());
    expect(await namespaces()).toEqual([]);
    expect(await hostLinks()).toEqual(baselineLinks);
    expect(await lab.hostRuleset()).toBe(baselineRuleset);
  });

  it('a close that finds no sandbox network left leaves the host as it was: no table, no forwarding', async () => {
    const sysctl = async (key: string) => (await execa('ip', ['netns', 'exec', lab.host.name, 'sysctl', '-n', key])).stdout;
    expect(await sysctl('net.ipv4.conf.wan0.forwarding')).toBe('1');
    await lab.driver.call('close');
    expect(await lab.hostRuleset()).toBe('');
    expect(await sysctl('net.ipv4.conf.wan0.forwarding')).toBe('0');
    expect(await sysctl('net.ipv4.ip_forward')).toBe('0');
  });
});
