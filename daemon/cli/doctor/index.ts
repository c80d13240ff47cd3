/**
 * `hob doctor`: what this host offers hob and what is missing, as a list of
 * checks (see types.ts). Each group lives in its own file: vmm.ts (KVM,
 * driver, cloud-hypervisor, qemu), storage.ts (btrfs-progs, loop, pool),
 * network.ts (nftables, tun), images.ts (build tools, images), daemon.ts
 * (config, hobd, group), kernel.ts (/dev/kvm's permissions, kernel modules),
 * cpu.ts (the Arm GIC, big.LITTLE cores).
 *
 * Nothing here changes the host. Some probes need root (nft, losetup, the
 * pool); run as a user they say so instead of failing.
 */
import { hostArch } from '../../vmm/arch.js';
import type { GuestArch } from '../../vmm/types.js';
import { resolveTarget, type ConnectionFlags, type Target } from '../client.js';
import { evaluateCpus, evaluateGic, probeCpus, probeGic } from './cpu.js';
import { checkConfig, checkDaemon, checkGroup } from './daemon.js';
import { hostFiles, type HostFiles } from './host-files.js';
import { checkImageBuildTools, checkImages } from './images.js';
import { evaluateKvmDevice, evaluateModules, probeKvmDevice, probeModules } from './kernel.js';
import { networkChecks } from './network.js';
import { storageChecks } from './storage.js';
import { worstStatus, type Check, type DoctorContext, type DoctorReport } from './types.js';
import { vmmChecks } from './vmm.js';

export { CH_PINNED_VERSION } from './vmm.js';
export type { Check, CheckStatus, DoctorReport } from './types.js';

export interface DoctorOptions {
  /** Configuration file (default: $HOB_CONFIG, else /etc/hob/config.yaml, as hobd). */
  readonly configPath?: string;
  /** --socket / --url / --token as given; when none is given (nor $HOB_SOCKET / $HOB_URL), the config's socket is used. */
  readonly connection?: ConnectionFlags;
  /** Default: process.env. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Default: whether the process's uid is 0. */
  readonly isRoot?: boolean;
  /** Where the host's /proc, /sys, /dev, /etc and /lib/modules are read for kernel.ts and cpu.ts (default `/`; tests give a fixture tree). */
  readonly hostRoot?: string;
  /** The host's architecture for those checks (default: this process's). */
  readonly arch?: GuestArch;
}

/** `kvm-device`, `kernel-modules`, `gic`, `cpu-cores`: read from `files` only, so they run on fixtures too. */
export async function hostChecks(files: HostFiles, arch: GuestArch): Promise<Check[]> {
  return [
    evaluateKvmDevice(await probeKvmDevice(files)),
    evaluateModules(await probeModules(files)),
    evaluateGic(arch, await probeGic(files)),
    evaluateCpus(arch, await probeCpus(files)),
  ];
}

/**
 * The checks of this host alone (VMMs, kernel, storage, network, build tools), none of which
 * asks hobd: what hobd itself reports under `GET /v1/host` (daemon/host/), and the middle of
 * `hob doctor`. Each starts a few short processes at most; none boots anything.
 */
export async function localChecks(ctx: DoctorContext, files: HostFiles, arch: GuestArch): Promise<Check[]> {
  const { checks: vmm } = await vmmChecks(ctx);
  const host = await hostChecks(files, arch);
  const storage = await storageChecks(ctx);
  const network = await networkChecks(ctx);
  const buildTools = await checkImageBuildTools(ctx);
  return [...vmm, ...host, ...storage, ...network, buildTools];
}

function target(flags: ConnectionFlags, env: Readonly<Record<string, string | undefined>>, configSocket: string | undefined): Target {
  const explicit = flags.socket !== undefined || flags.url !== undefined || !!env.HOB_URL || !!env.HOB_SOCKET;
  return resolveTarget(explicit || configSocket === undefined ? flags : { ...flags, socket: configSocket }, env);
}

/** Where hobd is expected to answer, as the checks see it (the config's socket unless a flag or $HOB_SOCKET/$HOB_URL says otherwise). */
export async function doctorTarget(options: DoctorOptions = {}): Promise<Target> {
  const env = options.env ?? process.env;
  const { config } = await checkConfig(env, options.configPath);
  return target(options.connection ?? {}, env, config?.api.socketPath);
}

/**
 * Runs every check and returns the report. Never throws for what it finds;
 * throws UsageError only for contradictory connection flags (--socket with --url).
 */
export async function runDoctor(options: DoctorOptions = {}): Promise<DoctorReport> {
  const env = options.env ?? process.env;
  const { check: configCheck, config } = await checkConfig(env, options.configPath);
  const ctx: DoctorContext = {
    config,
    env,
    isRoot: options.isRoot ?? process.getuid?.() === 0,
    target: target(options.connection ?? {}, env, config?.api.socketPath),
  };
  const local = await localChecks(ctx, hostFiles(options.hostRoot), options.arch ?? hostArch());
  const { check: daemonCheck, facts } = await checkDaemon(ctx);
  const group = await checkGroup(ctx);
  const images = await checkImages(ctx, facts);
  const checks: Check[] = [configCheck, ...local, daemonCheck, group, images];
  return { status: worstStatus(checks), checks };
}
