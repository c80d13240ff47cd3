import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cpuinfoHasVirtFlags, evaluateKvm, probeKvmFacts } from '../../daemon/vmm/kvm.js';

const intel = `processor\t: 0
vendor_id\t: GenuineIntel
flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr vmx ept vpid
bugs\t\t: spectre_v1
`;
const amd = `processor\t: 0
vendor_id\t: AuthenticAMD
flags\t\t: fpu vme svm npt nrip_save
`;
const nested = `processor\t: 0
vendor_id\t: GenuineIntel
flags\t\t: fpu vme de pse tsc msr pae hypervisor avx2
vmx flags\t: vnmi preemption_timer
`;

describe('cpuinfoHasVirtFlags', () => {
  it('finds vmx and svm in the flags line only', () => {
    expect(cpuinfoHasVirtFlags(intel)).toBe(true);
    expect(cpuinfoHasVirtFlags(amd)).toBe(true);
    // "vmx flags" is a separate line, not the CPU flags: no vmx in `flags`.
    expect(cpuinfoHasVirtFlags(nested)).toBe(false);
    expect(cpuinfoHasVirtFlags('flags : fpu vmxnet svmx\n')).toBe(false);
    expect(cpuinfoHasVirtFlags('')).toBe(false);
  });
});

describe('evaluateKvm', () => {
  it('needs /dev/kvm', () => {
    const r = evaluateKvm({ arch: 'x86_64', devKvm: { kind: 'missing' }, cpuinfo: intel });
    expect(r.usable).toBe(false);
    expect(r.reason).toMatch(/\/dev\/kvm does not exist/);
  });
  it('needs read-write access', () => {
    const r = evaluateKvm({ arch: 'aarch64', devKvm: { kind: 'denied', detail: 'EACCES' }, cpuinfo: '' });
    expect(r.usable).toBe(false);
    expect(r.reason).toMatch(/EACCES/);
    expect(r.reason).toMatch(/group kvm/);
  });
  it('rejects x86 /dev/kvm without vmx/svm (nested PVM)', () => {
    const r = evaluateKvm({ arch: 'x86_64', devKvm: { kind: 'ok' }, cpuinfo: nested });
    expect(r.usable).toBe(false);
    expect(r.reason).toMatch(/neither vmx nor svm/);
  });
  it('accepts x86 with vmx or svm, and aarch64 with /dev/kvm alone', () => {
    expect(evaluateKvm({ arch: 'x86_64', devKvm: { kind: 'ok' }, cpuinfo: intel }).usable).toBe(true);
    expect(evaluateKvm({ arch: 'x86_64', devKvm: { kind: 'ok' }, cpuinfo: amd }).usable).toBe(true);
    expect(evaluateKvm({ arch: 'aarch64', devKvm: { kind: 'ok' }, cpuinfo: '' }).usable).toBe(true);
  });
});

describe('probeKvmFacts', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hob-kvm-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reports a missing device', async () => {
    const f = await probeKvmFacts(join(dir, 'no-kvm'), join(dir, 'no-cpuinfo'));
    expect(f.devKvm).toEqual({ kind: 'missing' });
  });
  it('reports a device that cannot be opened read-write', async () => {
    // A directory exists but cannot be opened O_RDWR (EISDIR): the same path as EACCES.
    const f = await probeKvmFacts(dir, join(dir, 'no-cpuinfo'));
    expect(f.devKvm.kind).toBe('denied');
  });
  it('opens a read-write device and reads cpuinfo', async () => {
    const dev = join(dir, 'fake-kvm');
    const cpuinfo = join(dir, 'cpuinfo');
    writeFileSync(dev, '');
    writeFileSync(cpuinfo, intel);
    const f = await probeKvmFacts(dev, cpuinfo);
    expect(f.devKvm).toEqual({ kind: 'ok' });
    if (f.arch === 'x86_64') expect(evaluateKvm(f).usable).toBe(true);
  });
});
