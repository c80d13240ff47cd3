/**
 * Sandbox networking: the one object the sandbox manager talks to.
 *
 * Per running sandbox (created by `setup`, removed by `teardown` and `reconcile`): a
 * network namespace holding the tap the VMM opens, a veth pair to the host with the
 * sandbox slot's transit /30, nftables rules inside the namespace (DNAT of the guest's DNS
 * to hob's resolver, SNAT, the egress allow set), and a resolver listener in hobd.
 * Static, shared by all sandboxes (created by `open`): the host table `inet hob`
 * (isolation, masquerade, the forwarding guard) and IPv4 forwarding on hob's links and
 * uplinks in hobd's namespace (host-forwarding.ts), both removed by the `close` that
 * finds no sandbox network left.
 * See addresses.ts, namespace.ts, nftables.ts, resolver.ts and policy.ts for the parts.
 *
 * Decisions:
 * - IPv4 only. IPv6 is disabled in every sandbox namespace and dropped by both tables, and
 *   the guest's init disables it on eth0; the guest sees no IPv6 route at all instead of
 *   a half-working one.
 * - NAT twice: SNAT in the namespace (the fixed guest address never leaves it, so identical
 *   guests never collide) and masquerade on the host for the transit range.
 * - The resolver runs in hobd's namespace, one UDP+TCP listener per sandbox on the host
 *   side of its transit link; the namespace DNATs 172.31.255.1:53 to it. No helper process
 *   per sandbox, and the listener's socket identifies the sandbox.
 *
 * hobd may restart while VMMs keep running: `close` leaves namespaces and rules in place,
 * and `setup` on an existing namespace re-attaches (it never touches the tap), so the
 * manager calls `setup` again for every sandbox it adopts.
 */
import { NotFoundError } from '../errors.js';
import type { NetSpec } from '../vmm/types.js';
import { AddressBook } from './address-book.js';
import { guestCmdlineArgs, macForSandbox, netnsPrefixSchema, parseIpv4Cidr, TRANSIT_PREFIX, transitAddresses, type TransitAddresses } from './addresses.js';
import type { DnsAddress } from './dns-wire.js';
import { NetworkError } from './errors.js';
import { HostForwarding } from './host-forwarding.js';
import { checkNetId, deleteSandboxLinks, ensureIsolatedTap, ensureSandboxLinks, hostVethName, listHostVethIds, listNetnsIds } from './namespace.js';
import {
  allowScript,
  applyHostTable,
  applyInNetns,
  egressScript,
  removeHostTable,
  sandboxTableScript,
  secretAddScript,
  secretSetScript,
  setGuardedUplinks,
  TAP_NAME,
  type AllowedAddress,
} from './nftables.js';
import { compilePolicy, parsePolicy, UNRESTRICTED_POLICY, type CompiledPolicy, type NetworkPolicy } from './policy.js';
import { SandboxResolver } from './resolver.js';
import { SecretRedirect, type SecretRedirectOptions } from './secret-redirect.js';
import { hostNameservers, parseServer, type UpstreamServer } from './upstream.js';


export interface SandboxNetworkOptions {
  /** Transit range (CIDR, at least a /30), e.g. "10.213.0.0/16". config `network.transitRange`. */
  readonly transitRange: string;
  /** Resolver port on the host side of each transit link. config `network.resolverPort`. */
  readonly resolverPort: number;
  /** Upstream DNS servers ("addr" or "addr:port"); undefined = the host's /etc/resolv.conf. */
  readonly upstreamDns?: readonly string[] | undefined;
  /** Prefix of netns names, e.g. "hob-". config `network.netnsPrefix`. */
  readonly netnsPrefix: string;
  /** Uid allowed to open the taps. Default 0 (root). */
  readonly tapOwner?: number;
  /**
   * Where hob records which uplinks it turned forwarding on for (host-forwarding.ts); in
   * the run dir, so that it goes with a reboot, as the sysctls do.
   */
  readonly forwardingStateFile: string;
  /** Diagnostics. */
  readonly log?: (message: string) => void;
  /** The secret proxies and their redirect (secret-redirect.ts, docs/architecture.md §11); undefined: none. */
  readonly secrets?: SecretRedirectOptions;
}

