/**
 * hob doctor's host checks (kernel.ts, cpu.ts) on a DGX Spark's /proc and /sys
 * (test/fixtures/dgx-spark, read through a root directory) and on this
 * machine. The /dev/kvm cases make real device nodes with mknod (root only).
 */
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { coreTypes, cpuList, evaluateCpus, evaluateGic, gicVersion, probeCpus, probeGic } from '../../daemon/cli/doctor/cpu.js';
import { hostFiles } from '../../daemon/cli/doctor/host-files.js';
import { hostChecks } from '../../daemon/cli/doctor/index.js';
import { evaluateKvmDevice, evaluateModules, moduleStates, probeKvmDevice, probeModules } from '../../daemon/cli/doctor/kernel.js';

const SPARK = resolve(import.meta.dirname, '../fixtures/dgx-spark');
const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('doctor /dev/kvm permission cases skipped: mknod needs root');

describe('hob doctor on a DGX Spark (fixture tree)', () => {
  const spark = hostFiles(SPARK);

  it('reads the GIC version from /proc/interrupts', async () => {
    const facts = await probeGic(spark);
    expect(gicVersion(facts)).toEqual({ version: 3, source: 'the GICv3 irqchip in /proc/interrupts' });
    expect(evaluateGic('aarch64', facts)).toMatchObject({ name: 'gic', status: 'ok', detail: expect.stringMatching(/^GICv3 \(from the GICv3 irqchip/) as string });
  });

  it('finds the two core types, X925 first, with their CPUs and capacities, and notes vCPU placement', async () => {
    const facts = await probeCpus(spark);
    expect(coreTypes(facts)).toEqual([
      { name: 'Cortex-X925', cpus: [5, 6, 7, 8, 9, 15, 16, 17, 18, 19], capacity: 1024 },
      { name: 'Cortex-A725', cpus: [0, 1, 2, 3, 4, 10, 11, 12, 13, 14], capacity: 711 },
    ]);
    const c = evaluateCpus('aarch64', facts);
    expect(c.status).toBe('ok');
    expect(c.detail).toMatch(/^big\.LITTLE: 10 × Cortex-X925 \(cpus 5-9,15-19, capacity 1024\), 10 × Cortex-A725 \(cpus 0-4,10-14, capacity 711\)\./);
    expect(c.detail).toContain('taskset -a -p -c 5-9,15-19');
  });

  it('tells loaded, built-in and loadable modules apart', async () => {
    const facts = await probeModules(spark);
    expect(facts.release).toBe('6.11.0-1016-nvidia');
    expect(Object.fromEntries(moduleStates(facts, ['btrfs', 'loop', 'tun', 'nf_tables', 'vhost_vsock', 'kvm_intel']))).toEqual({
      btrfs: 'loaded', loop: 'built-in', tun: 'built-in', nf_tables: 'loaded', vhost_vsock: 'loadable', kvm_intel: 'absent',
    });
    expect(evaluateModules(facts)).toEqual({
      name: 'kernel-modules',
      status: 'ok',
      detail: expect.stringContaining('kernel 6.11.0-1016-nvidia: btrfs loaded, loop built-in, tun built-in, nf_tables loaded, vhost_vsock loadable (not used') as string,
    });
  });

  it('a missing module is a failure naming it; no module lists is a warning', async () => {
    const facts = await probeModules(spark);
    const noBtrfs = { ...facts, loaded: facts.loaded?.replace(/^btrfs .*$/m, ''), dep: facts.dep?.replace(/^kernel\/fs\/btrfs.*$/m, '') };
    expect(evaluateModules(noBtrfs)).toMatchObject({ status: 'fail', detail: expect.stringContaining('hob needs btrfs (the pool)') as string });
    const container = { ...facts, loaded: '', sysModules: [], builtin: undefined, dep: undefined, config: undefined };
    expect(evaluateModules(container)).toMatchObject({ status: 'warn', detail: expect.stringContaining('cannot be told apart from missing') as string });
  });

  it('on x86_64 the Arm-only checks say they do not apply', async () => {
    const checks = await hostChecks(spark, 'x86_64');
    expect(checks.map((c) => c.name)).toEqual(['kvm-device', 'kernel-modules', 'gic', 'cpu-cores']);
    expect(checks.find((c) => c.name === 'gic')).toMatchObject({ status: 'ok', detail: 'not applicable on x86_64 (the GIC is the Arm interrupt controller)' });
    expect(checks.find((c) => c.name === 'cpu-cores')?.detail).toMatch(/^not applicable on x86_64/);
  });
});

describe('GIC and core parsing', () => {
  it('GICv2 hosts fail, device trees count, nothing at all is a warning', () => {
    expect(evaluateGic('aarch64', { interrupts: ' 11:   5   GICv2  27 Level  arch_timer\n', dtCompatible: [] }).status).toBe('fail');
    expect(gicVersion({ interrupts: ' 11:  5  GIC-0  27 Level  arch_timer\n', dtCompatible: [] }).version).toBe(2);
    expect(gicVersion({ interrupts: '', dtCompatible: ['arm,gic-v3'] })).toEqual({ version: 3, source: 'compatible "arm,gic-v3" in the device tree' });
    expect(gicVersion({ interrupts: '', dtCompatible: ['arm,cortex-a15-gic', 'arm,cortex-a9-gic'] }).version).toBe(2);
    expect(evaluateGic('aarch64', { interrupts: '', dtCompatible: [] })).toMatchObject({ status: 'warn', fix: expect.stringContaining('dmesg') as string });
  });

  it('one core type is not big.LITTLE; cpu lists compress', () => {
    const cpuinfo = [0, 1, 2, 3].map((n) => `processor\t: ${n}\nCPU implementer\t: 0x41\nCPU part\t: 0xd4f\n`).join('\n');
    expect(evaluateCpus('aarch64', { cpuinfo, capacities: new Map() })).toMatchObject({ status: 'ok', detail: 'one core type: 4 × Neoverse-V2 (cpus 0-3)' });
    // Same part, different capacities (a capped cluster) is big.LITTLE too.
    const capped = evaluateCpus('aarch64', { cpuinfo, capacities: new Map([[0, 1024], [1, 1024], [2, 512], [3, 512]]) });
    expect(capped.detail).toMatch(/^big\.LITTLE: 2 × Neoverse-V2 \(cpus 0-1, capacity 1024\), 2 × Neoverse-V2 \(cpus 2-3, capacity 512\)/);
    expect(cpuList([7, 1, 2, 3, 5])).toBe('1-3,5,7');
  });
});

describe.skipIf(!isRoot)('/dev/kvm permissions (real device nodes)', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'hob-doctor-host-'));
    await cp(SPARK, root, { recursive: true });
    await execa('mkdir', ['-p', join(root, 'dev')]);
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  async function kvmNode(mode: string, gid: number): Promise<ReturnType<typeof evaluateKvmDevice>> {
    await rm(join(root, 'dev/kvm'), { force: true });
    await execa('mknod', ['-m', mode, join(root, 'dev/kvm'), 'c', '10', '232']);
    await execa('chown', [`0:${gid}`, join(root, 'dev/kvm')]);
    return evaluateKvmDevice(await probeKvmDevice(hostFiles(root)));
  }

  it('root:kvm 0660 is the usual setting; 0600 root:root works for hobd only; a plain file fails', async () => {
    expect(await kvmNode('0660', 993)).toEqual({ name: 'kvm-device', status: 'ok', detail: '/dev/kvm is crw-rw---- root:kvm: root (hobd) and the members of group kvm may use it' });
    expect(await kvmNode('0666', 993)).toMatchObject({ status: 'ok', detail: expect.stringContaining('every user') as string });
    expect(await kvmNode('0600', 0)).toMatchObject({ status: 'warn', detail: '/dev/kvm is crw------- root:root: only root may use it; hobd (root) can, qemu run by hand as a user cannot' });
    await rm(join(root, 'dev/kvm'));
    await execa('touch', [join(root, 'dev/kvm')]);
    expect(evaluateKvmDevice(await probeKvmDevice(hostFiles(root)))).toMatchObject({ status: 'fail', detail: '/dev/kvm exists but is not a character device' });
  });
});

