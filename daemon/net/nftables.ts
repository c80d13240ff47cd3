/**
 * hob's nftables rules. hob owns exactly two kinds of table and touches no other:
 *
 * 1. `inet hob` in hobd's own namespace (the host): static rules, the same for every
 *    sandbox, keyed on the `hv-*` interface names and the transit range. Nothing in it is
 *    per sandbox, so a sandbox coming or going never changes it, and a crash cannot leave a
 *    sandbox's element behind in it.
 *      - input from `hv-*`: only hob's resolver port on the address of the very link the
 *        packet came in on (`fib daddr . iif type local`); everything else addressed to the
 *        host (API, dashboard, ssh, any of its addresses) is rejected.
 *      - forward from `hv-*`: never to another sandbox (`hv-*` out), never IPv6, never to
 *        BLOCKED_IPV4 (private, loopback, link-local, CGNAT, multicast, reserved, and the
 *        transit range itself); the rest (the internet) is accepted.
 *      - forward to `hv-*`: only replies (ct established/related): nobody outside can open a
 *        connection to a sandbox.
 *      - postrouting: masquerade what comes from the transit range and leaves by a non-hob link.
 *      - forward, first: the guard. What arrives on an uplink that forwards only because hob
 *        turned it on (set `guarded_uplinks`, see host-forwarding.ts) is dropped unless it
 *        goes to a sandbox link: the host routes nothing of anyone else's.
 * 2. `inet hob` inside each sandbox namespace: per-sandbox rules, removed with the namespace.
 *      - prerouting: the guest's DNS (172.31.255.1:53) is DNATed to hob's resolver on the host
 *        side of the transit link.
 *      - postrouting: SNAT to the transit address (the fixed guest address never leaves).
 *      - input: closed to the guest (ping to the gateway excepted) and to the host side.
 *      - forward: replies; from the guest (anti-spoofing: its own address only) the resolver
 *        and whatever chain `egress` allows; nothing else (IPv6 included) is forwarded, and
 *        nothing may enter towards the guest unless it is a reply.
 *      - prerouting, when the secret proxy is on: TCP 443 to the set `secret4` (addresses
 *        the resolver returned for hosts of the sandbox's granted secrets) is DNATed to the
 *        sandbox's secret proxy on the host side of the transit link (docs/architecture.md §11).
 *      - egress: `accept` when the policy is unrestricted; otherwise accept only daddr in the
 *        set `allow4` (addresses the resolver returned for allowed names, with timeouts) and
 *        reject the rest.
 *
 * Rejections use ICMP "administratively prohibited", so a blocked dial fails at once
 * instead of hanging until a timeout.
 *
 * Rulesets go to `nft -f -` on stdin, one atomic transaction per call.
 */
import { GATEWAY_ADDRESS, GUEST_ADDRESS } from './addresses.js';
import { run } from './exec.js';

/** The table's name, in the host namespace and in each sandbox namespace. */
export const TABLE = 'hob';
/** Prefix of the host-side veth of every sandbox. */
export const HOST_VETH_PREFIX = 'hv-';
/** The tap inside every sandbox namespace. */
export const TAP_NAME = 'tap0';
/** The namespace side of the veth pair. */
export const UPLINK_NAME = 'up0';

/**
 * IPv4 destinations a sandbox may never reach (besides the host's own addresses): "this
 * network", RFC 1918, loopback, link-local, CGNAT (RFC 6598), IETF protocol assignments,
 * benchmarking, multicast, reserved and limited broadcast. The documentation ranges
 * (TEST-NET-1/2/3) are not listed: they are not routed on the internet, and hob's tests
 * use them as a fake internet.
 */
export const BLOCKED_IPV4: readonly string[] = [
  '0.0.0.0/8',
  '10.0.0.0/8',
  '100.64.0.0/10',
  '127.0.0.0/8',
  '169.254.0.0/16',
  '172.16.0.0/12',
  '192.0.0.0/24',
  '192.168.0.0/16',
  '198.18.0.0/15',
  '224.0.0.0/4',
  '240.0.0.0/4',
  // Azure's WireServer (a public address): instance metadata, extensions, certificates.
  // The other clouds' metadata services are link-local (169.254.169.254, above) or IPv6.
  '168.63.129.16/32',
];

const REJECT = 'reject with icmpx type admin-prohibited';

export interface HostTableOptions {
  /** The transit range (CIDR). */
  readonly transitRange: string;
  /** Port hob's resolver listens on, on the host side of each transit link. */
  readonly resolverPort: number;
  /** Uplinks whose foreign forwarding the guard drops (HostForwarding.guardedUplinks). */
  readonly guardedUplinks: readonly string[];
  /** Port of the sandboxes' secret proxies on the host side of each transit link (docs/architecture.md §11), if any. */
  readonly secretProxyPort?: number;
}