/** What the manager needs to boot a sandbox's VM on its network. */
export interface SandboxNetConfig {
  /** For VmSpec.net: tap0 inside the sandbox's namespace, the MAC derived from the id. */
  readonly netSpec: NetSpec;
  /** To append to the kernel command line: address, gateway and DNS of the guest. */
  readonly cmdlineArgs: string;
  /** The transit link of the slot (for diagnostics). */
  readonly transit: TransitAddresses;
}

/**
 * The VM's network device for a sandbox: what `setup` returns as `netSpec`, computable
 * without touching the system (for building the VmSpec of a VM to adopt).
 */
export function netSpecFor(netnsPrefix: string, id: string): NetSpec {
  return { tap: TAP_NAME, mac: macForSandbox(id), netns: `${netnsPrefix}${id}` };
}

interface Active {
  readonly id: string;
  readonly netns: string;
  readonly transit: TransitAddresses;
  policy: NetworkPolicy;
  compiled: CompiledPolicy;
  readonly book: AddressBook;
  /** address -> expiry (ms) of what is in the kernel's allow set, as far as hob knows. */
  readonly inSet: Map<string, number>;
  resolver: SandboxResolver | undefined;
  secrets: SecretRedirect | undefined;
  /** Serializes this sandbox's nftables updates (answers and policy changes). */
  nft: Promise<void>;
}

/** Refresh an allow-set element only when the answer extends it by more than this. */
const REFRESH_SLACK_MS = 60_000;
/** Re-read /etc/resolv.conf at most this often (when upstreamDns is not configured). */
const RESOLV_CONF_REFRESH_MS = 30_000;

export class SandboxNetwork {
  private readonly active = new Map<string, Active>();
  private readonly locks = new Map<string, Promise<unknown>>();
  private upstream: readonly UpstreamServer[] = [];
  private upstreamReadAt = 0;
  private closed = false;

  private constructor(
    private readonly opts: SandboxNetworkOptions,
    private readonly forwarding: HostForwarding,
  ) {}

  /**
   * Validates the options, turns on IPv4 forwarding on the uplinks of hobd's namespace
   * (host-forwarding.ts) and creates (or replaces) the host table. Needs root, `ip`
   * (iproute2), `nft` and `sysctl`, and the kernel's veth, tun, nf_tables (with nat, fib,
   * reject) support.
   * @throws NetworkError for bad options or when a command fails.
   */
  static async open(opts: SandboxNetworkOptions): Promise<SandboxNetwork> {
    if (parseIpv4Cidr(opts.transitRange).prefix > TRANSIT_PREFIX) {
      throw new NetworkError(`transit range ${opts.transitRange} is smaller than a /${TRANSIT_PREFIX}`);
    }
    if (!netnsPrefixSchema.safeParse(opts.netnsPrefix).success) {
      throw new NetworkError(`netns prefix ${JSON.stringify(opts.netnsPrefix)} must be lowercase letters or digits followed by "-"`);
    }
    const n = new SandboxNetwork(opts, await HostForwarding.load(opts.forwardingStateFile));
    if (opts.upstreamDns) {
      n.upstream = opts.upstreamDns.map((s) => {
        const server = parseServer(s);
        if (!server) throw new NetworkError(`upstream DNS server ${JSON.stringify(s)} is not an address`);
        return server;
      });
    } else {
      await n.refreshUpstream();
    }
    await n.forwarding.refreshUplinks();
    await n.applyHostTable();
    return n;
  }

  /** Name of a sandbox's network namespace. */
  netnsName(id: string): string {
    return `${this.opts.netnsPrefix}${id}`;
  }