describe('kernels without module lists', () => {
  it('the kernel config decides: =y built in, =m without the module file absent, unset absent', () => {
    const config = 'CONFIG_BTRFS_FS=y\nCONFIG_BLK_DEV_LOOP=y\nCONFIG_TUN=y\nCONFIG_NF_TABLES=m\n# CONFIG_VHOST_VSOCK is not set\n';
    const facts = { release: '6.1.0', loaded: '', config, sysModules: [], builtin: undefined, dep: 'kernel/fs/ext4/ext4.ko:\n' };
    expect(Object.fromEntries(moduleStates(facts, ['btrfs', 'nf_tables', 'vhost_vsock']))).toEqual({ btrfs: 'built-in', nf_tables: 'absent', vhost_vsock: 'absent' });
    expect(evaluateModules(facts)).toMatchObject({ status: 'fail', detail: expect.stringContaining('hob needs nf_tables') as string });
  });
});

describe('this machine', () => {
  it('agrees with /proc/modules, or with the kernel config when the kernel has no modules', async () => {
    const facts = await probeModules(hostFiles('/'));
    const states = moduleStates(facts, ['btrfs', 'loop', 'tun', 'nf_tables']);
    const procModules = existsSync('/proc/modules') ? readFileSync('/proc/modules', 'utf8').split('\n').map((l) => l.split(' ')[0]) : [];
    const config = existsSync('/proc/config.gz') ? gunzipSync(readFileSync('/proc/config.gz')).toString() : '';
    const keys: Record<string, string> = { btrfs: 'CONFIG_BTRFS_FS', loop: 'CONFIG_BLK_DEV_LOOP', tun: 'CONFIG_TUN', nf_tables: 'CONFIG_NF_TABLES' };
    for (const [name, state] of states) {
      if (procModules.includes(name)) expect(state, name).toBe('loaded');
      else if (new RegExp(`^${keys[name]}=y$`, 'm').test(config)) expect(state, name).toBe('built-in');
    }
    expect([...states.values()].every((s) => s !== 'unknown') || (!config && !existsSync(`/lib/modules/${facts.release}`))).toBe(true);
  });
});
