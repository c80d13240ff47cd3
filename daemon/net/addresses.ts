/**
 * Addresses of sandbox networking. Pure functions, no I/O.
 *
 * Topology of one sandbox (every sandbox looks the same inside its namespace):
 *
 *   guest eth0 172.31.255.2/30 ── tap0 172.31.255.1/30 [netns hob-<id>] up0 <transit+2>/30 ── hv-<id> <transit+1>/30 [host]
 *
 * - The guest side is fixed: every guest has the same address, gateway, gateway MAC
 *   and DNS server, so a memory snapshot resumes (or forks) without re-addressing and
 *   without a stale ARP entry for its gateway.
 * - The transit link is unique per sandbox: slot N of the configured transit range is the
 *   /30 at offset 4*N; the host side gets .1, the namespace side .2. Slots come from the
 *   caller's persistent state; this module only maps them.
 */
import { createHash } from 'node:crypto';
import * as z from 'zod';
import { BadRequestError } from '../errors.js';

/** Prefix of netns names: lowercase letters and digits, then "-" (default "hob-"). */
export const netnsPrefixSchema = z.string().regex(/^[a-z][a-z0-9]{0,15}-$/, 'must be lowercase letters or digits followed by "-", e.g. "hob-"');

/** The guest's address inside every sandbox namespace. */
export const GUEST_ADDRESS = '172.31.255.2';
/** Gateway (tap0 inside the namespace), also the guest's DNS server. */
export const GATEWAY_ADDRESS = '172.31.255.1';
/** Prefix length of the guest link. */
export const GUEST_PREFIX = 30;
/**
 * MAC of tap0 (the guest's gateway), the same in every namespace so that a guest resumed
 * into a new namespace (cold wake, fork) keeps a valid ARP entry for its gateway.
 */
export const GATEWAY_MAC = '02:68:6f:62:00:01';
/** Prefix length of each transit link. */
export const TRANSIT_PREFIX = 30;
/** Default transit range (configurable: `network.transitRange`). 16384 slots. */
export const DEFAULT_TRANSIT_RANGE = '10.213.0.0/16';

/** An IPv4 network. */
export interface Ipv4Cidr {
  /** Network address as an unsigned 32-bit integer. */
  readonly base: number;
  /** Prefix length 0-32. */
  readonly prefix: number;
}

/** The transit link of one sandbox. */
export interface TransitAddresses {
  readonly slot: number;
  /** Network of the /30, e.g. "10.213.0.4". */
  readonly network: string;
  /** Host side (hv-<id>), e.g. "10.213.0.5". Also where hob's resolver for this sandbox listens. */
  readonly host: string;
  /** Namespace side (up0), e.g. "10.213.0.6"; the guest's traffic leaves the namespace with this source. */
  readonly sandbox: string;
  readonly prefix: number;
}

/** Parses dotted-quad IPv4 into an unsigned 32-bit integer; undefined when it is not one. */
export function ipv4ToInt(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const p of parts) {
    if (!/^(0|[1-9]\d{0,2})$/.test(p)) return undefined;
    const v = Number(p);
    if (v > 255) return undefined;
    n = n * 256 + v;
  }
  return n;
}

/** Formats an unsigned 32-bit integer as dotted-quad IPv4. */
export function intToIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/**
 * Parses "a.b.c.d/len". The address must be the network address (no host bits set).
 * @throws BadRequestError naming the text when it is not such a network.
 */
export function parseIpv4Cidr(text: string): Ipv4Cidr {
  const m = /^([0-9.]+)\/(\d{1,2})$/.exec(text);
  const base = m ? ipv4ToInt(m[1] ?? '') : undefined;
  const prefix = m ? Number(m[2]) : NaN;
  if (base === undefined || !(prefix >= 0 && prefix <= 32)) {
    throw new BadRequestError(`${JSON.stringify(text)} is not an IPv4 network such as 10.213.0.0/16`);
  }
  const hostBits = 32 - prefix;
  const mask = hostBits === 32 ? 0 : (0xffffffff << hostBits) >>> 0;
  if ((base & ~mask) >>> 0 !== 0) {
    throw new BadRequestError(`${text} has host bits set: the network address is ${intToIpv4((base & mask) >>> 0)}/${prefix}`);
  }
  return { base, prefix };
}

/**
 * How many sandbox slots the transit range holds (one /30 each).
 * @throws BadRequestError when the range is not a network or smaller than a /30.
 */
export function transitSlotCount(range: string): number {
  const net = parseIpv4Cidr(range);
  if (net.prefix > TRANSIT_PREFIX) throw new BadRequestError(`transit range ${range} is smaller than one /${TRANSIT_PREFIX}`);
  return 2 ** (TRANSIT_PREFIX - net.prefix);
}

/**
 * The transit addresses of slot `slot` (0-based) in `range`.
 * @throws BadRequestError when the slot is not an integer inside the range.
 */
export function transitAddresses(range: string, slot: number): TransitAddresses {
  const count = transitSlotCount(range);
  if (!Number.isInteger(slot) || slot < 0 || slot >= count) {
    throw new BadRequestError(`network slot ${slot} is outside the transit range ${range} (0-${count - 1})`);
  }
  const base = parseIpv4Cidr(range).base + slot * 4;
  return {
    slot,
    network: intToIpv4(base),
    host: intToIpv4(base + 1),
    sandbox: intToIpv4(base + 2),
    prefix: TRANSIT_PREFIX,
  };
}

/**
 * A stable, locally administered unicast MAC for the guest's NIC, derived from the sandbox
 * id (sha256). Uniqueness does not matter for correctness (every sandbox has its own L2
 * segment); stability does: the same sandbox always gets the same MAC.
 */
export function macForSandbox(id: string): string {
  const h = createHash('sha256').update(`hob-mac:${id}`).digest();
  const bytes = [0x02, h[0] ?? 0, h[1] ?? 0, h[2] ?? 0, h[3] ?? 0, h[4] ?? 0];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/**
 * Kernel command line arguments that the guest's init step reads (see
 * guest-image/rootfs/opt/hob/init): address, gateway and DNS server. The same for every
 * sandbox.
 */
export function guestCmdlineArgs(): string {
  return `hob.ip=${GUEST_ADDRESS}/${GUEST_PREFIX} hob.gw=${GATEWAY_ADDRESS} hob.dns=${GATEWAY_ADDRESS}`;
}
