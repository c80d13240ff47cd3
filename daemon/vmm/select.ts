import * as z from 'zod';
import { BadRequestError } from '../errors.js';
import { chBinarySearchDescription, findChBinary } from './cloud-hypervisor/binary.js';
import { ChDriver } from './cloud-hypervisor/driver.js';
import { detectKvm, type KvmStatus } from './kvm.js';
import { QemuDriver } from './qemu/driver.js';
import type { VmmDriver, VmmKind } from './types.js';

const vmmKindSchema = z.enum(['qemu', 'cloud-hypervisor']);

/** Inputs of the choice, gathered by selectDriver; pure to decide. */
export interface VmmChoiceInput {
  /** $HOB_VMM, if set. */
  readonly env?: string;
  /** The `vmm` setting of hobd's config, if set. */
  readonly configured?: VmmKind;
  readonly kvm: KvmStatus;
  /** Path of the cloud-hypervisor binary, or null if none was found. */
  readonly chBinary: string | null;
  /** Where the binary was looked for (for the reason). */
  readonly chSearch: string;
}

export interface VmmChoice {
  readonly kind: VmmKind;
  /** Use KVM (only meaningful for qemu; cloud-hypervisor always needs it). */
  readonly kvm: boolean;
  /** One or two sentences for `hob doctor`: what was chosen and why. */
  readonly reason: string;
  /**
   * Problems that will make VMs fail with this choice (a forced driver whose requirements
   * are missing). Empty when the choice can work.
   */
  readonly problems: readonly string[];
}

/**
 * Decides which driver to use: $HOB_VMM wins, then the config; otherwise cloud-hypervisor when
 * KVM is usable and its binary exists, else qemu (with KVM when usable, TCG otherwise).
 * Throws BadRequestError for an unknown $HOB_VMM value.
 */
export function chooseVmm(input: VmmChoiceInput): VmmChoice {
  let forced: { kind: VmmKind; by: string } | undefined;
  if (input.env !== undefined && input.env !== '') {
    const r = vmmKindSchema.safeParse(input.env);
    if (!r.success) throw new BadRequestError(`HOB_VMM=${input.env} is not one of qemu, cloud-hypervisor`);
    forced = { kind: r.data, by: `HOB_VMM=${r.data}` };
  } else if (input.configured) {
    forced = { kind: input.configured, by: `config vmm=${input.configured}` };
  }
  const kvmText = input.kvm.usable ? `KVM is usable (${input.kvm.reason})` : `KVM is not usable: ${input.kvm.reason}`;
  const qemuMode = input.kvm.usable ? 'qemu with KVM' : 'qemu under TCG software emulation (slow)';

  if (forced?.kind === 'qemu') {
    return { kind: 'qemu', kvm: input.kvm.usable, reason: `${qemuMode}, forced by ${forced.by}; ${kvmText}`, problems: [] };
  }
  if (forced?.kind === 'cloud-hypervisor') {
    const problems: string[] = [];
    if (!input.kvm.usable) problems.push(`cloud-hypervisor needs KVM: ${input.kvm.reason}`);
    if (!input.chBinary) problems.push(`cloud-hypervisor binary not found (looked for ${input.chSearch})`);
    return {
      kind: 'cloud-hypervisor',
      kvm: true,
      reason: `cloud-hypervisor${input.chBinary ? ` (${input.chBinary})` : ''}, forced by ${forced.by}`,
      problems,
    };
  }
  if (input.kvm.usable && input.chBinary) {
    return {
      kind: 'cloud-hypervisor',
      kvm: true,
      reason: `cloud-hypervisor (${input.chBinary}): ${kvmText}`,
      problems: [],
    };
  }
  const why = input.kvm.usable
    ? `${kvmText}, but the cloud-hypervisor binary was not found (looked for ${input.chSearch}); install it for faster VMs`
    : kvmText;
  return { kind: 'qemu', kvm: input.kvm.usable, reason: `${qemuMode}: ${why}`, problems: [] };
}

/** The selected driver, ready to use, and why it was chosen. */
export interface DriverSelection extends VmmChoice {
  readonly driver: VmmDriver;
  readonly kvmStatus: KvmStatus;
}

export interface SelectDriverOptions {
  /** hobd's `vmm.driver` setting when not `auto`. */
  readonly configured?: VmmKind;
  /** hobd's `vmm.chBinary` setting (a path, or a name looked up on PATH); unset = the default search. */
  readonly chBinary?: string;
  /** hobd's `vmm.qemuBinary` setting (a path, or a name looked up on PATH); unset = qemu-system-<arch>. */
  readonly qemuBinary?: string;
  /** hobd's `vmm.allowForeignArch`: the qemu driver boots other-arch guests under TCG. */
  readonly allowForeignArch?: boolean;
  /** Environment to read $HOB_VMM, $HOB_CH_BINARY and $PATH from. Default process.env. */
  readonly env?: NodeJS.ProcessEnv;
}

/** Probes this host (KVM, binaries, $HOB_VMM) and builds the driver to use. */
export async function selectDriver(opts: SelectDriverOptions = {}): Promise<DriverSelection> {
  const env = opts.env ?? process.env;
  const kvm = await detectKvm();
  const chBinary = await findChBinary(env, opts.chBinary);
  const choice = chooseVmm({
    env: env.HOB_VMM,
    configured: opts.configured,
    kvm,
    chBinary,
    chSearch: chBinarySearchDescription(env, opts.chBinary),
  });
  const driver: VmmDriver =
    choice.kind === 'qemu'
      ? new QemuDriver({
          kvm: choice.kvm,
          allowForeignArch: opts.allowForeignArch ?? false,
          ...(opts.qemuBinary !== undefined ? { binary: opts.qemuBinary } : {}),
        })
      : new ChDriver(chBinary ? { binary: chBinary } : opts.chBinary !== undefined ? { configuredBinary: opts.chBinary } : {});
  return { ...choice, driver, kvmStatus: kvm };
}
