/**
 * Pure parts of the cross-architecture path (docs/architecture.md §4, §5): the binfmt
 * registration line, ELF and kernel header sniffing, the foreign-arch policy, the config key.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseBinfmtConf } from '../../guest-image/build/binfmt.js';
import { elfArch } from '../../guest-image/build/elf.js';
import { parseConfig } from '../../daemon/config.js';
import { requireImageRunsHere } from '../../daemon/core/images.js';
import { hostArch } from '../../daemon/vmm/arch.js';
import { ForeignArchError, VmmError } from '../../daemon/errors.js';
import { foreignArchRefusal, kernelArch, requireRunnableArch } from '../../daemon/vmm/guest-arch.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hob-cross-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function file(name: string, bytes: Buffer): Promise<string> {
  const p = join(dir, name);
  await writeFile(p, bytes);
  return p;
}

describe('parseBinfmtConf', () => {
  const conf =
    '# comment\n:qemu-aarch64:M::\\x7f\\x45\\x4c\\x46\\x02\\x01\\x01\\x00:\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00:/usr/libexec/qemu-binfmt/aarch64-binfmt-P:OP\n';
  it('keeps the definition and adds the F flag', () => {
    const e = parseBinfmtConf(conf);
    expect(e.name).toBe('qemu-aarch64');
    expect(e.interpreter).toBe('/usr/libexec/qemu-binfmt/aarch64-binfmt-P');
    expect(e.line.endsWith(':/usr/libexec/qemu-binfmt/aarch64-binfmt-P:OPF')).toBe(true);
    expect(parseBinfmtConf(e.line).line).toBe(e.line);
  });
  it('rejects other text', () => {
    expect(() => parseBinfmtConf('nothing here')).toThrow(/binfmt/);
  });
});

describe('elfArch', () => {
  const elf = (machine: number): Buffer => {
    const b = Buffer.alloc(64);
    b.write('\x7fELF', 0, 'latin1');
    b[4] = 2;
    b[5] = 1;
    b.writeUInt16LE(machine, 18);
    return b;
  };
  it('reads e_machine', async () => {
    expect(await elfArch(await file('a64', elf(0xb7)))).toBe('aarch64');
    expect(await elfArch(await file('x64', elf(0x3e)))).toBe('x86_64');
    expect(await elfArch(await file('riscv', elf(0xf3)))).toBeNull();
    expect(await elfArch(await file('text', Buffer.from('#!/bin/sh\n'.padEnd(64))))).toBeNull();
  });
});

describe('kernelArch', () => {
  it('tells an arm64 Image from a bzImage', async () => {
    const image = Buffer.alloc(0x400);
    image.write('ARM\x64', 56, 'latin1');
    const bz = Buffer.alloc(0x400);
    bz.write('HdrS', 0x202, 'latin1');
    expect(await kernelArch(await file('Image', image))).toBe('aarch64');
    expect(await kernelArch(await file('bzImage', bz))).toBe('x86_64');
  });
  it('reads an ELF vmlinux, knows no compressed kernel, and throws on a missing file', async () => {
    const elf = Buffer.alloc(0x400);
    elf.write('\x7fELF', 0, 'latin1');
    elf[4] = 2;
    elf[5] = 1;
    elf.writeUInt16LE(0x3e, 18);
    expect(await kernelArch(await file('vmlinux', elf))).toBe('x86_64');
    expect(await kernelArch(await file('vmlinuz.gz', Buffer.from([0x1f, 0x8b, 8, 0])))).toBeNull();
    await expect(kernelArch(join(dir, 'none'))).rejects.toBeInstanceOf(VmmError);
  });
});

describe('foreign-architecture policy', () => {
  const base = { hostArch: 'x86_64', driver: 'qemu', allowForeignArch: false } as const;
  it('always runs the host architecture', () => {
    expect(foreignArchRefusal('x86_64', base)).toBeNull();
    expect(foreignArchRefusal('x86_64', { ...base, driver: 'cloud-hypervisor' })).toBeNull();
  });
  it('runs a foreign guest only with qemu and allowForeignArch', () => {
    expect(foreignArchRefusal('aarch64', base)).toMatch(/vmm\.allowForeignArch/);
    expect(foreignArchRefusal('aarch64', { ...base, driver: 'cloud-hypervisor', allowForeignArch: true })).toMatch(/cloud-hypervisor/);
    expect(foreignArchRefusal('aarch64', { ...base, allowForeignArch: true })).toBeNull();
  });
  it('throws a 400-class typed error', () => {
    expect(() => requireRunnableArch('image "a"', 'aarch64', base)).toThrow(ForeignArchError);
    try {
      requireRunnableArch('image "a"', 'aarch64', base);
    } catch (err) {
      expect((err as ForeignArchError).code).toBe('bad_request');
      expect((err as Error).message).toMatch(/^image "a": this is an aarch64 guest and the host is x86_64/);
    }
  });
  it('is off by default in the config', () => {
    expect(parseConfig('', { env: {} }).vmm.allowForeignArch).toBe(false);
    expect(parseConfig('vmm:\n  allowForeignArch: true\n', { env: {} }).vmm.allowForeignArch).toBe(true);
  });
});

describe('creating a sandbox from an image of the other architecture', () => {
  const imageDir = (name: string): string => join(dir, 'images', name);
  /** ImageVolumes.manifest over the directories this test writes. */
  const pool = {
    manifest: async (name: string): Promise<Record<string, unknown> | null> => {
      try {
        return JSON.parse(await readFile(join(imageDir(name), 'manifest.json'), 'utf8')) as Record<string, unknown>;
      } catch {
        return null;
      }
    },
  };
  const foreign = hostArch() === 'x86_64' ? 'aarch64' : 'x86_64';
  beforeAll(async () => {
    for (const [name, arch] of [['native', hostArch()], ['foreign', foreign], ['unreadable', null]] as const) {
      await mkdir(imageDir(name), { recursive: true });
      await writeFile(join(imageDir(name), 'manifest.json'), arch ? JSON.stringify({ arch }) : '{');
    }
  });
  const refuses = { vmm: { allowForeignArch: false } };
  const allows = { vmm: { allowForeignArch: true } };

  it('is refused with a 400 naming the setting, unless the config allows it under qemu', async () => {
    await expect(requireImageRunsHere(pool, refuses, 'qemu', 'native')).resolves.toBeUndefined();
    const err = await requireImageRunsHere(pool, refuses, 'qemu', 'foreign').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ForeignArchError);
    expect((err as Error).message).toMatch(new RegExp(`^image "foreign": this is an ${foreign} guest .*vmm\\.allowForeignArch: true`));
    await expect(requireImageRunsHere(pool, allows, 'qemu', 'foreign')).resolves.toBeUndefined();
    await expect(requireImageRunsHere(pool, allows, 'cloud-hypervisor', 'foreign')).rejects.toBeInstanceOf(ForeignArchError);
  });
  it('leaves an image without a readable arch to the driver', async () => {
    await expect(requireImageRunsHere(pool, refuses, 'qemu', 'unreadable')).resolves.toBeUndefined();
  });
});
