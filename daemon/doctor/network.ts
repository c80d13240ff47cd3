/**
 * Checks of what sandbox networking needs (design section 6): nftables
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

/** Every network check, in order. */
export async function networkChecks(ctx: DoctorContext): Promise<Check[]> {
  return [await checkNftables(ctx), await checkTun(ctx)];
}
