import { describe, expect, it } from 'vitest';
import { BadRequestError } from '../../daemon/errors.js';
import { chooseVmm, type VmmChoiceInput } from '../../daemon/vmm/select.js';

const kvmOk = { usable: true, reason: '/dev/kvm opens read-write and the CPU exposes hardware virtualisation' };
const noKvm = { usable: false, reason: '/dev/kvm does not exist: enable virtualisation' };
const base: VmmChoiceInput = { kvm: kvmOk, chBinary: '/usr/local/lib/hob/cloud-hypervisor', chSearch: 'somewhere' };

describe('chooseVmm', () => {
  it('prefers cloud-hypervisor when KVM and the binary are there', () => {
    const c = chooseVmm(base);
    expect(c.kind).toBe('cloud-hypervisor');
    expect(c.problems).toEqual([]);
    expect(c.reason).toMatch(/KVM is usable/);
  });
  it('falls back to qemu with KVM when the binary is missing', () => {
    const c = chooseVmm({ ...base, chBinary: null });
    expect(c).toMatchObject({ kind: 'qemu', kvm: true });
    expect(c.reason).toMatch(/binary was not found \(looked for somewhere\)/);
  });
  it('falls back to qemu under TCG without KVM, saying why', () => {
    const c = chooseVmm({ ...base, kvm: noKvm });
    expect(c).toMatchObject({ kind: 'qemu', kvm: false });
    expect(c.reason).toMatch(/TCG/);
    expect(c.reason).toMatch(/\/dev\/kvm does not exist/);
  });
  it('lets HOB_VMM win over config and detection', () => {
    expect(chooseVmm({ ...base, env: 'qemu', configured: 'cloud-hypervisor' }).kind).toBe('qemu');
    expect(chooseVmm({ ...base, configured: 'qemu' }).kind).toBe('qemu');
    expect(chooseVmm({ ...base, env: '', configured: 'qemu' }).kind).toBe('qemu');
  });
  it('reports what a forced cloud-hypervisor lacks', () => {
    const c = chooseVmm({ ...base, env: 'cloud-hypervisor', kvm: noKvm, chBinary: null });
    expect(c.kind).toBe('cloud-hypervisor');
    expect(c.problems).toHaveLength(2);
    expect(c.problems.join('\n')).toMatch(/needs KVM/);
    expect(c.problems.join('\n')).toMatch(/binary not found/);
  });
  it('rejects an unknown HOB_VMM', () => {
    expect(() => chooseVmm({ ...base, env: 'firecracker' })).toThrow(BadRequestError);
  });
});
