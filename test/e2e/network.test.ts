/**
 * Sandbox networking on real VMs (issue 5, docs/architecture.md §6). hobd runs in a namespace
 * whose only uplink leads to a fake internet (net/internet.ts: a DNS server and HTTP
 * servers, some on addresses in private ranges). Every "the guest cannot reach X" has a
 * control beside it showing that hobd's namespace can.
 *
 * One sandbox (`n1`) carries most cases in order; `n2` is the "other sandbox"; forks and
 * the create/rm cycles come last.
 */
import { readdir } from 'node:fs/promises';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POLICY_GUEST_PATH } from '../../daemon/net/policy.js';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { HOST_WAN, PRIVATE_TARGETS, WEB } from '../helpers/net/internet.js';
import { withoutSpares } from '../helpers/spares.js';

interface ExecResult {
  stdout: string;
  stderr: string;
  exit_code: number;
}

/** A shell script doing `GET url` with socat; prints the whole response. Fails when nothing answers. */
function httpGetScript(url: string): string {
  const u = new URL(url);
  return `printf 'GET ${u.pathname} HTTP/1.0\\r\\nHost: ${u.hostname}\\r\\n\\r\\n' | socat -T 5 - TCP:${u.hostname}:${u.port || 80},connect-timeout=5`;
}

/** The body of an HTTP/1.0 response; null when it is not one. */
function bodyOf(response: string): string | null {
  if (!response.startsWith('HTTP/1.')) return null;
  const at = response.indexOf('\r\n\r\n');
  return at < 0 ? null : response.slice(at + 4);
}

/** A port hobd's namespace listens on (all addresses) for the "cannot reach the host" cases. */
const HOST_PORT = 7999;