  /**
   * Creates the sandbox's network, or re-attaches to it when it exists (a VMM that kept
   * running across a hobd restart keeps its tap), and applies `policy` (default
   * unrestricted). `slot` is the sandbox's transit slot, allocated by the caller from
   * persistent state and unique among running sandboxes. On failure nothing this call
   * created is left behind. Re-attaching after a hobd restart empties a restricted
   * sandbox's allow set (the new process does not know which names its addresses belong
   * to, and the policy may have changed meanwhile): the guest's next lookups refill it.
   * @throws BadRequestError for a bad id, slot or policy; NetworkError when a command fails
   *   or the resolver cannot listen.
   */
  async setup(id: string, slot: number, policy: NetworkPolicy = UNRESTRICTED_POLICY): Promise<SandboxNetConfig> {
    checkNetId(id);
    const transit = transitAddresses(this.opts.transitRange, slot);
    const validPolicy = parsePolicy(policy);
    return this.locked(id, async () => {
      this.checkOpen();
      const netns = this.netnsName(id);
      const previous = this.active.get(id);
      if (previous && previous.transit.slot !== slot) {
        await previous.resolver?.close();
        this.active.delete(id);
      }
      let created = false;
      let a: Active | undefined;
      try {
        // An uplink may have come (or changed) since the last sandbox: replies arrive there.
        if (await this.forwarding.refreshUplinks()) await setGuardedUplinks(this.forwarding.guardedUplinks);
        created = (await ensureSandboxLinks({ netns, id, transit, tapOwner: this.opts.tapOwner })).created;
        await this.forwarding.enableLink(hostVethName(id));
        a = previous?.transit.slot === slot
          ? previous
          : {
              id, netns, transit, policy: validPolicy, compiled: compilePolicy(validPolicy),
              book: new AddressBook(), inSet: new Map(), resolver: undefined, secrets: undefined, nft: Promise.resolve(),
            };
        const s = a;
        s.policy = validPolicy;
        s.compiled = compilePolicy(validPolicy);
        await this.queueNft(s, async () => {
          const allowed = s.compiled.restricted ? s.book.allowed(s.compiled) : [];
          await applyInNetns(netns, sandboxTableScript({
            hostAddress: transit.host, sandboxAddress: transit.sandbox, resolverPort: this.opts.resolverPort,
            restricted: s.compiled.restricted, allowed,
            secretProxyPort: this.opts.secrets?.port, secretAddresses: s.secrets?.addresses(s.book, s.compiled) ?? [],
          }));
          this.resetInSet(s, allowed);
        });
        s.resolver ??= await SandboxResolver.start({
          address: transit.host,
          port: this.opts.resolverPort,
          upstream: () => this.currentUpstream(),
          policy: () => s.compiled,
          onAnswer: (name, addresses) => this.onAnswer(s, name, addresses),
          log: this.opts.log,
        });
        if (this.opts.secrets) s.secrets ??= await SecretRedirect.start(id, transit.host, this.opts.transitRange, s.book, this.opts.secrets);
        this.active.set(id, s);
      } catch (err) {
        if (created) {
          this.active.delete(id);
          await a?.resolver?.close().catch(() => undefined);
          await a?.secrets?.close().catch(() => undefined);
          await deleteSandboxLinks(netns, id).catch(() => undefined);
        }
        throw err;
      }
      return {
        netSpec: netSpecFor(this.opts.netnsPrefix, id),
        cmdlineArgs: guestCmdlineArgs(),
        transit,
      };
    });
  }

  /**
   * A namespace with only the tap, for a VM that needs the device but no network (a warm
   * template being built: docs/architecture.md §17). `teardown` removes it; so does
   * `reconcile` after a crash, as for any id it does not keep.
   */
  async setupIsolated(id: string): Promise<{ netSpec: NetSpec; cmdlineArgs: string }> {
    checkNetId(id);
    return this.locked(id, async () => {
      this.checkOpen();
      await ensureIsolatedTap(this.netnsName(id), this.opts.tapOwner);
      return { netSpec: netSpecFor(this.opts.netnsPrefix, id), cmdlineArgs: guestCmdlineArgs() };
    });
  }

