/**
 * IPv4 forwarding in hobd's namespace, for hob's own links only (docs/architecture.md §6).
 *
 * Linux forwards a packet only when the interface it arrived on has forwarding on
 * (`net.ipv4.conf.<if>.forwarding`, see the kernel's ip-sysctl documentation). hob never
 * turns on the host-wide switch (`net.ipv4.ip_forward`): that turns it on for every
 * interface and makes the box a router between its LAN, its VPN and whatever else it is
 * plugged into. Instead:
 *   - each sandbox's host-side veth (`hv-*`) forwards: the guests' traffic goes out;
 *   - each uplink (the interface of a default route) forwards too, because the replies come
 *     back on it. Where hob is the one that turned it on, the host table's guard drops what
 *     arrives there for anything but a sandbox link (nftables.ts, `guarded_uplinks`), so the
 *     host still routes nothing of anyone else's;
 *   - what hob turned on is recorded in `stateFile` (in the run dir, a tmpfs: it goes with a
 *     reboot, as the sysctls do), so a later hobd knows it; `restore` puts it back.
 * When the host-wide switch is on (the user, Docker or a router setup forwards already),
 * hob turns nothing on and guards nothing: routing is the user's choice there.
 *
 * Limits: uplinks are the interfaces of the main table's IPv4 default routes, looked up
 * at start-up and before every sandbox network set-up; replies arriving by policy routing
 * on another interface are not forwarded unless that interface forwards already.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import * as z from 'zod';
import { NetworkError } from './errors.js';

const FORWARDING_ALL = '/proc/sys/net/ipv4/conf/all/forwarding';

/** The record of what hob turned on (JSON in `stateFile`). */
const RecordSchema = z.object({ uplinks: z.array(z.string().regex(/^[A-Za-z0-9._@:-]{1,15}$/)) });

function forwardingPath(ifname: string): string {
  return `/proc/sys/net/ipv4/conf/${ifname}/forwarding`;
}

async function readFlag(path: string): Promise<boolean | undefined> {
  try {
    return (await readFile(path, 'utf8')).trim() === '1';
  } catch {
    return undefined; // the interface is gone
  }
}

async function writeFlag(path: string, on: boolean): Promise<void> {
  try {
    await writeFile(path, on ? '1\n' : '0\n');
  } catch (err) {
    throw new NetworkError(`cannot set ${path.replace('/proc/sys/', '').replaceAll('/', '.')}: ${(err as Error).message}`, { cause: err });
  }
}

/** The kernel's view of the main routing table of this process's namespace. */
const PROC_NET_ROUTE = '/proc/net/route';
const RTF_UP = 0x1;

/**
 * Interfaces of the main table's IPv4 default routes, from the text of /proc/net/route
 * (read instead of running `ip route`: this runs before every sandbox network set-up, and a
 * process start is most of what a file read would cost). Columns: Iface Destination Gateway
 * Flags RefCnt Use Metric Mask ..., addresses in hex; a route without a device shows `*`.
 */
export function parseDefaultRouteInterfaces(procNetRoute: string): string[] {
  const out = new Set<string>();
  for (const line of procNetRoute.split('\n').slice(1)) {
    const [iface, destination, , flags, , , , mask] = line.trim().split(/\s+/);
    if (iface === undefined || iface === '' || iface === '*' || destination !== '00000000' || mask !== '00000000') continue;
    if ((Number.parseInt(flags ?? '0', 16) & RTF_UP) === 0) continue;
    out.add(iface);
  }
  return [...out].sort();
}

async function defaultRouteInterfaces(): Promise<string[]> {
  try {
    return parseDefaultRouteInterfaces(await readFile(PROC_NET_ROUTE, 'utf8'));
  } catch (err) {
    throw new NetworkError(`cannot read the default routes (${PROC_NET_ROUTE}): ${(err as Error).message}`, { cause: err });
  }
}

export class HostForwarding {
  private guarded = new Set<string>();

  private constructor(private readonly stateFile: string) {}

  /** Loads what an earlier hobd turned on (the record in `stateFile`), if anything. */
  static async load(stateFile: string): Promise<HostForwarding> {
    const f = new HostForwarding(stateFile);
    try {
      const record = RecordSchema.safeParse(JSON.parse(await readFile(stateFile, 'utf8')));
      if (record.success) f.guarded = new Set(record.data.uplinks);
    } catch {
      // No record (first start since boot) or an unreadable one: nothing was turned on.
    }
    return f;
  }

  /** Uplinks hob turned forwarding on for, whose foreign traffic the host table drops. */
  get guardedUplinks(): readonly string[] {
    return [...this.guarded].sort();
  }

  /** Whether the host-wide switch is on (then hob guards nothing). */
  private async hostRoutes(): Promise<boolean> {
    return (await readFlag(FORWARDING_ALL)) === true;
  }

  /**
   * Makes every uplink forward (see the module comment). Returns whether the set of guarded
   * uplinks changed (the caller then rewrites the host table's guard set).
   * @throws NetworkError when a sysctl cannot be written or the routes cannot be read.
   */
  async refreshUplinks(): Promise<boolean> {
    const before = this.guardedUplinks.join(' ');
    if (await this.hostRoutes()) {
      // Someone turned the host-wide switch on: the host routes by their choice now.
      this.guarded.clear();
    } else {
      for (const dev of await defaultRouteInterfaces()) {
        if (this.guarded.has(dev)) {
          if ((await readFlag(forwardingPath(dev))) === false) await writeFlag(forwardingPath(dev), true);
          continue;
        }
        if ((await readFlag(forwardingPath(dev))) !== false) continue; // forwards already (by the user's choice), or gone
        await writeFlag(forwardingPath(dev), true);
        this.guarded.add(dev);
      }
    }
    const changed = this.guardedUplinks.join(' ') !== before;
    if (changed) await this.save();
    return changed;
  }

  /** Turns forwarding on for a sandbox's host-side veth. */
  async enableLink(ifname: string): Promise<void> {
    await writeFlag(forwardingPath(ifname), true);
  }

  /**
   * Puts back what hob turned on (forwarding off on the guarded uplinks, unless the
   * host-wide switch was turned on meanwhile) and forgets the record.
   */
  async restore(): Promise<void> {
    if (!(await this.hostRoutes())) {
      for (const dev of this.guarded) if ((await readFlag(forwardingPath(dev))) === true) await writeFlag(forwardingPath(dev), false);
    }
    this.guarded.clear();
    await rm(this.stateFile, { force: true });
  }

  private async save(): Promise<void> {
    if (this.guarded.size === 0) {
      await rm(this.stateFile, { force: true });
      return;
    }
    await writeFile(this.stateFile, `${JSON.stringify({ uplinks: this.guardedUplinks })}\n`, { mode: 0o600 });
  }
}
