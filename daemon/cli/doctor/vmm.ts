/**
 * Checks of the virtual machine side: KVM, which driver hobd will pick and
 * why, and the two VMMs. The decisions are the daemon's own (vmm/kvm.ts,
 * vmm/select.ts), so the doctor cannot disagree with hobd.
 */
import { chBinarySearchDescription, findChBinary } from '../../vmm/cloud-hypervisor/binary.js';
import { evaluateKvm, probeKvmFacts, type KvmFacts, type KvmStatus } from '../../vmm/kvm.js';
import { chooseVmm, type VmmChoice } from '../../vmm/select.js';
import type { VmmKind } from '../../vmm/types.js';
import { findProgram, programVersion } from './programs.js';
import { check, type Check, type DoctorContext } from './types.js';

/**
 * The cloud-hypervisor release install.sh downloads (`CH_VERSION` there; a
 * test keeps the two equal). hob's driver is written against its API.
 */
export const CH_PINNED_VERSION = 'v53.0';

/** What the VMM checks found, for the checks that come after them. */
export interface VmmFacts {
  readonly kvm: KvmStatus;
  readonly choice: VmmChoice | undefined;
  readonly chBinary: string | null;
}

function kvmFix(facts: KvmFacts, isRoot: boolean): string {
  switch (facts.devKvm.kind) {
    case 'missing':
      return 'enable hardware virtualisation (VT-x/AMD-V) in the firmware and load the module (modprobe kvm_intel or kvm_amd), or run on a host or VM that exposes /dev/kvm; meanwhile hob runs VMs under qemu TCG (slow)';
    case 'denied':
      return isRoot
        ? 'check the permissions of /dev/kvm (crw-rw---- root:kvm) and that no security module blocks it'
        : 'hobd runs as root and may be able to use /dev/kvm: run `sudo hob doctor` to see what hobd sees';
    case 'ok':
      return 'for a VM host, enable nested virtualisation (e.g. kvm_intel nested=1 on the outer host); on bare metal, enable VT-x/AMD-V in the firmware';
  }
}

/** `kvm`: whether KVM can run ordinary guests (exactly daemon/vmm/kvm.ts's verdict). */
export async function checkKvm(ctx: DoctorContext): Promise<{ check: Check; kvm: KvmStatus }> {
  const facts = await probeKvmFacts();
  const kvm = evaluateKvm(facts);
  if (kvm.usable) return { check: check('kvm', 'ok', kvm.reason), kvm };
  return { check: check('kvm', 'warn', kvm.reason, kvmFix(facts, ctx.isRoot)), kvm };
}

/** `vmm`: the driver hobd picks with this configuration, and why (daemon/vmm/select.ts). */
export function checkVmmChoice(ctx: DoctorContext, kvm: KvmStatus, chBinary: string | null): { check: Check; choice: VmmChoice | undefined } {
  const configured: VmmKind | undefined = ctx.config && ctx.config.vmm.driver !== 'auto' ? ctx.config.vmm.driver : undefined;
  let choice: VmmChoice;
  try {
    choice = chooseVmm({ env: ctx.env.HOB_VMM, configured, kvm, chBinary, chSearch: chBinarySearchDescription({ ...ctx.env }, ctx.config?.vmm.chBinary) });
  } catch (err) {
    return {
      check: check('vmm', 'fail', (err as Error).message, 'unset HOB_VMM or set it to qemu or cloud-hypervisor'),
      choice: undefined,
    };
  }
  const envNote = ctx.env.HOB_VMM ? ' (HOB_VMM is read from this shell; hobd reads its own environment)' : '';
  if (choice.problems.length > 0) {
    return {
      check: check(
        'vmm',
        'fail',
        `${choice.reason}${envNote}; but ${choice.problems.join('; ')}`,
        'set vmm.driver to auto (or qemu) in /etc/hob/config.yaml, or provide what is missing',
      ),
      choice,
    };
  }
  return { check: check('vmm', 'ok', `${choice.reason}${envNote}`), choice };
}

/** `cloud-hypervisor`: the binary hobd would use and its version. */
export async function checkCloudHypervisor(ctx: DoctorContext, kvm: KvmStatus, chBinary: string | null): Promise<Check> {
  if (!chBinary) {
    const where = chBinarySearchDescription({ ...ctx.env }, ctx.config?.vmm.chBinary);
    if (!kvm.usable) return check('cloud-hypervisor', 'ok', `not installed (looked for ${where}); not needed while KVM is not usable`);
    return check(
      'cloud-hypervisor',
      'warn',
      `not installed (looked for ${where}): VMs use qemu, which is slower to start and to snapshot`,
      `run sudo ./install.sh (it downloads cloud-hypervisor ${CH_PINNED_VERSION} and checks its sha256)`,
    );
  }
  const version = await programVersion(chBinary);
  if (version === null) {
    return check('cloud-hypervisor', 'fail', `${chBinary} does not run (--version failed)`, 'reinstall it with sudo ./install.sh');
  }
  const pinnedMajor = CH_PINNED_VERSION.replace(/^v/, '').split('.')[0];
  const found = /v(\d+)\.(\d+)/.exec(version);
  if (!found || found[1] !== pinnedMajor) {
    return check(
      'cloud-hypervisor',
      'warn',
      `${chBinary}: ${version}; hob is built and tested against ${CH_PINNED_VERSION}`,
      `install ${CH_PINNED_VERSION} with sudo ./install.sh, or point HOB_CH_BINARY at it`,
    );
  }
  return check('cloud-hypervisor', 'ok', `${chBinary}: ${version}`);
}

/** `qemu`: the QEMU binary (the fallback driver, or the chosen one). */
export async function checkQemu(ctx: DoctorContext, choice: VmmChoice | undefined): Promise<Check> {
  const name = ctx.config?.vmm.qemuBinary ?? `qemu-system-${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}`;
  const path = await findProgram(name, ctx.env);
  const pkg = process.arch === 'arm64' ? 'qemu-system-arm' : 'qemu-system-x86';
  const needed = choice === undefined || choice.kind === 'qemu';
  if (!path) {
    return check('qemu', needed ? 'fail' : 'warn', `${name} not found${needed ? ' and it is the driver hob uses' : ' (only needed where cloud-hypervisor cannot run)'}`, `apt-get install ${pkg} qemu-utils`);
  }
  const version = await programVersion(path);
  if (version === null) return check('qemu', needed ? 'fail' : 'warn', `${path} does not run (--version failed)`, `reinstall ${pkg}`);
  return check('qemu', 'ok', `${path}: ${version}`);
}

/** Every VMM check, in order, and the facts later checks use. */
export async function vmmChecks(ctx: DoctorContext): Promise<{ checks: Check[]; facts: VmmFacts }> {
  const { check: kvmCheck, kvm } = await checkKvm(ctx);
  const chBinary = await findChBinary({ ...ctx.env }, ctx.config?.vmm.chBinary);
  const { check: vmmCheck, choice } = checkVmmChoice(ctx, kvm, chBinary);
  const checks = [kvmCheck, vmmCheck, await checkCloudHypervisor(ctx, kvm, chBinary), await checkQemu(ctx, choice)];
  return { checks, facts: { kvm, choice, chBinary } };
}
