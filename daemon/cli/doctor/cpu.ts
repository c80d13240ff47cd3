/**
 * The Arm host's CPU side (docs/architecture.md §15): the interrupt
 * controller's version (`gic`) and, on big.LITTLE CPUs such as the DGX
 * Spark's Cortex-X925 + Cortex-A725, a note on where vCPUs run
 * (`cpu-cores`). Both read world-readable files only (host-files.ts): the
 * GIC from /proc/interrupts (the irqchip's name, `GICv3` for irq-gic-v3)
 * and, where the firmware passes a device tree, the `compatible` of its
 * interrupt controller; the MADT under /sys/firmware/acpi/tables is root-only
 * and not read. On x86_64 both say they do not apply.
 */
import type { GuestArch } from '../../vmm/types.js';
import type { HostFiles } from './host-files.js';
import { check, type Check } from './types.js';

// ---------------------------------------------------------------- GIC

export interface GicFacts {
  /** /proc/interrupts, '' when unreadable. */
  readonly interrupts: string;
  /** `compatible` strings of the device tree's nodes (two levels deep); [] without a device tree. */
  readonly dtCompatible: readonly string[];
}

export interface GicVersion {
  readonly version: 2 | 3 | undefined;
  /** Where the answer came from, for the report. */
  readonly source: string;
}

const GIC_V2_COMPATIBLE = ['arm,gic-400', 'arm,cortex-a15-gic', 'arm,cortex-a9-gic', 'arm,cortex-a7-gic', 'arm,arm11mp-gic'];

/** The GIC version from /proc/interrupts' chip names, else from the device tree. */
export function gicVersion(facts: GicFacts): GicVersion {
  // Columns: irq, one count per CPU, the chip's name, its hwirq, ... The name is GICv3 for
  // irq-gic-v3 (GICv4 hosts too), GICv2 or GIC-0 for irq-gic.
  if (/\sGICv3\s/.test(facts.interrupts)) return { version: 3, source: 'the GICv3 irqchip in /proc/interrupts' };
  if (/\s(?:GICv2|GIC-\d)\s/.test(facts.interrupts)) return { version: 2, source: 'the GICv2 irqchip in /proc/interrupts' };
  if (facts.dtCompatible.includes('arm,gic-v3')) return { version: 3, source: 'compatible "arm,gic-v3" in the device tree' };
  const v2 = facts.dtCompatible.find((c) => GIC_V2_COMPATIBLE.includes(c));
  if (v2) return { version: 2, source: `compatible "${v2}" in the device tree` };
  return { version: undefined, source: 'no GIC named in /proc/interrupts and no device tree' };
}

export async function probeGic(files: HostFiles): Promise<GicFacts> {
  const base = '/sys/firmware/devicetree/base';
  const dtCompatible: string[] = [];
  const compatibleOf = async (node: string): Promise<void> => {
    const text = await files.text(`${node}/compatible`);
    if (text) dtCompatible.push(...text.split('\0').filter((s) => s !== ''));
  };
  for (const top of await files.list(base)) {
    const node = `${base}/${top}`;
    if (!(await files.stat(node))?.isDirectory()) continue;
    await compatibleOf(node);
    for (const child of await files.list(node)) {
      if ((await files.stat(`${node}/${child}`))?.isDirectory()) await compatibleOf(`${node}/${child}`);
    }
  }
  return { interrupts: (await files.text('/proc/interrupts')) ?? '', dtCompatible };
}

/** `gic`: KVM guests need the host's GIC version; hob asks for GICv3 (qemu `virt,gic-version=3`; cloud-hypervisor emulates only a GICv3). */
export function evaluateGic(arch: GuestArch, facts: GicFacts): Check {
  if (arch !== 'aarch64') return check('gic', 'ok', `not applicable on ${arch} (the GIC is the Arm interrupt controller)`);
  const { version, source } = gicVersion(facts);
  if (version === 3) return check('gic', 'ok', `GICv3 (from ${source}): what hob's KVM guests get (qemu virt,gic-version=3; cloud-hypervisor's vGIC)`);
  if (version === 2) {
    return check(
      'gic',
      'fail',
      `GICv2 (from ${source}): KVM gives guests only a GICv2 here, while hob's guests use a GICv3 (qemu virt,gic-version=3; cloud-hypervisor has no GICv2)`,
      'hob needs a GICv3 host for KVM guests (every Armv8.1+ server and the DGX Spark have one)',
    );
  }
  return check('gic', 'warn', `GIC version unknown (${source})`, 'as root: dmesg | grep -i gic (the kernel names it when it starts)');
}

// ---------------------------------------------------------------- cores