/** Interface names as an nftables set's elements. */
function ifnameElements(names: readonly string[]): string {
  return names.map((n) => JSON.stringify(n)).join(', ');
}

/**
 * The host table as an `nft -f` script that replaces any previous version atomically
 * (create-if-missing, delete, create: one transaction).
 */
export function hostTableScript(o: HostTableOptions): string {
  const blocked = [...BLOCKED_IPV4, o.transitRange].join(', ');
  const hv = `"${HOST_VETH_PREFIX}*"`;
  return `table inet ${TABLE} {}
delete table inet ${TABLE}
table inet ${TABLE} {
  set blocked4 {
    type ipv4_addr; flags interval; auto-merge;
    elements = { ${blocked} }
  }
  set guarded_uplinks {
    type ifname;${o.guardedUplinks.length > 0 ? `
    elements = { ${ifnameElements(o.guardedUplinks)} }` : ''}
  }
  chain input {
    type filter hook input priority filter; policy accept;
    iifname ${hv} jump sandbox_input
  }
  chain sandbox_input {
    ct state established,related accept
    meta nfproto ipv4 meta l4proto { tcp, udp } th dport ${o.resolverPort} fib daddr . iif type local accept${o.secretProxyPort !== undefined ? `
    meta nfproto ipv4 tcp dport ${o.secretProxyPort} fib daddr . iif type local accept` : ''}
    ${REJECT}
  }
  chain forward {
    type filter hook forward priority filter; policy accept;
    iifname @guarded_uplinks oifname != ${hv} drop
    iifname ${hv} jump sandbox_egress
    oifname ${hv} jump sandbox_ingress
  }
  chain sandbox_egress {
    oifname ${hv} ${REJECT}
    meta nfproto ipv6 drop
    ip daddr @blocked4 ${REJECT}
    accept
  }
  chain sandbox_ingress {
    ct state established,related accept
    drop
  }
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr ${o.transitRange} oifname != ${hv} masquerade
  }
}
`;
}

/** Creates or replaces the host table in the current (hobd's) namespace. */
export async function applyHostTable(o: HostTableOptions): Promise<void> {
  await run(['nft', '-f', '-'], { input: hostTableScript(o) });
}

/** Removes the host table (hob's only state in the host's nftables); a no-op when absent. */
export async function removeHostTable(): Promise<void> {
  await run(['nft', '-f', '-'], { input: `table inet ${TABLE} {}\ndelete table inet ${TABLE}\n` });
}

/** Replaces the guard's uplinks in the host table (see HostForwarding). */
export async function setGuardedUplinks(names: readonly string[]): Promise<void> {
  const lines = [`flush set inet ${TABLE} guarded_uplinks`];
  if (names.length > 0) lines.push(`add element inet ${TABLE} guarded_uplinks { ${ifnameElements(names)} }`);
  await run(['nft', '-f', '-'], { input: `${lines.join('\n')}\n` });
}

/** An address to allow, with the seconds it stays allowed. */
export interface AllowedAddress {
  readonly address: string;
  readonly timeoutSeconds: number;
}

function elements(list: readonly AllowedAddress[]): string {
  return list.map((e) => `${e.address} timeout ${Math.max(1, Math.ceil(e.timeoutSeconds))}s`).join(', ');
}

/** Lines that set chain `egress` and, when restricted, the content of `allow4`. */
function egressLines(restricted: boolean, allowed: readonly AllowedAddress[]): string[] {
  const lines = [`flush chain inet ${TABLE} egress`, `flush set inet ${TABLE} allow4`];
  if (restricted) {
    if (allowed.length > 0) lines.push(`add element inet ${TABLE} allow4 { ${elements(allowed)} }`);
    lines.push(`add rule inet ${TABLE} egress ip daddr @allow4 accept`, `add rule inet ${TABLE} egress ${REJECT}`);
  } else {
    lines.push(`add rule inet ${TABLE} egress accept`);
  }
  return lines;
}

export interface SandboxTableOptions {
  /** Host side of the transit link: where the resolver listens. */
  readonly hostAddress: string;
  /** Namespace side of the transit link: the guest's traffic leaves with this source. */
  readonly sandboxAddress: string;
  readonly resolverPort: number;
  /** Whether the egress policy is restricted (non-empty). */
  readonly restricted: boolean;
  /** Content of the allow set (used only when restricted). */
  readonly allowed: readonly AllowedAddress[];
  /** The secret proxy's port on the host side: TCP 443 to the set `secret4` is redirected there (docs/architecture.md §11). */
  readonly secretProxyPort?: number;
  /** Content of `secret4`: addresses hob's resolver gave for the hosts of the sandbox's granted secrets. */
  readonly secretAddresses?: readonly AllowedAddress[];
}

