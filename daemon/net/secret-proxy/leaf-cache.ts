/**
 * Leaf certificates of one sandbox's proxy, as TLS secure contexts, by server
 * name (docs/architecture.md §11). Bounded: at most `max` names, least recently
 * used first out; a leaf close to expiry is minted again. Concurrent requests
 * for one name share one mint, and at most MAX_CONCURRENT_MINTS run at once.
 */
import { createSecureContext, type SecureContext } from 'node:tls';
import type { SandboxCa } from './ca.js';

/** Default bound on cached leaves per sandbox. */
export const DEFAULT_LEAF_CACHE_SIZE = 256;
/**
 * Mints in progress at once per sandbox (each costs a few ms of CPU); a new
 * name beyond it is refused (its connection closed) rather than queued, so a
 * guest cycling through names of a wildcard host cannot pile up work.
 */
export const MAX_CONCURRENT_MINTS = 8;
/** Re-mint a leaf this long before it expires. */
const REMINT_BEFORE_MS = 86_400_000;

interface Entry {
  ctx: Promise<SecureContext>;
  notAfter: number;
}

export class LeafCache {
  private readonly entries = new Map<string, Entry>();
  private minting = 0;

  constructor(
    private readonly ca: SandboxCa,
    private readonly max = DEFAULT_LEAF_CACHE_SIZE,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** The secure context for `serverName` (lowercase DNS name). */
  get(serverName: string, now = Date.now()): Promise<SecureContext> {
    const hit = this.entries.get(serverName);
    if (hit && hit.notAfter - REMINT_BEFORE_MS > now) {
      this.entries.delete(serverName);
      this.entries.set(serverName, hit);
      return hit.ctx;
    }
    if (this.minting >= MAX_CONCURRENT_MINTS) return Promise.reject(new Error('too many certificates being minted'));
    this.minting++;
    const entry: Entry = { ctx: Promise.resolve(undefined as unknown as SecureContext), notAfter: Number.POSITIVE_INFINITY };
    entry.ctx = this.ca.mintLeaf(serverName, new Date(now)).then((leaf) => {
      entry.notAfter = leaf.notAfter.getTime();
      return createSecureContext({ cert: leaf.certPem, key: leaf.keyPem, minVersion: 'TLSv1.2' });
    }).finally(() => { this.minting--; });
    entry.ctx.catch(() => { if (this.entries.get(serverName) === entry) this.entries.delete(serverName); });
    this.entries.delete(serverName);
    this.entries.set(serverName, entry);
    while (this.entries.size > this.max) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
    return entry.ctx;
  }
}
