/**
 * Issue 12 finding 12: a guest resolving a name while the host has no route to its upstream
 * DNS server (offline box, VPN resolver down) must get SERVFAIL, and hobd must keep running.
 * The resolver runs in a helper process inside a namespace with loopback only, so the
 * upstream (a TEST-NET address) has no route at all.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RCODE } from '../../daemon/net/dns-wire.js';
import { labUnavailable } from '../helpers/net/lab.js';
import { startRpc, type RpcProcess } from '../helpers/net/rpc.js';
import { createTestNetns, type TestNetns } from '../helpers/netns.js';

const unavailable = labUnavailable();
if (unavailable) console.warn(`net-upstream-offline: skipped: ${unavailable}`);

describe.skipIf(unavailable !== null)('resolver without a route to its upstream', () => {
  let ns: TestNetns;
  let driver: RpcProcess;

  beforeAll(async () => {
    ns = await createTestNetns('hobt');
    driver = await startRpc(ns.name, 'test/helpers/net/resolver-driver.ts', [JSON.stringify({ upstream: ['198.51.100.53', '203.0.113.53:5353'] })]);
  });

  afterAll(async () => {
    await driver?.kill();
    await ns?.dispose();
  });

  for (const transport of ['udp', 'tcp'] as const) {
    it(`answers SERVFAIL over ${transport} and stays up`, async () => {
      const r = await driver.call<{ ok: boolean; value?: { rcode: number } }>('ask', { name: 'web.example', transport });
      expect(r).toEqual({ ok: true, value: { rcode: RCODE.SERVFAIL, addresses: [] } });
      // Still serving: a second call works, and the log names the failure.
      expect(await driver.call<number>('pid')).toBeGreaterThan(0);
      const logs = await driver.call<string[]>('logs');
      expect(logs.join('\n')).toMatch(/ENETUNREACH|unreachable/i);
    });
  }
});
