/**
 * Checks of what sandbox networking needs (docs/architecture.md §6): nftables
 * (hob's own table: masquerade, egress policy) and /dev/net/tun (one tap per
 * VM). Listing the ruleset and opening tun need root.
 */
import { constants } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { findProgram, probe, programVersion } from './programs.js';
import { check, type Check, type DoctorContext } from './types.js';

/** `nftables`: the nft tool runs and can list the ruleset. */
export async function checkNftables(ctx: DoctorContext): Promise<Check> {
  const nft = await findProgram('nft', ctx.env);
  if (!nft) return check('nftables', 'fail', 'nft not found: sandbox networking (NAT, egress policy) needs nftables', 'apt-get install nftables');
  const version = (await programVersion(nft)) ?? 'version unknown';
  if (!ctx.isRoot) return check('nftables', 'ok', `${version} (run as root to check that the ruleset can be listed)`);
  const list = await probe(nft, ['list', 'tables']);
  if (!list.ok) {
    return check('nftables', 'fail', `${version}, but \`nft list tables\` fails: ${list.output.split('\n')[0] ?? ''}`, 'load nf_tables (modprobe nf_tables); in a container, give it CAP_NET_ADMIN');
  }
  const tables = list.output.split('\n').filter((l) => l.startsWith('table ')).length;
  return check('nftables', 'ok', `${version}; the ruleset can be listed (${tables} table${tables === 1 ? '' : 's'})`);
}

/** `tun`: /dev/net/tun exists (and, as root, opens) for the VMs' taps. */
export async function checkTun(ctx: DoctorContext): Promise<Check> {
  const path = '/dev/net/tun';
  const st = await stat(path).catch(() => undefined);
  if (!st) return check('tun', 'fail', `${path} does not exist: VMs cannot get a network interface (tap)`, 'modprobe tun (and add "tun" to /etc/modules); in a container, pass /dev/net/tun in');
  if (!st.isCharacterDevice()) return check('tun', 'fail', `${path} is not a character device`, 'remove it and modprobe tun');
  if (!ctx.isRoot) return check('tun', 'ok', `${path} exists (run as root to check that it opens)`);
  try {
    const fh = await open(path, constants.O_RDWR);
    await fh.close();
  } catch (err) {
    return check('tun', 'fail', `${path} does not open: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, 'modprobe tun; in a container, allow the device (cgroup device rule c 10:200 rwm)');
  }
  return check('tun', 'ok', `${path} opens read-write`);
}

/**
 * Base chains on the forward hook, outside hob's own table, whose policy drops: `table
 * family name / chain` for each. Docker, ufw and firewalld install one (iptables-nft shows
 * up here too). Every base chain on a hook must accept a packet, so such a chain drops
 * the sandboxes' traffic whatever hob's table says.
 */
export function forwardDropChains(ruleset: string): string[] {
  const found: string[] = [];
  let table = '';
  let chain = '';
  for (const raw of ruleset.split('\n')) {
    const line = raw.trim();
    const t = /^table (\S+) (\S+) \{/.exec(line);
    if (t) table = `${t[1]} ${t[2]}`;
    const c = /^chain (\S+) \{/.exec(line);
    if (c) chain = c[1] ?? '';
    if (table !== 'inet hob' && /\bhook forward\b/.test(line) && /\bpolicy drop\b/.test(line)) found.push(`table ${table} / chain ${chain}`);
  }
  return found;
}

/** `forwarding`: no other firewall drops forwarded traffic by default (as root). */
export async function checkForwarding(ctx: DoctorContext): Promise<Check> {
  if (!ctx.isRoot) return check('forwarding', 'ok', 'run as root to check the firewall rules');
  const nft = await findProgram('nft', ctx.env);
  if (!nft) return check('forwarding', 'warn', 'nft not found: cannot check the firewall rules');
  const list = await probe(nft, ['list', 'ruleset']);
  if (!list.ok) return check('forwarding', 'warn', 'cannot list the nftables ruleset');
  const chains = forwardDropChains(list.output);
  if (chains.length === 0) return check('forwarding', 'ok', 'no other firewall drops forwarded traffic');
  return check(
    'forwarding',
    'warn',
    `${chains.join(', ')} drops forwarded traffic by default (Docker, ufw and firewalld do this): sandboxes cannot reach the internet`,
    'accept hob\'s links there, e.g. for Docker: iptables -I DOCKER-USER -i hv-+ -j ACCEPT && iptables -I DOCKER-USER -o hv-+ -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT; for ufw: ufw route allow in on hv-+',
  );
}

/** Every network check, in order. */
export async function networkChecks(ctx: DoctorContext): Promise<Check[]> {
  return [await checkNftables(ctx), await checkTun(ctx), await checkForwarding(ctx)];
}
