/**
 * What hob's resolver told one sandbox: which addresses it returned for which names, and
 * until when. The allow set of a restricted sandbox is derived from it, so that a policy
 * change can rebuild the set at once (addresses of names that are still allowed stay, the
 * others go) without waiting for the guest to ask again. Kept in memory: after a restart
 * of hobd the book starts empty and refills as the guest resolves names.
 */
import type { CompiledPolicy } from './policy.js';
import type { DnsAddress } from './dns-wire.js';
import type { AllowedAddress } from './nftables.js';

/**
 * Shortest time an answered address stays allowed, whatever its TTL: programs keep using
 * an address for a while after its TTL ran out (connection pools, caches), and a TTL of
 * a few seconds would make their next connection fail.
 */
export const MIN_ALLOW_SECONDS = 300;
/** Longest time an answered address stays allowed without being asked for again. */
export const MAX_ALLOW_SECONDS = 86_400;
/** Addresses remembered per sandbox; beyond it the ones expiring first are forgotten. */
export const MAX_BOOK_ADDRESSES = 4096;

/** Seconds an address with this TTL stays allowed. */
export function allowSeconds(ttl: number): number {
  return Math.min(MAX_ALLOW_SECONDS, Math.max(MIN_ALLOW_SECONDS, ttl));
}

export class AddressBook {
  /** address -> name -> expiry (ms since epoch). */
  private readonly entries = new Map<string, Map<string, number>>();

  /** Number of addresses remembered. */
  get size(): number {
    return this.entries.size;
  }

  /**
   * Records that `name` resolved to `addresses`; returns them with the seconds each stays
   * allowed from `now`.
   */
  record(name: string, addresses: readonly DnsAddress[], now = Date.now()): AllowedAddress[] {
    const out: AllowedAddress[] = [];
    for (const a of addresses) {
      const seconds = allowSeconds(a.ttl);
      let names = this.entries.get(a.address);
      if (!names) {
        names = new Map();
        this.entries.set(a.address, names);
      }
      names.set(name, Math.max(names.get(name) ?? 0, now + seconds * 1000));
      out.push({ address: a.address, timeoutSeconds: seconds });
    }
    if (this.entries.size > MAX_BOOK_ADDRESSES) this.prune(now);
    return out;
  }

  /**
   * The addresses that `policy` allows now: those recorded for at least one allowed name
   * and not expired, each with the seconds left of its latest allowed name. `only` limits
   * the answer to these addresses.
   */
  allowed(policy: CompiledPolicy, now = Date.now(), only?: ReadonlySet<string>): AllowedAddress[] {
    return this.matching((name) => policy.decide(name) === 'allow', now, only);
  }

  /**
   * The unexpired addresses recorded for at least one name that `wanted` accepts, each with
   * the seconds left of its latest such name (the secret proxy's redirect set, §11).
   */
  matching(wanted: (name: string) => boolean, now = Date.now(), only?: ReadonlySet<string>): AllowedAddress[] {
    const out: AllowedAddress[] = [];
    for (const [address, names] of this.entries) {
      if (only && !only.has(address)) continue;
      let until = 0;
      for (const [name, expiry] of names) if (expiry > now && wanted(name)) until = Math.max(until, expiry);
      if (until > now) out.push({ address, timeoutSeconds: Math.ceil((until - now) / 1000) });
    }
    return out;
  }

  /**
   * The unexpired addresses recorded for `name` (normalized): the destinations hob's
   * resolver pinned for it. The secret proxy connects only to these (docs/architecture.md §11).
   */
  addressesOf(name: string, now = Date.now()): string[] {
    const out: string[] = [];
    for (const [address, names] of this.entries) {
      const expiry = names.get(name);
      if (expiry !== undefined && expiry > now) out.push(address);
    }
    return out;
  }

  /** Forgets expired entries, then, while still over the limit, the addresses expiring first. */
  prune(now = Date.now()): void {
    const latest = new Map<string, number>();
    for (const [address, names] of this.entries) {
      for (const [name, expiry] of names) if (expiry <= now) names.delete(name);
      if (names.size === 0) this.entries.delete(address);
      else latest.set(address, Math.max(...names.values()));
    }
    if (this.entries.size <= MAX_BOOK_ADDRESSES) return;
    const byExpiry = [...latest].sort((a, b) => a[1] - b[1]);
    for (const [address] of byExpiry.slice(0, this.entries.size - MAX_BOOK_ADDRESSES)) this.entries.delete(address);
  }
}
