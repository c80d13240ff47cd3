/**
 * The links of one sandbox: its network namespace `<prefix><id>` (a name under /run/netns),
 * the veth pair `hv-<id>` (host side, in hobd's namespace) / `up0` (inside), and the tap
 * `tap0` (inside) that the VMM opens. No bridge: the namespace routes between tap0 and up0.
 * See addresses.ts for the addresses and nftables.ts for the rules.
 *
 * `ensureSandboxLinks` converges: it creates what is missing and corrects addresses, and it
 * never deletes the tap, so it is also what re-attaches hob to a sandbox whose VMM kept
 * running while hobd restarted.
 */
import { readdir, readFile, rm, statfs } from 'node:fs/promises';
import * as z from 'zod';
import { BadRequestError } from '../errors.js';
import { GATEWAY_ADDRESS, GATEWAY_MAC, GUEST_PREFIX, type TransitAddresses } from './addresses.js';
import { run, tryRun } from './exec.js';
import { HOST_VETH_PREFIX, TAP_NAME, UPLINK_NAME } from './nftables.js';

/** Where `ip netns` keeps its names. */
export const NETNS_DIR = '/run/netns';

/** Longest sandbox id that fits an interface name (`hv-` + id <= 15 characters). */
export const MAX_NET_ID_LENGTH = 15 - HOST_VETH_PREFIX.length;

const netIdSchema = z.string().regex(new RegExp(`^[a-z][a-z0-9]{0,${MAX_NET_ID_LENGTH - 1}}$`));

/**
 * Checks that a sandbox id can name interfaces.
 * @throws BadRequestError otherwise.
 */
export function checkNetId(id: string): void {
  if (!netIdSchema.safeParse(id).success) {
    throw new BadRequestError(`sandbox id ${JSON.stringify(id)} cannot name a network interface (lowercase letter, then up to ${MAX_NET_ID_LENGTH - 1} lowercase letters or digits)`);
  }
}

/** Host-side veth name of a sandbox. */
export function hostVethName(id: string): string {
  return `${HOST_VETH_PREFIX}${id}`;
}

/** statfs type of the namespace filesystem (a bind-mounted /proc/<pid>/ns/net). */
const NSFS_MAGIC = 0x6e736673;

/**
 * State of a netns name: `ok` (bound to a namespace), `absent`, or `stale`: the file exists
 * but no namespace is mounted on it in this mount namespace. That happens when the name
 * was made by a process in another mount namespace (`ip netns exec` gives its command a
 * private one, as does systemd's PrivateTmp=): hobd must run in the host's mount namespace.
 */
export async function netnsState(name: string): Promise<'ok' | 'absent' | 'stale'> {
  try {
    return (await statfs(`${NETNS_DIR}/${name}`)).type === NSFS_MAGIC ? 'ok' : 'stale';
  } catch {
    return 'absent';
  }
}

/** Whether a netns name exists (bound or stale). */
export async function netnsExists(name: string): Promise<boolean> {
  return (await netnsState(name)) !== 'absent';
}

/** Sandbox ids whose netns `<prefix><id>` exists. */
export async function listNetnsIds(prefix: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(NETNS_DIR);
  } catch {
    return [];
  }
  return names
    .filter((n) => n.startsWith(prefix))
    .map((n) => n.slice(prefix.length))
    .filter((id) => netIdSchema.safeParse(id).success);
}

interface LinkInfo {
  readonly up: boolean;
  readonly mac: string | undefined;
  /** IPv4 addresses as "a.b.c.d/len". */
  readonly v4: readonly string[];
}

const ipAddrJson = z.array(
  z.looseObject({
    ifname: z.string(),
    flags: z.array(z.string()).optional(),
    address: z.string().optional(),
    addr_info: z.array(z.looseObject({ family: z.string().optional(), local: z.string().optional(), prefixlen: z.number().optional() })).optional(),
  }),
);

