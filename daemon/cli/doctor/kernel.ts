/**
 * The host kernel's side: who may open /dev/kvm (`kvm-device`) and the kernel
 * modules hob relies on (`kernel-modules`). Both read only world-readable
 * files (host-files.ts), so `hob doctor` as a user sees what root would.
 */
import { gunzipSync } from 'node:zlib';
import type { HostFiles } from './host-files.js';
import { check, type Check } from './types.js';

// ---------------------------------------------------------------- /dev/kvm

/** What `stat /dev/kvm` and /etc/group say. */
export type KvmDeviceFacts =
  | { readonly kind: 'missing' }
  | { readonly kind: 'present'; readonly charDevice: boolean; readonly mode: number; readonly uid: number; readonly gid: number; readonly group: string | undefined };

/** `crw-rw----`-style text of a mode's permission bits. */
function permissions(mode: number): string {
  const bits = 'rwxrwxrwx';
  let out = '';
  for (let i = 0; i < 9; i++) out += mode & (0o400 >> i) ? bits[i] : '-';
  return out;
}

/** Name of group `gid` in an /etc/group text. */
export function groupName(etcGroup: string, gid: number): string | undefined {
  for (const line of etcGroup.split('\n')) {
    const [name, , id] = line.split(':');
    if (name && id !== undefined && Number(id) === gid) return name;
  }
  return undefined;
}

export async function probeKvmDevice(files: HostFiles): Promise<KvmDeviceFacts> {
  const st = await files.stat('/dev/kvm');
  if (!st) return { kind: 'missing' };
  const gid = Number(st.gid);
  return {
    kind: 'present',
    charDevice: st.isCharacterDevice(),
    mode: Number(st.mode) & 0o777,
    uid: Number(st.uid),
    gid,
    group: groupName((await files.text('/etc/group')) ?? '', gid),
  };
}

/**
 * `kvm-device`: hobd runs as root and opens /dev/kvm whatever its mode; the
 * usual `crw-rw---- root:kvm` also lets members of `kvm` run qemu by hand.
 * Whether KVM works at all is the `kvm` check's verdict (vmm/kvm.ts).
 */
export function evaluateKvmDevice(facts: KvmDeviceFacts): Check {
  if (facts.kind === 'missing') return check('kvm-device', 'ok', '/dev/kvm does not exist (see the kvm check)');
  if (!facts.charDevice) return check('kvm-device', 'fail', '/dev/kvm exists but is not a character device', 'remove it and reload KVM (udev recreates it as c 10:232)');
  const owner = `${facts.uid === 0 ? 'root' : `uid ${facts.uid}`}:${facts.group ?? `gid ${facts.gid}`}`;
  const text = `/dev/kvm is c${permissions(facts.mode)} ${owner}`;
  if (facts.mode & 0o002) return check('kvm-device', 'ok', `${text}: every user may run VMs with KVM`);
  if (facts.group === 'kvm' && (facts.mode & 0o060) === 0o060) return check('kvm-device', 'ok', `${text}: root (hobd) and the members of group kvm may use it`);
  return check(
    'kvm-device',
    'warn',
    `${text}: only ${facts.mode & 0o060 ? `root and group ${facts.group ?? facts.gid}` : 'root'} may use it; hobd (root) can, qemu run by hand as a user cannot`,
    'the usual setting is crw-rw---- root:kvm (udev rule KERNEL=="kvm", GROUP="kvm", MODE="0660"; Debian and Ubuntu ship it in udev)',
  );
}

// ---------------------------------------------------------------- modules

/** The modules hob relies on and what for; `needed: false` only informs. */
export const HOB_MODULES: ReadonlyArray<{ readonly name: string; readonly what: string; readonly needed: boolean; readonly config: string }> = [
  { name: 'btrfs', what: 'the pool', needed: true, config: 'CONFIG_BTRFS_FS' },
  { name: 'loop', what: 'the embedded pool image', needed: true, config: 'CONFIG_BLK_DEV_LOOP' },
  { name: 'tun', what: 'the VMs\' taps', needed: true, config: 'CONFIG_TUN' },
  { name: 'nf_tables', what: 'NAT and the egress policy', needed: true, config: 'CONFIG_NF_TABLES' },
  // qemu's agent channel is virtio-serial and cloud-hypervisor's vsock is its own user-space
  // muxer (vmm/cloud-hypervisor/vsock.ts): neither opens /dev/vhost-vsock.
  { name: 'vhost_vsock', what: 'not used by hob\'s drivers today: qemu uses virtio-serial, cloud-hypervisor a user-space vsock', needed: false, config: 'CONFIG_VHOST_VSOCK' },
];

export type ModuleState = 'loaded' | 'built-in' | 'loadable' | 'absent' | 'unknown';

/** The raw text the module states are decided from. */
export interface ModuleFacts {
  readonly release: string | undefined;
  /** /proc/modules; undefined when the kernel has no module support (then everything is built in or absent). */
  readonly loaded: string | undefined;
  /** The kernel's configuration (/proc/config.gz, else /boot/config-<release>), undefined when neither is readable. */
  readonly config: string | undefined;
  /** Names under /sys/module (loaded modules, and built-in ones that have parameters). */
  readonly sysModules: readonly string[];
  /** /lib/modules/<release>/modules.builtin, undefined when absent. */
  readonly builtin: string | undefined;
  /** /lib/modules/<release>/modules.dep, undefined when absent. */
  readonly dep: string | undefined;
}

