/**
 * Guest RAM in a file (daemon/vmm/qemu/memory-file.ts, docs/architecture.md §26): the backend
 * takes the machine's default RAM id and the short block name, so that streams of VMs with and
 * without the file name their RAM alike; shared while a template, private when restored.
 */
import { describe, expect, it } from 'vitest';
import { buildQemuArgv, qemuPaths, type QemuArgvInput } from '../../daemon/vmm/qemu/argv.js';
import { defaultRamId } from '../../daemon/vmm/qemu/memory-file.js';
import { validateSpec } from '../../daemon/vmm/spec.js';
import type { VmSpec } from '../../daemon/vmm/types.js';

const spec: VmSpec = {
  id: 'tpl1',
  runDir: '/run/hob/vms/tpl1',
  kernelPath: '/img/vmlinuz',
  cmdline: 'root=/dev/vda rw',
  disks: [{ id: 'root', path: '/pool/t/disk.img' }],
  cpus: 1,
  memoryMiB: 512,
};

function input(over: Partial<QemuArgvInput> = {}): QemuArgvInput {
  return { arch: 'x86_64', accel: 'tcg', machine: 'q35', spec, paths: qemuPaths(spec.runDir), incoming: false, ...over };
}

function values(argv: string[], flag: string): string[] {
  return argv.flatMap((a, i) => (a === flag ? [argv[i + 1] ?? ''] : []));
}

describe('guest RAM in a file', () => {
  it('a template VM maps its file shared, under the id -m alone would use', () => {
    const argv = buildQemuArgv(input({ memoryFile: { path: '/pool/t/memory/guest-ram', shared: true } }));
    expect(values(argv, '-M')).toEqual(['q35,sata=off,smbus=off,vmport=off,memory-backend=pc.ram']);
    expect(values(argv, '-object')).toContain(
      'memory-backend-file,id=pc.ram,mem-path=/pool/t/memory/guest-ram,size=512M,share=on,x-use-canonical-path-for-ramblock-id=off',
    );
    // -m stays: it must agree with the backend's size.
    expect(values(argv, '-m')).toEqual(['512M']);
  });

  it('a restore maps it private, on the snapshot machine, commas escaped', () => {
    const argv = buildQemuArgv(input({ machine: 'pc-q35-7.2', incoming: true, memoryFile: { path: '/p/a,b/guest-ram', shared: false } }));
    expect(values(argv, '-M')[0]).toMatch(/^pc-q35-7\.2,.*,memory-backend=pc\.ram$/);
    expect(values(argv, '-object').find((o) => o.startsWith('memory-backend-file'))).toContain('mem-path=/p/a,,b/guest-ram,size=512M,share=off');
  });

  it('uses the aarch64 virt board id', () => {
    const argv = buildQemuArgv(input({ arch: 'aarch64', machine: 'virt', memoryFile: { path: '/r', shared: true } }));
    expect(values(argv, '-M')).toEqual(['virt,gic-version=3,memory-backend=mach-virt.ram']);
    expect(defaultRamId('x86_64', 'microvm')).toBe('microvm.ram');
  });

  it('adds nothing without a file', () => {
    const argv = buildQemuArgv(input());
    expect(argv.some((a) => a.includes('memory-backend'))).toBe(false);
  });

  it('the spec takes an absolute memory file only', () => {
    expect(() => validateSpec({ ...spec, memoryFile: 'relative/ram' }, [])).toThrow(/memoryFile/);
    expect(validateSpec({ ...spec, memoryFile: '/abs/ram' }, []).memoryFile).toBe('/abs/ram');
  });
});