/**
 * The sandbox namespace's table as one idempotent transaction: creates what is missing,
 * rewrites every chain, and sets the allow set (see the module comment).
 */
export function sandboxTableScript(o: SandboxTableOptions): string {
  const t = `inet ${TABLE}`;
  const tap = `"${TAP_NAME}"`;
  const up = `"${UPLINK_NAME}"`;
  return [
    `add table ${t}`,
    `add set ${t} allow4 { type ipv4_addr; flags timeout; }`,
    `add set ${t} secret4 { type ipv4_addr; flags timeout; }`,
    `add chain ${t} prerouting { type nat hook prerouting priority dstnat; policy accept; }`,
    `add chain ${t} postrouting { type nat hook postrouting priority srcnat; policy accept; }`,
    `add chain ${t} input { type filter hook input priority filter; policy drop; }`,
    `add chain ${t} forward { type filter hook forward priority filter; policy drop; }`,
    `add chain ${t} egress`,
    ...['prerouting', 'postrouting', 'input', 'forward'].map((c) => `flush chain ${t} ${c}`),
    `add rule ${t} prerouting iifname ${tap} ip daddr ${GATEWAY_ADDRESS} udp dport 53 dnat ip to ${o.hostAddress}:${o.resolverPort}`,
    `add rule ${t} prerouting iifname ${tap} ip daddr ${GATEWAY_ADDRESS} tcp dport 53 dnat ip to ${o.hostAddress}:${o.resolverPort}`,
    ...(o.secretProxyPort !== undefined ? [`add rule ${t} prerouting iifname ${tap} ip daddr @secret4 tcp dport 443 dnat ip to ${o.hostAddress}:${o.secretProxyPort}`] : []),
    `add rule ${t} postrouting oifname ${up} snat ip to ${o.sandboxAddress}`,
    `add rule ${t} input iifname "lo" accept`,
    `add rule ${t} input ct state established,related accept`,
    `add rule ${t} input iifname ${tap} icmp type echo-request accept`,
    `add rule ${t} input iifname ${tap} ${REJECT}`,
    `add rule ${t} forward ct state established,related accept`,
    `add rule ${t} forward iifname ${tap} ip saddr != ${GUEST_ADDRESS} drop`,
    `add rule ${t} forward iifname ${tap} oifname ${up} ct status dnat accept`,
    `add rule ${t} forward iifname ${tap} oifname ${up} meta nfproto ipv4 jump egress`,
    ...egressLines(o.restricted, o.allowed),
    ...secretSetLines(o.secretAddresses ?? []),
    '',
  ].join('\n');
}

/** Lines that replace the content of `secret4`. */
function secretSetLines(addresses: readonly AllowedAddress[]): string[] {
  const lines = [`flush set inet ${TABLE} secret4`];
  if (addresses.length > 0) lines.push(`add element inet ${TABLE} secret4 { ${elements(addresses)} }`);
  return lines;
}

/** A script that replaces the content of `secret4` (a grant, a revoke, a policy change). */
export function secretSetScript(addresses: readonly AllowedAddress[]): string {
  return [...secretSetLines(addresses), ''].join('\n');
}

/** A script that adds addresses to `secret4` or refreshes their timeouts (see allowScript). */
export function secretAddScript(addresses: readonly AllowedAddress[]): string {
  return allowScript(addresses).replaceAll(' allow4 ', ' secret4 ');
}

/** A script that switches the egress chain and replaces the allow set (a policy change). */
export function egressScript(restricted: boolean, allowed: readonly AllowedAddress[]): string {
  return [...egressLines(restricted, allowed), ''].join('\n');
}

/**
 * A script that adds addresses to the allow set or refreshes their timeouts (add, delete,
 * add: a plain add leaves an existing element's timeout unchanged).
 */
export function allowScript(allowed: readonly AllowedAddress[]): string {
  if (allowed.length === 0) return '';
  const el = elements(allowed);
  const bare = allowed.map((e) => e.address).join(', ');
  return [
    `add element inet ${TABLE} allow4 { ${el} }`,
    `delete element inet ${TABLE} allow4 { ${bare} }`,
    `add element inet ${TABLE} allow4 { ${el} }`,
    '',
  ].join('\n');
}

/** Applies a script inside a sandbox namespace. */
export async function applyInNetns(netns: string, script: string): Promise<void> {
  if (script.trim() === '') return;
  await run(['nft', '-f', '-'], { input: script, netns });
}
