import { describe, expect, it } from 'vitest';
import {
  buildQemuArgv,
  guestCmdline,
  optValue,
  qemuPaths,
  type QemuArgvInput,
} from '../../daemon/vmm/qemu/argv.js';
import { isQemuCmdlineFor, parseQemuVersion } from '../../daemon/vmm/qemu/driver.js';
import { mapQemuRunState } from '../../daemon/vmm/qemu/handle.js';
import type { VmSpec } from '../../daemon/vmm/types.js';

const spec: VmSpec = {
  id: 'sb1',
  runDir: '/run/hob/sb1',
  kernelPath: '/img/vmlinuz',
  initramfsPath: '/img/initrd.img',
  cmdline: 'root=/dev/vda rw hob.hostname=sb1',
  disks: [
    { id: 'root', path: '/pool/sb1/root.img' },
    { id: 'data', path: '/pool/sb1/odd,name.img', readOnly: true },
  ],
  cpus: 2,
  memoryMiB: 512,
  net: { tap: 'tap0', mac: '02:00:00:00:00:01', netns: 'hob-sb1' },
};

function input(over: Partial<QemuArgvInput> = {}): QemuArgvInput {
  return { arch: 'x86_64', accel: 'tcg', machine: 'q35', spec, paths: qemuPaths(spec.runDir), incoming: false, ...over };
}

/** The value following each occurrence of `flag`. */
function values(argv: string[], flag: string): string[] {
  return argv.flatMap((a, i) => (a === flag ? [argv[i + 1] ?? ''] : []));
}

describe('buildQemuArgv x86_64', () => {
  it('builds a TCG q35 VM with every device', () => {
    const argv = buildQemuArgv(input());
    expect(argv[0]).toBe('qemu-system-x86_64');
    for (const f of ['-nodefaults', '-no-user-config', '-nographic', '-no-reboot']) expect(argv).toContain(f);
    expect(values(argv, '-M')).toEqual(['q35,sata=off,smbus=off,vmport=off']);
    expect(values(argv, '-accel')).toEqual(['tcg,thread=multi']);
    expect(values(argv, '-cpu')).toEqual(['max']);
    expect(values(argv, '-smp')).toEqual(['2']);
    expect(values(argv, '-m')).toEqual(['512M']);
    expect(values(argv, '-pidfile')).toEqual(['/run/hob/sb1/qemu.pid']);
    expect(values(argv, '-kernel')).toEqual(['/img/vmlinuz']);
    expect(values(argv, '-initrd')).toEqual(['/img/initrd.img']);
    expect(values(argv, '-append')).toEqual(['root=/dev/vda rw hob.hostname=sb1 console=ttyS0 panic=-1']);
    expect(values(argv, '-serial')).toEqual(['chardev:con0']);
    const chardevs = values(argv, '-chardev');
    // The console goes to hob's bounded reader through a socket, never to an unbounded file; it is
    // the first chardev so that qemu waits for the reader before serving QMP.
    expect(chardevs[0]).toBe('socket,id=con0,path=/run/hob/sb1/console.sock,server=on,wait=on');
    expect(chardevs.some((c) => c.startsWith('file,'))).toBe(false);
    expect(chardevs).toContain('socket,id=qmp,path=/run/hob/sb1/qmp.sock,server=on,wait=off');
    expect(chardevs).toContain('socket,id=agent,path=/run/hob/sb1/agent.sock,server=on,wait=off');
    expect(values(argv, '-mon')).toEqual(['chardev=qmp,mode=control']);

    const drives = values(argv, '-drive');
    expect(drives).toHaveLength(2);
    expect(drives[0]).toBe(
      'if=none,id=drive-root,file=/pool/sb1/root.img,format=raw,cache=writeback,discard=unmap,detect-zeroes=unmap,readonly=off',
    );
    // A comma in a path is doubled, read-only is honoured.
    expect(drives[1]).toContain('file=/pool/sb1/odd,,name.img,');
    expect(drives[1]).toMatch(/readonly=on$/);

    const devices = values(argv, '-device');
    expect(devices).toContain('virtio-blk-pci,drive=drive-root,id=disk-root');
    expect(devices).toContain('virtio-blk-pci,drive=drive-data,id=disk-data');
    expect(devices).toContain('virtio-net-pci,netdev=net0,id=nic0,mac=02:00:00:00:00:01');
    expect(devices).toContain('virtio-serial-pci,id=vser0');
    expect(devices).toContain('virtserialport,bus=vser0.0,chardev=agent,name=org.hob.agent');
    expect(values(argv, '-netdev')).toEqual(['tap,id=net0,ifname=tap0,script=no,downscript=no']);
    expect(argv).not.toContain('-incoming');
    expect(argv).not.toContain('-S');
  });

  it('uses KVM with -cpu host, vhost-net when asked, microvm with pcie', () => {
    const argv = buildQemuArgv(input({ accel: 'kvm', machine: 'microvm', vhostNet: true }));
    expect(values(argv, '-accel')).toEqual(['kvm']);
    expect(values(argv, '-cpu')).toEqual(['host']);
    expect(values(argv, '-M')).toEqual(['microvm,pcie=on']);
    expect(values(argv, '-netdev')[0]).toMatch(/,vhost=on$/);
  });

  it('restores into a pinned machine type, paused, waiting for the stream', () => {
    const argv = buildQemuArgv(input({ machine: 'pc-q35-7.2', incoming: true }));
    expect(values(argv, '-M')[0]).toMatch(/^pc-q35-7\.2,/);
    expect(values(argv, '-incoming')).toEqual(['defer']);
    expect(argv).toContain('-S');
  });

  it('omits optional parts', () => {
    const { net: _net, initramfsPath: _i, ...bare } = spec;
    const argv = buildQemuArgv(input({ spec: { ...bare, disks: [spec.disks[0]!] } }));
    expect(argv).not.toContain('-initrd');
    expect(argv).not.toContain('-netdev');
    expect(values(argv, '-drive')).toHaveLength(1);
  });
});