/** Names of the Arm (implementer 0x41) parts hob has met; others print as their part number. */
const ARM_PARTS: Record<string, string> = {
  '0xd05': 'Cortex-A55',
  '0xd0b': 'Cortex-A76',
  '0xd0c': 'Neoverse-N1',
  '0xd40': 'Neoverse-V1',
  '0xd49': 'Neoverse-N2',
  '0xd4f': 'Neoverse-V2',
  '0xd85': 'Cortex-X925',
  '0xd87': 'Cortex-A725',
};

export interface CpuFacts {
  /** /proc/cpuinfo */
  readonly cpuinfo: string;
  /** cpu number -> /sys/devices/system/cpu/cpuN/cpu_capacity (only those that have one). */
  readonly capacities: ReadonlyMap<number, number>;
}

/** One kind of core: its name, the CPUs of that kind, and their capacity when the kernel gives one. */
export interface CoreType {
  readonly name: string;
  readonly cpus: readonly number[];
  readonly capacity: number | undefined;
}

/** `0-4,10-14` */
export function cpuList(cpus: readonly number[]): string {
  const sorted = [...cpus].sort((a, b) => a - b);
  const ranges: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === (sorted[j] ?? 0) + 1) j++;
    ranges.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return ranges.join(',');
}

/** The core types, biggest capacity first: CPUs grouped by (implementer, part) and capacity. */
export function coreTypes(facts: CpuFacts): CoreType[] {
  const groups = new Map<string, { name: string; cpus: number[]; capacity: number | undefined }>();
  for (const block of facts.cpuinfo.split(/\n\s*\n/)) {
    const field = (key: string): string | undefined => new RegExp(`^${key}\\s*:\\s*(\\S+)`, 'm').exec(block)?.[1];
    const processor = field('processor');
    if (processor === undefined || !/^\d+$/.test(processor)) continue;
    const cpu = Number(processor);
    const part = field('CPU part');
    const implementer = field('CPU implementer');
    const name = part === undefined ? 'unknown core' : implementer === '0x41' && ARM_PARTS[part] ? (ARM_PARTS[part] as string) : `part ${part}${implementer ? ` (implementer ${implementer})` : ''}`;
    const capacity = facts.capacities.get(cpu);
    const key = `${name}/${capacity ?? ''}`;
    const g = groups.get(key) ?? { name, cpus: [], capacity };
    g.cpus.push(cpu);
    groups.set(key, g);
  }
  return [...groups.values()].sort((a, b) => (b.capacity ?? 0) - (a.capacity ?? 0) || a.cpus[0]! - b.cpus[0]!);
}

export async function probeCpus(files: HostFiles): Promise<CpuFacts> {
  const capacities = new Map<number, number>();
  for (const entry of await files.list('/sys/devices/system/cpu')) {
    const m = /^cpu(\d+)$/.exec(entry);
    if (!m) continue;
    const text = await files.text(`/sys/devices/system/cpu/${entry}/cpu_capacity`);
    if (text !== undefined && /^\d+\s*$/.test(text)) capacities.set(Number(m[1]), Number(text.trim()));
  }
  return { cpuinfo: (await files.text('/proc/cpuinfo')) ?? '', capacities };
}

const describeType = (t: CoreType): string => `${t.cpus.length} × ${t.name} (cpus ${cpuList(t.cpus)}${t.capacity === undefined ? '' : `, capacity ${t.capacity}`})`;

/**
 * `cpu-cores`: one core type, or big.LITTLE (distinct parts or capacities) with a note on
 * vCPU placement. Always `ok`: hob works on either; the note is for whoever reads timings.
 */
export function evaluateCpus(arch: GuestArch, facts: CpuFacts): Check {
  if (arch !== 'aarch64') return check('cpu-cores', 'ok', `not applicable on ${arch} (the big.LITTLE note is for Arm hosts)`);
  const types = coreTypes(facts);
  if (types.length === 0) return check('cpu-cores', 'ok', 'no CPUs listed in /proc/cpuinfo');
  if (types.length === 1) return check('cpu-cores', 'ok', `one core type: ${describeType(types[0]!)}`);
  const big = types[0]!;
  return check(
    'cpu-cores',
    'ok',
    `big.LITTLE: ${types.map(describeType).join(', ')}. hob does not pin vCPU threads: the kernel's scheduler places them, so a vCPU may run on a ${types[types.length - 1]!.name} and go slower for a while. ` +
      `To keep a VM on the ${big.name} cores: taskset -a -p -c ${cpuList(big.cpus)} <its VMM's pid> (docs/architecture.md §15)`,
  );
}
