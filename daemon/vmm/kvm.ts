import { constants } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { hostArch } from './arch.js';
import type { GuestArch } from './types.js';

/** Whether KVM can run ordinary guests here, and a sentence a human can act on. */
export interface KvmStatus {
  readonly usable: boolean;
  /** Why (not): names the missing piece and what to do about it. */
  readonly reason: string;
}

/** Result of trying to open /dev/kvm read-write. */
export type DevKvmAccess =
  | { readonly kind: 'ok' }
  | { readonly kind: 'missing' }
  | { readonly kind: 'denied'; readonly detail: string };

/** The raw facts KVM usability is decided from; gathered by probeKvmFacts, pure to evaluate. */
export interface KvmFacts {
  readonly arch: GuestArch;
  readonly devKvm: DevKvmAccess;
  /** Contents of /proc/cpuinfo (only consulted on x86_64). */
  readonly cpuinfo: string;
}

/** True when some `flags` line of an x86 /proc/cpuinfo lists vmx (Intel VT-x) or svm (AMD-V). */
export function cpuinfoHasVirtFlags(cpuinfo: string): boolean {
  for (const line of cpuinfo.split('\n')) {
    const m = /^flags\s*:(.*)$/.exec(line);
    if (!m) continue;
    const flags = (m[1] ?? '').trim().split(/\s+/);
    if (flags.includes('vmx') || flags.includes('svm')) return true;
  }
  return false;
}

/**
 * Decides KVM usability (docs/architecture.md §4): /dev/kvm must exist and open read-write, and on
 * x86_64 the CPU must expose vmx or svm. A /dev/kvm without those flags (a nested PVM
 * sandbox) hangs ordinary guests, so it counts as unusable. On aarch64 /dev/kvm suffices.
 */
export function evaluateKvm(facts: KvmFacts): KvmStatus {
  const { devKvm } = facts;
  if (devKvm.kind === 'missing') {
    return {
      usable: false,
      reason:
        '/dev/kvm does not exist: enable virtualisation in the firmware, load the kvm_intel/kvm_amd (or arm64 KVM) module, or run on a host that exposes KVM; VMs will use slow software emulation (qemu TCG)',
    };
  }
  if (devKvm.kind === 'denied') {
    return {
      usable: false,
      reason: `/dev/kvm cannot be opened read-write (${devKvm.detail}): run hobd as root or give its user access to /dev/kvm (group kvm)`,
    };
  }
  if (facts.arch === 'x86_64' && !cpuinfoHasVirtFlags(facts.cpuinfo)) {
    return {
      usable: false,
      reason:
        '/dev/kvm exists but the CPU flags in /proc/cpuinfo have neither vmx nor svm (nested or paravirtual KVM such as PVM, which hangs ordinary guests): enable nested virtualisation for this VM or use bare metal; VMs will use qemu TCG',
    };
  }
  return {
    usable: true,
    reason:
      facts.arch === 'x86_64'
        ? '/dev/kvm opens read-write and the CPU exposes hardware virtualisation'
        : '/dev/kvm opens read-write',
  };
}

/** Gathers KvmFacts from this host. Never throws. */
export async function probeKvmFacts(devPath = '/dev/kvm', cpuinfoPath = '/proc/cpuinfo'): Promise<KvmFacts> {
  const arch = hostArch();
  let devKvm: DevKvmAccess;
  try {
    const fh = await open(devPath, constants.O_RDWR);
    await fh.close();
    devKvm = { kind: 'ok' };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    devKvm = code === 'ENOENT' ? { kind: 'missing' } : { kind: 'denied', detail: code ?? String(err) };
  }
  const cpuinfo = arch === 'x86_64' ? await readFile(cpuinfoPath, 'utf8').catch(() => '') : '';
  return { arch, devKvm, cpuinfo };
}

/** Detects whether KVM is usable on this host. */
export async function detectKvm(): Promise<KvmStatus> {
  return evaluateKvm(await probeKvmFacts());
}