describe('buildQemuArgv aarch64', () => {
  it('uses virt with a GICv3 and -cpu host under KVM', () => {
    const argv = buildQemuArgv(input({ arch: 'aarch64', accel: 'kvm', machine: 'virt' }));
    expect(argv[0]).toBe('qemu-system-aarch64');
    expect(values(argv, '-M')).toEqual(['virt,gic-version=3']);
    expect(values(argv, '-cpu')).toEqual(['host']);
    expect(values(argv, '-append')[0]).toMatch(/ console=ttyAMA0 /);
  });
  it('uses -cpu max and an emulated GICv3 under TCG, with virtio-pci devices', () => {
    const argv = buildQemuArgv(input({ arch: 'aarch64', accel: 'tcg', machine: 'virt-7.2' }));
    expect(values(argv, '-M')).toEqual(['virt-7.2,gic-version=3']);
    expect(values(argv, '-accel')).toEqual(['tcg,thread=multi']);
    expect(values(argv, '-cpu')).toEqual(['max']);
    expect(values(argv, '-device').filter((d) => /^virtio-/.test(d)).every((d) => d.split(',')[0]!.endsWith('-pci'))).toBe(true);
    expect(values(argv, '-kernel')).toHaveLength(1);
    expect(argv).not.toContain('-bios');
  });
});

describe('qemu helpers', () => {
  it('escapes option values', () => {
    expect(optValue('a,b,,c')).toBe('a,,b,,,,c');
  });
  it('appends console and panic settings', () => {
    expect(guestCmdline('x86_64', '  ')).toBe('console=ttyS0 panic=-1');
  });
  it('parses the version line', () => {
    expect(parseQemuVersion('QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\nCopyright')).toBe(
      '7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)',
    );
    expect(parseQemuVersion('QEMU emulator version 9.1.0\n')).toBe('9.1.0');
    expect(() => parseQemuVersion('bash: not found')).toThrow(/cannot parse/);
  });
  it('recognises its own VM in /proc/<pid>/cmdline and nothing else', () => {
    const argv = buildQemuArgv(input());
    expect(isQemuCmdlineFor(['/usr/bin/qemu-system-x86_64', ...argv.slice(1)], '/run/hob/sb1/qemu.pid')).toBe(true);
    expect(isQemuCmdlineFor(argv, '/run/hob/other/qemu.pid')).toBe(false);
    expect(isQemuCmdlineFor(['/usr/bin/sleep', '-pidfile', '/run/hob/sb1/qemu.pid'], '/run/hob/sb1/qemu.pid')).toBe(false);
  });
  it('maps run states', () => {
    expect(mapQemuRunState('running')).toBe('running');
    expect(mapQemuRunState('paused')).toBe('paused');
    expect(mapQemuRunState('postmigrate')).toBe('paused');
    expect(mapQemuRunState('inmigrate')).toBe('paused');
    expect(mapQemuRunState('io-error')).toBe('paused');
    expect(mapQemuRunState('shutdown')).toBe('stopped');
    expect(mapQemuRunState('guest-panicked')).toBe('stopped');
  });
});

describe('buildQemuArgv vmgenid (docs/architecture.md §18)', () => {
  it('adds the generation ID device on x86_64 only when asked, so restores match their snapshot', () => {
    expect(values(buildQemuArgv(input({ vmgenid: true })), '-device')).toContain('vmgenid,guid=auto');
    expect(values(buildQemuArgv(input()), '-device').some((d) => d.startsWith('vmgenid'))).toBe(false);
    expect(values(buildQemuArgv(input({ arch: 'aarch64', machine: 'virt', vmgenid: true })), '-device').some((d) => d.startsWith('vmgenid'))).toBe(false);
  });
});
