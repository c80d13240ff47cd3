import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BadRequestError, VmmError } from '../../daemon/errors.js';
import { checkSnapshotFits, readSnapshotMeta, writeSnapshotMeta, type SnapshotMeta } from '../../daemon/vmm/snapshot-meta.js';
import { validateSpec } from '../../daemon/vmm/spec.js';
import type { VmSpec } from '../../daemon/vmm/types.js';

const spec: VmSpec = {
  id: 'sb1',
  runDir: '/run/hob/sb1',
  kernelPath: '/img/vmlinuz',
  cmdline: 'root=/dev/vda rw',
  disks: [{ id: 'root', path: '/pool/sb1/root.img' }],
  cpus: 2,
  memoryMiB: 512,
  net: { tap: 'tap0', mac: '02:00:00:00:00:01' },
};

describe('validateSpec', () => {
  it('accepts a good spec', () => {
    expect(validateSpec(spec, ['qmp.sock'])).toBe(spec);
  });
  it('rejects socket paths longer than a unix address allows', () => {
    const long = { ...spec, runDir: `/tmp/${'x'.repeat(100)}` };
    expect(() => validateSpec(long, ['qmp.sock'])).toThrow(/longer than 107 bytes/);
  });
  it('rejects bad fields and duplicate disk ids', () => {
    expect(() => validateSpec({ ...spec, cpus: 0 }, [])).toThrow(BadRequestError);
    expect(() => validateSpec({ ...spec, kernelPath: 'vmlinuz' }, [])).toThrow(/absolute/);
    expect(() => validateSpec({ ...spec, disks: [] }, [])).toThrow(BadRequestError);
    expect(() => validateSpec({ ...spec, net: { tap: 'a-very-long-tap-name', mac: '02:00:00:00:00:01' } }, [])).toThrow(/tap/);
    expect(() => validateSpec({ ...spec, disks: [spec.disks[0]!, spec.disks[0]!] }, [])).toThrow(/unique/);
  });
});

describe('snapshot meta', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hob-meta-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const meta: SnapshotMeta = {
    format: 1,
    kind: 'qemu',
    vmmVersion: '7.2.22',
    arch: 'x86_64',
    cpus: 2,
    memoryMiB: 512,
    diskIds: ['root'],
    tap: 'tap0',
    createdAt: '2025-01-01T00:00:00.000Z',
    qemu: { machine: 'pc-q35-7.2', accel: 'tcg', memoryFile: 'memory.qemu', memoryFileBytes: 10 },
  };

  it('round-trips and checks the fit with a spec', async () => {
    await writeSnapshotMeta(dir, meta);
    const back = await readSnapshotMeta(dir);
    expect(back).toEqual(meta);
    expect(() => checkSnapshotFits(back, 'qemu', spec)).not.toThrow();
    expect(() => checkSnapshotFits(back, 'cloud-hypervisor', spec)).toThrow(/qemu driver/);
    expect(() => checkSnapshotFits(back, 'qemu', { ...spec, cpus: 4 })).toThrow(/vCPUs/);
    expect(() => checkSnapshotFits(back, 'qemu', { ...spec, disks: [{ id: 'data', path: '/x' }] })).toThrow(/disks/);
    const { net: _n, ...noNet } = spec;
    expect(() => checkSnapshotFits(back, 'qemu', noNet)).toThrow(/tap/);
  });
  it('reports an incomplete or corrupt snapshot', async () => {
    const empty = mkdtempSync(join(dir, 'empty-'));
    await expect(readSnapshotMeta(empty)).rejects.toThrow(/not a complete VM snapshot/);
    writeFileSync(join(empty, 'vmm.json'), '{"format":2}');
    await expect(readSnapshotMeta(empty)).rejects.toBeInstanceOf(VmmError);
  });
});