const norm = (name: string): string => name.replace(/-/g, '_');

/** Module names of a modules.builtin or modules.dep text (the file name of each path before the colon). */
function namesIn(list: string): Set<string> {
  const out = new Set<string>();
  for (const line of list.split('\n')) {
    const path = line.split(':')[0]?.trim();
    const m = path ? /([^/]+)\.ko(?:\.(?:xz|gz|zst))?$/.exec(path) : null;
    if (m?.[1]) out.add(norm(m[1]));
  }
  return out;
}

/** `CONFIG_X` -> `y` / `m` of a kernel config text. */
function configValues(config: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of (config ?? '').matchAll(/^(CONFIG_\w+)=(\w+)$/gm)) out.set(m[1] ?? '', m[2] ?? '');
  return out;
}

/**
 * State of each module in `names`: loaded (/proc/modules), built in (modules.builtin,
 * =y in the kernel config, or /sys/module without /proc/modules), loadable (modules.dep, or
 * =m), absent, or unknown (no module lists and no config: a container without /lib/modules).
 */
export function moduleStates(facts: ModuleFacts, names: readonly string[]): Map<string, ModuleState> {
  const loaded = new Set((facts.loaded ?? '').split('\n').map((l) => norm(l.split(' ')[0] ?? '')).filter((n) => n !== ''));
  const config = configValues(facts.config);
  const configOf = (name: string): string | undefined => {
    const key = HOB_MODULES.find((m) => m.name === name)?.config;
    return key === undefined ? undefined : config.get(key);
  };
  const builtin = facts.builtin === undefined ? undefined : namesIn(facts.builtin);
  const loadable = facts.dep === undefined ? undefined : namesIn(facts.dep);
  const sys = new Set(facts.sysModules.map(norm));
  const out = new Map<string, ModuleState>();
  for (const name of names.map(norm)) {
    if (loaded.has(name)) out.set(name, 'loaded');
    else if (builtin?.has(name) || configOf(name) === 'y') out.set(name, 'built-in');
    else if (loadable?.has(name)) out.set(name, 'loadable');
    // =m but not in modules.dep: the package with it is not installed (Ubuntu's linux-modules-extra).
    else if (configOf(name) === 'm') out.set(name, loadable === undefined ? 'unknown' : 'absent');
    // Built-in code with parameters shows in /sys/module; loaded modules do too, but those are in /proc/modules.
    else if (sys.has(name)) out.set(name, 'built-in');
    else if (facts.config !== undefined) out.set(name, 'absent');
    else out.set(name, builtin === undefined && loadable === undefined ? 'unknown' : 'absent');
  }
  return out;
}

async function kernelConfig(files: HostFiles, release: string | undefined): Promise<string | undefined> {
  const gz = await files.bytes('/proc/config.gz');
  if (gz) {
    try {
      return gunzipSync(gz).toString('utf8');
    } catch {
      // a damaged file: try /boot
    }
  }
  return release ? files.text(`/boot/config-${release}`) : undefined;
}

export async function probeModules(files: HostFiles): Promise<ModuleFacts> {
  const release = (await files.text('/proc/sys/kernel/osrelease'))?.trim();
  const dir = release ? `/lib/modules/${release}` : undefined;
  return {
    release,
    loaded: await files.text('/proc/modules'),
    config: await kernelConfig(files, release),
    sysModules: await files.list('/sys/module'),
    builtin: dir ? await files.text(`${dir}/modules.builtin`) : undefined,
    dep: dir ? await files.text(`${dir}/modules.dep`) : undefined,
  };
}

/** `kernel-modules`: every needed module is loaded, built in or loadable (a loadable one loads on first use: mount, open of /dev/loop-control or /dev/net/tun, nft). */
export function evaluateModules(facts: ModuleFacts): Check {
  const states = moduleStates(facts, HOB_MODULES.map((m) => m.name));
  const parts = HOB_MODULES.map((m) => `${m.name} ${states.get(m.name)}${m.needed ? '' : ` (${m.what})`}`);
  const kernel = facts.release ? `kernel ${facts.release}: ` : '';
  const absent = HOB_MODULES.filter((m) => m.needed && states.get(m.name) === 'absent');
  if (absent.length > 0) {
    return check(
      'kernel-modules',
      'fail',
      `${kernel}${parts.join(', ')}; hob needs ${absent.map((m) => `${m.name} (${m.what})`).join(', ')}`,
      `install this kernel's modules (Debian/Ubuntu: linux-modules-extra-$(uname -r) or the matching linux-image package), or a kernel built with ${absent.map((m) => m.name).join(', ')}`,
    );
  }
  const unknown = HOB_MODULES.filter((m) => m.needed && states.get(m.name) === 'unknown');
  if (unknown.length > 0) {
    return check(
      'kernel-modules',
      'warn',
      `${kernel}${parts.join(', ')}; no module lists in /lib/modules/${facts.release ?? '<release>'} and no kernel config (a container?), so ${unknown.map((m) => m.name).join(', ')} cannot be told apart from missing`,
      'run hob doctor on the host itself, or check with modprobe -n <module>',
    );
  }
  return check('kernel-modules', 'ok', `${kernel}${parts.join(', ')}`);
}
