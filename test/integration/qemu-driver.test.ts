/**
 * Failure paths of the qemu driver with a real qemu binary but no bootable guest: nothing
 * may be left running or lying around, and errors must say what went wrong.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VmmError } from '../../daemon/errors.js';
import { QemuDriver } from '../../daemon/vmm/qemu/driver.js';
import type { VmSpec } from '../../daemon/vmm/types.js';

const haveQemu = process.arch === 'x64' && (await execa('qemu-system-x86_64', ['--version']).then(() => true, () => false));
if (!haveQemu) console.warn('skipping the qemu driver failure tests: qemu-system-x86_64 is not installed');

describe.skipIf(!haveQemu)('QemuDriver failure paths', () => {
  let dir: string;
  let spec: VmSpec;
  const driver = new QemuDriver();

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'hob-qd-'));
    mkdirSync(join(dir, 'run'));
    writeFileSync(join(dir, 'kernel'), 'not a kernel');
    writeFileSync(join(dir, 'disk.img'), Buffer.alloc(1024 * 1024));
    spec = {
      id: 'bad',
      runDir: join(dir, 'run'),
      kernelPath: join(dir, 'kernel'),
      cmdline: '',
      disks: [{ id: 'root', path: join(dir, 'disk.img') }],
      cpus: 1,
      memoryMiB: 128,
    };
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const transient = (): string[] => readdirSync(spec.runDir).filter((n) => n.endsWith('.sock') || n.endsWith('.pid'));

  it('reports qemu refusing the kernel, with its stderr, and leaves nothing behind', async () => {
    const err = await driver.start(spec).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VmmError);
    expect((err as Error).message).toMatch(/qemu stderr: .*kernel/is);
    expect(transient()).toEqual([]);
  });

  it('fails early on a missing disk', async () => {
    await expect(driver.start({ ...spec, disks: [{ id: 'root', path: join(dir, 'nope.img') }] })).rejects.toThrow(
      /nope\.img does not exist/,
    );
  });

  it('reports a network namespace that does not exist', async () => {
    const err = await driver
      .start({ ...spec, net: { tap: 'tap0', mac: '02:00:00:00:00:02', netns: 'hob-no-such-ns' } })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VmmError);
    expect((err as Error).message).toMatch(/hob-no-such-ns/);
    expect(transient()).toEqual([]);
  });

  it('does not adopt a recycled pid (a live process that is not this VM)', async () => {
    // The pid file names a live process (this test runner), as after a reboot and pid reuse.
    writeFileSync(join(spec.runDir, 'qemu.pid'), `${process.pid}\n`);
    writeFileSync(join(spec.runDir, 'qmp.sock'), '');
    expect(await driver.adopt(spec)).toBeNull();
    expect(existsSync(join(spec.runDir, 'qemu.pid'))).toBe(false);
    expect(existsSync(join(spec.runDir, 'qmp.sock'))).toBe(false);
  });

  it('refuses to restore from an incomplete snapshot', async () => {
    const snap = mkdtempSync(join(dir, 'snap-'));
    writeFileSync(join(snap, 'memory.qemu'), 'partial');
    await expect(driver.restore(spec, snap)).rejects.toThrow(/not a complete VM snapshot/);
    expect(transient()).toEqual([]);
  });
});