  /**
   * Removes the sandbox's network: resolver, veth pair, namespace (with its tap and rules).
   * Idempotent; also cleans up after a sandbox this process never set up. Call it after
   * the VMM has exited (while a VMM runs inside, the kernel keeps the namespace until it
   * exits, cut off).
   * @throws NetworkError when something that exists cannot be removed.
   */
  async teardown(id: string): Promise<void> {
    checkNetId(id);
    await this.locked(id, async () => {
      const a = this.active.get(id);
      this.active.delete(id);
      await a?.resolver?.close();
      await a?.secrets?.close();
      await deleteSandboxLinks(this.netnsName(id), id);
    });
  }

  /**
   * Changes the egress policy of a running sandbox, live: the next DNS query is judged by
   * it, and the allow set is rebuilt at once from the names the guest resolved (addresses
   * of names no longer allowed are removed; connections already established stay).
   * Returns false (and does nothing) when the sandbox's network is not set up: the caller
   * stores the policy and passes it to the next `setup`.
   * @throws BadRequestError for an invalid policy; NetworkError when nft fails.
   */
  async setPolicy(id: string, policy: NetworkPolicy): Promise<boolean> {
    const valid = parsePolicy(policy);
    return this.locked(id, async () => {
      const a = this.active.get(id);
      if (!a) return false;
      a.policy = valid;
      a.compiled = compilePolicy(valid);
      await this.queueNft(a, async () => {
        const allowed = a.compiled.restricted ? a.book.allowed(a.compiled) : [];
        await applyInNetns(a.netns, egressScript(a.compiled.restricted, allowed));
        this.resetInSet(a, allowed);
        if (a.secrets) await applyInNetns(a.netns, secretSetScript(a.secrets.addresses(a.book, a.compiled)));
      });
      return true;
    });
  }

  /**
   * Rebuilds the sandbox's secret redirect set after its grants changed (a grant, a
   * revoke, a secret's hosts changed or removed): addresses the guest already resolved
   * for a newly granted host are redirected at once. Returns false when the sandbox's
   * network is not set up (the next `setup` builds the set).
   * @throws NetworkError when nft fails.
   */
  async refreshSecrets(id: string): Promise<boolean> {
    return this.locked(id, async () => {
      const a = this.active.get(id);
      if (!a?.secrets) return false;
      const r = a.secrets;
      await this.queueNft(a, () => applyInNetns(a.netns, secretSetScript(r.addresses(a.book, a.compiled))));
      return true;
    });
  }

  /**
   * The policy in force for a running sandbox.
   * @throws NotFoundError when its network is not set up.
   */
  policyOf(id: string): NetworkPolicy {
    const a = this.active.get(id);
    if (!a) throw new NotFoundError(`sandbox ${id} has no network set up`);
    return a.policy;
  }

  /** Ids whose network this process has set up. */
  activeIds(): string[] {
    return [...this.active.keys()];
  }

  /**
   * Removes every sandbox network (namespace with this instance's prefix, `hv-*` veth,
   * resolver) whose id is not in `keep`, and re-applies the host table. Call at start-up
   * with the sandboxes whose VMs run (or will be adopted), before any `setup`; then call
   * `setup` for each of them. Returns the ids removed.
   * @throws NetworkError when something cannot be removed.
   */
  async reconcile(keep: Iterable<string>): Promise<string[]> {
    this.checkOpen();
    const keepSet = new Set(keep);
    const found = new Set([...(await listNetnsIds(this.opts.netnsPrefix)), ...(await listHostVethIds()), ...this.active.keys()]);
    const removed: string[] = [];
    for (const id of found) {
      if (keepSet.has(id)) continue;
      await this.teardown(id);
      removed.push(id);
    }
    await this.applyHostTable();
    return removed.sort();
  }