describe('sandbox networking on real VMs', () => {
  let d: TestDaemon;
  let hostListener: ReturnType<typeof execa> | undefined;

  beforeAll(async () => {
    d = await startTestDaemon({ internet: true });
    // A listener on every address of hobd's namespace, standing in for anything on the host.
    hostListener = execa('ip', ['netns', 'exec', d.netns.name, 'socat', `TCP-LISTEN:${HOST_PORT},fork,reuseaddr`, 'SYSTEM:echo host-listener'], { reject: false });
    for (const name of ['n1', 'n2']) {
      const r = await d.request({ method: 'POST', path: '/v1/sandboxes', body: { name } });
      expect(r.status, r.text()).toBe(201);
    }
  });
  afterAll(async () => {
    hostListener?.kill('SIGKILL');
    await d?.stop();
  });

  const exec = async (name: string, script: string): Promise<ExecResult> => {
    const r = await d.request({ method: 'POST', path: `/v1/sandboxes/${name}/exec`, body: { command: ['sh', '-c', script] } });
    expect(r.status, r.text()).toBe(200);
    return r.json<ExecResult>();
  };
  const ok = async (name: string, script: string): Promise<string> => {
    const r = await exec(name, script);
    expect(r.exit_code, `${script}: ${r.stdout}${r.stderr}`).toBe(0);
    return r.stdout;
  };
  /**
   * HTTP GET from inside a guest (socat: the image's busybox wget is static and crashes
   * resolving names); resolves to the body, or null when it fails.
   */
  const fetchIn = async (name: string, url: string): Promise<string | null> => {
    const r = await exec(name, httpGetScript(url));
    return r.exit_code === 0 ? bodyOf(r.stdout) : null;
  };
  /** A TCP connect from inside a guest: true when it connects. */
  const connects = async (name: string, host: string, port: number): Promise<boolean> => {
    const r = await exec(name, `socat -T 3 /dev/null TCP:${host}:${port},connect-timeout=3`);
    return r.exit_code === 0;
  };
  const fromHost = async (argv: string[]): Promise<string> => String((await d.inNetns(argv, { timeoutMs: 20_000 })).stdout);
  const setPolicy = async (name: string, rules: object[]): Promise<void> => {
    const r = await d.request({ method: 'POST', path: `/v1/sprites/${name}/policy/network`, body: { rules } });
    expect(r.status, r.text()).toBe(204);
  };
  // Spares (with templates on: e2e/warm-suites.test.ts) have networks too: left out (test/helpers/spares.ts).
  const netnsNames = async (): Promise<string[]> => {
    const names = (await readdir('/run/netns')).filter((n) => n.startsWith(d.netnsPrefix)).sort();
    return withoutSpares(d, names, (n) => n.slice(d.netnsPrefix.length));
  };
  const hostVeths = async (): Promise<string[]> => {
    const out = await fromHost(['ip', '-o', 'link', 'show']);
    return withoutSpares(d, [...out.matchAll(/^\d+: (hv-[a-z0-9]+)[@:]/gm)].map((m) => m[1]!).sort(), (v) => v.slice('hv-'.length));
  };

  it('gives the guest its fixed address, a default route and hob as its DNS server', async () => {
    const out = await ok('n1', 'ip -4 -o addr show dev eth0; ip route; cat /etc/resolv.conf');
    expect(out).toContain('172.31.255.2/30');
    expect(out).toContain('default via 172.31.255.1');
    expect(out).toContain('nameserver 172.31.255.1');
    // IPv6 is off on eth0: no address at all, not even link-local.
    expect(await ok('n1', 'cat /proc/sys/net/ipv6/conf/eth0/disable_ipv6')).toBe('1\n');
  });

  it('reaches the fake internet by name and by address', async () => {
    expect(await fetchIn('n1', 'http://web.example/')).toBe(`web ${WEB.web}`);
    expect(await fetchIn('n1', `http://${WEB.other}/`)).toBe(`web ${WEB.other}`);
    // The request left through hob's NAT: the server saw the host's address, not the guest's.
    const seen = await d.internet!.rpc.call<string[]>('takeRequests');
    expect(seen.some((line) => line.startsWith(`${WEB.web} web.example from ${HOST_WAN}`)), seen.join('\n')).toBe(true);
  });

  it('cannot reach the host, hob API port included, nor private ranges', async () => {
    // Controls: the host itself reaches all of them.
    expect(await fromHost(['socat', '-T', '3', '-', `TCP:${HOST_WAN}:${HOST_PORT}`])).toContain('host-listener');
    for (const target of PRIVATE_TARGETS) expect(bodyOf(await fromHost(['sh', '-c', httpGetScript(`http://${target}/`)]))).toBe(`web ${target}`);

    const sandboxes = (await d.request({ path: '/v1/sandboxes' })).json<{ sprites: { id: string; name: string }[] }>().sprites;
    const n1 = sandboxes.find((s) => s.name === 'n1')!;
    const gatewayOnHost = (await fromHost(['ip', '-4', '-o', 'addr', 'show', 'dev', `hv-${n1.id}`])).match(/inet (\d+\.\d+\.\d+\.\d+)/)?.[1];
    expect(gatewayOnHost).toBeDefined();
    for (const [host, port] of [[HOST_WAN, HOST_PORT], [gatewayOnHost!, HOST_PORT], [gatewayOnHost!, d.port], ['172.31.255.1', HOST_PORT], ['172.31.255.1', d.port]] as const) {
      expect(await connects('n1', host, port), `${host}:${port}`).toBe(false);
    }
    for (const target of PRIVATE_TARGETS) expect(await fetchIn('n1', `http://${target}/`), target).toBeNull();
  });

  it('cannot reach another sandbox', async () => {
    await ok('n2', 'nohup socat TCP-LISTEN:8000,fork,reuseaddr SYSTEM:"echo n2" >/dev/null 2>&1 &');
    const sandboxes = (await d.request({ path: '/v1/sandboxes' })).json<{ sprites: { id: string; name: string }[] }>().sprites;
    const n2 = sandboxes.find((s) => s.name === 'n2')!;
    const n2Host = (await fromHost(['ip', '-4', '-o', 'addr', 'show', 'dev', `hv-${n2.id}`])).match(/inet (\d+)\.(\d+)\.(\d+)\.(\d+)/);
    expect(n2Host).not.toBeNull();
    // Both ends of n2's transit link: the host side and the namespace side (.1 and .2 of its /30).
    const base = n2Host!.slice(1, 4).join('.');
    const last = Number(n2Host![4]);
    for (const addr of [`${base}.${last}`, `${base}.${last + 1}`]) {
      expect(await connects('n1', addr, 8000), addr).toBe(false);
    }
    // n2's listener is up (the same check from inside n2 works).
    expect(await connects('n2', '127.0.0.1', 8000)).toBe(true);
  });

  it('enforces an allowlist by name and by address, and applies a change live', async () => {
    await setPolicy('n1', [{ domain: 'web.example', action: 'allow' }]);
    const policy = await d.request({ path: '/v1/sprites/n1/policy/network' });
    expect(policy.json()).toEqual({ rules: [{ domain: 'web.example', action: 'allow' }] });

    expect(await fetchIn('n1', 'http://web.example/')).toBe(`web ${WEB.web}`);
    const refused = await exec('n1', 'busybox nslookup other.example 172.31.255.1');
    expect(refused.exit_code, refused.stdout).not.toBe(0);
    expect(`${refused.stdout}${refused.stderr}`).toMatch(/REFUSED/i);
    // Raw-IP dials outside the allowed set are dropped, even to an address that serves.
    expect(await fetchIn('n1', `http://${WEB.other}/`)).toBeNull();
    expect(await fetchIn('n1', `http://${WEB.unnamed}/`)).toBeNull();

    // The guest sees the policy, read-only.
    expect(JSON.parse(await ok('n1', `cat ${POLICY_GUEST_PATH}`))).toEqual({ rules: [{ domain: 'web.example', action: 'allow' }] });
    expect((await ok('n1', `stat -c %a ${POLICY_GUEST_PATH}`)).trim()).toBe('444');

    // Live change, no restart: other.example resolves and its address opens.
    await setPolicy('n1', [{ domain: 'web.example', action: 'allow' }, { domain: '*.example', action: 'allow' }]);
    expect(await fetchIn('n1', 'http://other.example/')).toBe(`web ${WEB.other}`);
    expect(JSON.parse(await ok('n1', `cat ${POLICY_GUEST_PATH}`)).rules).toHaveLength(2);
    // n2 was never restricted.
    expect(await fetchIn('n2', `http://${WEB.unnamed}/`)).toBe(`web ${WEB.unnamed}`);

    await setPolicy('n1', []);
    expect(await fetchIn('n1', `http://${WEB.unnamed}/`)).toBe(`web ${WEB.unnamed}`);
  });

  it('refuses an invalid policy and changes nothing', async () => {
    await setPolicy('n1', [{ domain: 'web.example', action: 'allow' }]);
    for (const body of [{ rules: [{ domain: 'bad domain', action: 'allow' }] }, { rules: [{ domain: 'x.example', action: 'maybe' }] }, { rules: 'all' }, 'null', '{"rules": [']) {
      const r = await d.request({ method: 'POST', path: '/v1/sprites/n1/policy/network', headers: { 'content-type': 'application/json' }, body });
      expect(r.status, r.text()).toBe(400);
    }
    expect((await d.request({ path: '/v1/sprites/n1/policy/network' })).json()).toEqual({ rules: [{ domain: 'web.example', action: 'allow' }] });
    expect((await d.request({ path: '/v1/sprites/nope/policy/network' })).status).toBe(404);

    // The CLI shows and sets the same policy.
    const shown = await d.cli(['policy', 'n1', '--json']);
    expect(shown.exitCode, shown.stderr).toBe(0);
    expect(JSON.parse(shown.stdout)).toEqual({ rules: [{ domain: 'web.example', action: 'allow' }] });
    const set = await d.cli(['policy', 'n1', '--unrestricted']);
    expect(set.exitCode, set.stderr).toBe(0);
    expect(set.stdout).toContain('unrestricted');
  });

  it('keeps the policy and the network across stop and start, and removes the network while stopped', async () => {
    await setPolicy('n2', [{ domain: 'web.example', action: 'allow' }]);
    const stop = await d.request({ method: 'POST', path: '/v1/sandboxes/n2/stop' });
    expect(stop.status, stop.text()).toBe(200);
    const sandboxes = (await d.request({ path: '/v1/sandboxes' })).json<{ sprites: { id: string; name: string }[] }>().sprites;
    const n2 = sandboxes.find((s) => s.name === 'n2')!;
    expect(await netnsNames()).not.toContain(`${d.netnsPrefix}${n2.id}`);
    expect(await hostVeths()).not.toContain(`hv-${n2.id}`);

    expect(await fetchIn('n2', 'http://web.example/')).toBe(`web ${WEB.web}`); // exec boots it
    expect(await fetchIn('n2', `http://${WEB.other}/`)).toBeNull();
    await setPolicy('n2', []);
  });

  it('gives a fork resumed from a live checkpoint working networking without re-addressing', async () => {
    await setPolicy('n1', [{ domain: 'web.example', action: 'allow' }]);
    const cp = await d.request({ method: 'POST', path: '/v1/sandboxes/n1/checkpoint', body: { memory: true } });
    expect(cp.status, cp.text()).toBe(200);
    const version = /Checkpoint (v\d+) created/.exec(cp.text())?.[1];
    expect(version, cp.text()).toBeDefined();
    const fork = await d.request({ method: 'POST', path: '/v1/sandboxes/n1/fork', body: { name: 'n1fork', from: version } });
    expect(fork.status, fork.text()).toBe(201);

    expect(await ok('n1fork', 'ip -4 -o addr show dev eth0')).toContain('172.31.255.2/30');
    expect(await fetchIn('n1fork', 'http://web.example/')).toBe(`web ${WEB.web}`);
    // The fork inherited n1's policy (web.example only).
    expect(await fetchIn('n1fork', `http://${WEB.other}/`)).toBeNull();
    // And the parent still works beside it.
    expect(await fetchIn('n1', 'http://web.example/')).toBe(`web ${WEB.web}`);
  });

  it('removes every network of a sandbox on rm, and reconcile removes what a hobd crash left', async () => {
    const before = { netns: await netnsNames(), veths: await hostVeths() };
    for (let i = 0; i < 3; i++) {
      const c = await d.request({ method: 'POST', path: '/v1/sandboxes', body: { name: `cyc${i}` } });
      expect(c.status, c.text()).toBe(201);
      const rm = await d.request({ method: 'DELETE', path: `/v1/sandboxes/cyc${i}` });
      expect(rm.status, rm.text()).toBe(204);
    }
    expect(await netnsNames()).toEqual(before.netns);
    expect(await hostVeths()).toEqual(before.veths);

    // A crash: hobd killed, a VM dies while it is away; the next hobd removes that VM's network.
    const victim = (await d.request({ path: '/v1/sandboxes' })).json<{ sprites: { id: string; name: string }[] }>().sprites.find((s) => s.name === 'n1fork')!;
    await d.kill('SIGKILL');
    const pids = (await execa('pgrep', ['-f', `${d.runDir}/vms/${victim.id}/`], { reject: false })).stdout.split('\n').filter(Boolean);
    expect(pids.length).toBeGreaterThan(0);
    for (const pid of pids) process.kill(Number(pid), 'SIGKILL');
    await d.restart();
    expect(await netnsNames()).not.toContain(`${d.netnsPrefix}${victim.id}`);
    expect(await hostVeths()).not.toContain(`hv-${victim.id}`);
    // The survivors were adopted with their network: DNS (served by the new hobd) and NAT work.
    expect(await fetchIn('n1', 'http://web.example/')).toBe(`web ${WEB.web}`);
  });
});
