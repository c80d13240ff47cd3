/**
 * The network side of secrets (docs/architecture.md §11) for one sandbox: its secret
 * proxy, listening on the host side of its transit link, and the content of the
 * namespace's set `secret4`, whose TCP 443 traffic nftables redirects to that proxy
 * (nftables.ts). The set holds the addresses hob's resolver answered for names that
 * belong to the hosts of the sandbox's granted secrets and that the egress policy
 * allows; connections to any other address are never redirected.
 *
 * The proxy connects to real hosts from hobd's own namespace, where the host table's
 * `blocked4` (private ranges, the host, other sandboxes) does not apply: so an address
 * in those ranges is never pinned for the proxy nor put into the set, whatever the
 * resolver said (a name pointing at 10.0.0.1 stays as unreachable as the address).
 */
import type { SecretProxy } from './secret-proxy/index.js';
import type { AddressBook } from './address-book.js';
import { ipv4ToInt, parseIpv4Cidr } from './addresses.js';
import type { DnsAddress } from './dns-wire.js';
import { BLOCKED_IPV4, type AllowedAddress } from './nftables.js';
import type { CompiledPolicy } from './policy.js';

export interface SecretRedirectOptions {
  /** Port of the proxies on the host side of each transit link. config `network.secretProxyPort`. */
  readonly port: number;
  /** Whether `name` belongs to the hosts of a secret granted to sandbox `id` (asked at every answer; no values involved). */
  readonly wants: (id: string, name: string) => boolean;
  /** Makes sandbox `id`'s proxy; `pinned(name)` are the addresses the resolver answered for `name` and the proxy may connect to. */
  readonly createProxy: (id: string, pinned: (name: string) => readonly string[]) => Promise<SecretProxy>;
}

/** Whether an address lies outside every range of `cidrs` (and is IPv4 at all). */
function outside(cidrs: readonly string[]): (address: string) => boolean {
  const ranges = cidrs.map((c): [number, number] => {
    const base = ipv4ToInt(c.split('/')[0] as string) as number;
    return [base, base + 2 ** (32 - parseIpv4Cidr(c).prefix) - 1];
  });
  return (address) => {
    const n = ipv4ToInt(address);
    return n !== undefined && !ranges.some(([lo, hi]) => n >= lo && n <= hi);
  };
}

export class SecretRedirect {
  private constructor(
    private readonly id: string,
    private readonly opts: SecretRedirectOptions,
    private readonly proxy: SecretProxy,
    private readonly reachable: (address: string) => boolean,
  ) {}

  /** Starts the sandbox's proxy on `hostAddress` (the host side of its transit link). */
  static async start(id: string, hostAddress: string, transitRange: string, book: AddressBook, opts: SecretRedirectOptions): Promise<SecretRedirect> {
    const reachable = outside([...BLOCKED_IPV4, transitRange]);
    const proxy = await opts.createProxy(id, (name) => book.addressesOf(name).filter(reachable));
    try {
      await proxy.listen(opts.port, hostAddress);
    } catch (err) {
      await proxy.close();
      throw err;
    }
    return new SecretRedirect(id, opts, proxy, reachable);
  }

  /** Whether `name` is a host of one of the sandbox's granted secrets. */
  wants(name: string): boolean {
    try {
      return this.opts.wants(this.id, name);
    } catch {
      return false;
    }
  }

  /** What `secret4` should hold now: addresses of wanted names the policy allows. */
  addresses(book: AddressBook, policy: CompiledPolicy, now = Date.now()): AllowedAddress[] {
    return book.matching((name) => policy.decide(name) === 'allow' && this.wants(name), now).filter((e) => this.reachable(e.address));
  }

  /** What to add to `secret4` for one answer (empty when `name` is not wanted). */
  forAnswer(name: string, answer: readonly DnsAddress[], book: AddressBook, policy: CompiledPolicy): AllowedAddress[] {
    if (!this.wants(name)) return [];
    return book.matching((n) => policy.decide(n) === 'allow' && this.wants(n), Date.now(), new Set(answer.map((a) => a.address)))
      .filter((e) => this.reachable(e.address));
  }

  close(): Promise<void> {
    return this.proxy.close();
  }
}