/** Links of a namespace (hobd's own when `netns` is undefined) by name. */
async function links(netns: string | undefined): Promise<Map<string, LinkInfo>> {
  const out = await run(['ip', ...(netns ? ['-n', netns] : []), '-j', 'addr', 'show']);
  const parsed = ipAddrJson.parse(JSON.parse(out || '[]'));
  return new Map(
    parsed.map((l) => [
      l.ifname,
      {
        up: (l.flags ?? []).includes('UP'),
        mac: l.address,
        v4: (l.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`),
      },
    ]),
  );
}

/**
 * Names of the interfaces in this process's namespace, from /proc/net/dev (a file read; the
 * per-process view, unlike /sys/class/net, which shows the namespace sysfs was mounted in).
 */
export function parseProcNetDevNames(procNetDev: string): Set<string> {
  const names = new Set<string>();
  for (const line of procNetDev.split('\n').slice(2)) {
    const colon = line.indexOf(':');
    if (colon > 0) names.add(line.slice(0, colon).trim());
  }
  return names;
}

/**
 * A link of hobd's namespace: listed with `ip` only when /proc/net/dev shows it exists. A new
 * sandbox's host veth does not, so its set-up starts one process fewer.
 */
async function hostLink(name: string): Promise<LinkInfo | undefined> {
  const present = parseProcNetDevNames(await readFile('/proc/net/dev', 'utf8')).has(name);
  return present ? (await links(undefined)).get(name) : undefined;
}

/** Host-side veths of sandboxes (`hv-*`) in hobd's namespace, as sandbox ids. */
export async function listHostVethIds(): Promise<string[]> {
  const all = await links(undefined);
  return [...all.keys()]
    .filter((n) => n.startsWith(HOST_VETH_PREFIX))
    .map((n) => n.slice(HOST_VETH_PREFIX.length))
    .filter((id) => netIdSchema.safeParse(id).success);
}

/** Commands that give `name` exactly the address `cidr` (nothing when it already has only that). */
function addressCommands(name: string, info: LinkInfo | undefined, cidr: string): string[] {
  if (info && info.v4.length === 1 && info.v4[0] === cidr) return [];
  return [...(info && info.v4.length > 0 ? [`addr flush dev ${name}`] : []), `addr add ${cidr} dev ${name}`];
}

export interface SandboxLinksPlan {
  readonly netns: string;
  readonly id: string;
  readonly transit: TransitAddresses;
  /** Uid allowed to open the tap (default 0). */
  readonly tapOwner?: number;
}

/**
 * Creates or repairs the namespace, veth pair, tap, addresses, routes and sysctls of one
 * sandbox (see the module comment). Returns whether the namespace was created by this call.
 * @throws NetworkError when an `ip` or `sysctl` command fails.
 */
export async function ensureSandboxLinks(plan: SandboxLinksPlan): Promise<{ created: boolean }> {
  const { netns, transit } = plan;
  const hv = hostVethName(plan.id);
  const state = await netnsState(netns);
  if (state === 'stale') {
    // Its namespace cannot be reached from here; start over (the veth's peer is in it).
    await tryRun(['ip', 'link', 'del', hv]);
    await rm(`${NETNS_DIR}/${netns}`, { force: true });
  }
  const created = state !== 'ok';
  if (created) await run(['ip', 'netns', 'add', netns]);
  // Forwarding on; IPv6 off everywhere in the namespace (the guest gets IPv4 only, and
  // the forward chain drops IPv6 besides); no rate limit on the ICMP rejections sent to the
  // guest (they go to the guest alone, one per packet it sent), so a blocked dial always
  // fails at once. -e: a host without IPv6 has no such keys.
  await run(
    [
      'sysctl', '-q', '-e', '-w', 'net.ipv4.ip_forward=1', 'net.ipv4.icmp_ratelimit=0',
      'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1',
    ],
    { netns },
  );
  const [hvFound, nsLinks] = await Promise.all([hostLink(hv), created ? new Map<string, LinkInfo>() : links(netns)]);

  const host: string[] = [];
  let hvInfo = hvFound;
  if (hvInfo && !nsLinks.has(UPLINK_NAME)) {
    // A leftover host side whose peer is not in this namespace (it died with an older one).
    await run(['ip', 'link', 'del', hv]);
    hvInfo = undefined;
  }
  if (!hvInfo && nsLinks.has(UPLINK_NAME)) {
    // An up0 whose peer is not ours (made from another host namespace): replace it.
    await run(['ip', '-n', netns, 'link', 'del', UPLINK_NAME]);
  }
  if (!hvInfo) {
    host.push(`link add ${hv} type veth peer name ${UPLINK_NAME} netns ${netns}`, `link set ${hv} addrgenmode none`);
  }
  host.push(...addressCommands(hv, hvInfo, `${transit.host}/${transit.prefix}`));
  if (!hvInfo?.up) host.push(`link set ${hv} up`);
  await run(['ip', '-batch', '-'], { input: `${host.join('\n')}\n` });

  const ns: string[] = [];
  if (!nsLinks.get('lo')?.up) ns.push('link set lo up');
  const tap = nsLinks.get(TAP_NAME);
  if (!tap) ns.push(`tuntap add dev ${TAP_NAME} mode tap user ${plan.tapOwner ?? 0}`);
  if (tap?.mac !== GATEWAY_MAC) ns.push(`link set ${TAP_NAME} address ${GATEWAY_MAC}`);
  ns.push(...addressCommands(TAP_NAME, tap, `${GATEWAY_ADDRESS}/${GUEST_PREFIX}`));
  // A new veth pair's up0 has no address yet.
  ns.push(...addressCommands(UPLINK_NAME, hvInfo ? nsLinks.get(UPLINK_NAME) : undefined, `${transit.sandbox}/${transit.prefix}`));
  ns.push(`link set ${UPLINK_NAME} up`, `link set ${TAP_NAME} up`, `route replace default via ${transit.host} dev ${UPLINK_NAME}`);
  await run(['ip', '-n', netns, '-batch', '-'], { input: `${ns.join('\n')}\n` });
  return { created };
}

/**
 * Removes a sandbox's veth pair and namespace (with the tap and the namespace's nftables
 * table in it). Missing pieces are fine. If a process (a VMM) still runs inside, the kernel
 * keeps the namespace until it exits, but it is unreachable from then on.
 * @throws NetworkError when something that exists cannot be removed.
 */
export async function deleteSandboxLinks(netns: string, id: string): Promise<void> {
  const hv = hostVethName(id);
  const del = await tryRun(['ip', 'link', 'del', hv]);
  if (!del.ok && !/Cannot find device|does not exist/i.test(del.stderr)) {
    await run(['ip', 'link', 'del', hv]); // still failing: throws with the message
  }
  const state = await netnsState(netns);
  if (state === 'stale') {
    await rm(`${NETNS_DIR}/${netns}`, { force: true });
  } else if (state === 'ok') {
    const r = await tryRun(['ip', 'netns', 'delete', netns]);
    if (!r.ok && (await netnsExists(netns))) await run(['ip', 'netns', 'delete', netns]);
  }
}

/**
 * A namespace holding only a tap (no veth, no route out): for a VM that must have a network
 * device but no network, such as a warm template being built (its clones resume with the same
 * device). Removed by deleteSandboxLinks like any sandbox's.
 * @throws NetworkError when an `ip` command fails.
 */
export async function ensureIsolatedTap(netns: string, tapOwner = 0): Promise<void> {
  if ((await netnsState(netns)) !== 'absent') await rm(`${NETNS_DIR}/${netns}`, { force: true }).catch(() => undefined);
  await tryRun(['ip', 'netns', 'delete', netns]);
  await run(['ip', 'netns', 'add', netns]);
  const ns = [
    'link set lo up',
    `tuntap add dev ${TAP_NAME} mode tap user ${tapOwner}`,
    `link set ${TAP_NAME} address ${GATEWAY_MAC}`,
    `addr add ${GATEWAY_ADDRESS}/${GUEST_PREFIX} dev ${TAP_NAME}`,
    `link set ${TAP_NAME} up`,
  ];
  await run(['ip', '-n', netns, '-batch', '-'], { input: `${ns.join('\n')}\n` });
}