  /**
   * Stops every resolver. Namespaces, links and rules stay, so VMMs that outlive hobd keep
   * their network (DNS answers resume when a new hobd calls `setup` for them). When no
   * sandbox network is left, hob leaves the host as it found it: the host table goes and
   * the uplinks hob made forward stop forwarding.
   */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.locks.values()]);
    await Promise.all([...this.active.values()].flatMap((a) => [a.resolver?.close(), a.secrets?.close()]));
    this.active.clear();
    const left = [...(await listNetnsIds(this.opts.netnsPrefix)), ...(await listHostVethIds())];
    if (left.length === 0) {
      await removeHostTable();
      await this.forwarding.restore();
    }
  }

  private async applyHostTable(): Promise<void> {
    await applyHostTable({
      transitRange: this.opts.transitRange,
      resolverPort: this.opts.resolverPort,
      guardedUplinks: this.forwarding.guardedUplinks,
      secretProxyPort: this.opts.secrets?.port,
    });
  }

  private checkOpen(): void {
    if (this.closed) throw new NetworkError('sandbox networking is closed');
  }

  /** Runs `fn` after every earlier operation on the same sandbox has finished. */
  private locked<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(id) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.locks.set(id, tail);
    void tail.then(() => {
      if (this.locks.get(id) === tail) this.locks.delete(id);
    });
    return next;
  }

  private queueNft(a: Active, fn: () => Promise<void>): Promise<void> {
    const next = a.nft.then(fn, fn);
    a.nft = next.catch(() => undefined);
    return next;
  }

  private resetInSet(a: Active, allowed: readonly AllowedAddress[]): void {
    a.inSet.clear();
    const now = Date.now();
    for (const e of allowed) a.inSet.set(e.address, now + e.timeoutSeconds * 1000);
  }

  /** Resolver hook: record the answer; for a restricted sandbox, allow its addresses first. */
  private async onAnswer(a: Active, name: string, addresses: readonly DnsAddress[]): Promise<void> {
    a.book.record(name, addresses);
    const secrets = a.secrets;
    // Before the answer reaches the guest: its first connection to a secret's host is redirected.
    if (secrets?.wants(name)) {
      await this.queueNft(a, async () => {
        if (this.active.get(a.id) !== a) return;
        await applyInNetns(a.netns, secretAddScript(secrets.forAnswer(name, addresses, a.book, a.compiled)));
      });
    }
    if (!a.compiled.restricted) return;
    await this.queueNft(a, async () => {
      // Judged again here, in order with policy changes: the policy may have changed since.
      if (!a.compiled.restricted || this.active.get(a.id) !== a) return;
      const now = Date.now();
      const wanted = a.book
        .allowed(a.compiled, now, new Set(addresses.map((x) => x.address)))
        .filter((e) => (a.inSet.get(e.address) ?? 0) + REFRESH_SLACK_MS < now + e.timeoutSeconds * 1000);
      if (wanted.length === 0) return;
      await applyInNetns(a.netns, allowScript(wanted));
      for (const e of wanted) a.inSet.set(e.address, now + e.timeoutSeconds * 1000);
    });
  }

  private currentUpstream(): readonly UpstreamServer[] {
    if (!this.opts.upstreamDns && Date.now() - this.upstreamReadAt > RESOLV_CONF_REFRESH_MS) {
      void this.refreshUpstream();
    }
    return this.upstream;
  }

  private async refreshUpstream(): Promise<void> {
    this.upstreamReadAt = Date.now();
    const servers = await hostNameservers();
    if (servers.length === 0) this.opts.log?.('no nameserver in /etc/resolv.conf: guests get SERVFAIL for every name');
    this.upstream = servers;
  }
}
