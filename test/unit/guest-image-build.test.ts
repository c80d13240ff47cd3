/** Pure parts of the guest image builder: module order, cpio, hashing, sizing. */
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { writeCpio } from '../../guest-image/build/cpio.js';
import { fsSizeFor, uuidFromHash } from '../../guest-image/build/ext4.js';
import { canonicalJson, hashInputs } from '../../guest-image/build/hash.js';
import { loadOrder, moduleName, parseModuleIndex } from '../../guest-image/build/modules.js';

// Excerpt of Debian bookworm's 6.1 cloud kernel modules.dep.
const modulesDep = `
kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/virtio/virtio_pci_modern_dev.ko:
kernel/drivers/virtio/virtio_pci_legacy_dev.ko:
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_legacy_dev.ko kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/char/hw_random/virtio-rng.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/block/virtio_blk.ko.xz: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko
kernel/net/core/failover.ko:
`;
const builtin = 'kernel/fs/ext4/ext4.ko\nkernel/fs/jbd2/jbd2.ko\n';

describe('module load order', () => {
  const index = parseModuleIndex(modulesDep, builtin);

  it('normalises module names from paths', () => {
    expect(moduleName('kernel/drivers/char/hw_random/virtio-rng.ko')).toBe('virtio_rng');
    expect(moduleName('kernel/drivers/block/virtio_blk.ko.xz')).toBe('virtio_blk');
    expect(moduleName('a/b/x.ko.zst')).toBe('x');
  });

  it('puts every dependency before its user, each module once, built-ins skipped', () => {
    const order = loadOrder(index, [
      { name: 'virtio_pci', required: true },
      { name: 'virtio_blk', required: true },
      { name: 'ext4', required: true },
      { name: 'virtio_net', required: false },
      { name: 'virtio_rng', required: false },
      { name: 'virtio_mmio', required: false },
    ]).map((m) => m.name);
    expect(order).toEqual([
      'virtio_ring',
      'virtio',
      'virtio_pci_modern_dev',
      'virtio_pci_legacy_dev',
      'virtio_pci',
      'virtio_blk',
      'failover',
      'net_failover',
      'virtio_net',
      'virtio_rng',
    ]);
  });

  it('keeps the compressed file name so the builder can inflate it', () => {
    const blk = loadOrder(index, [{ name: 'virtio_blk', required: true }]).find((m) => m.name === 'virtio_blk');
    expect(blk?.relPath).toBe('kernel/drivers/block/virtio_blk.ko.xz');
  });

  it('fails for a required module the kernel lacks', () => {
    expect(() => loadOrder(index, [{ name: 'virtio_scsi', required: true }])).toThrow(/virtio_scsi/);
  });
});

describe('cpio writer', () => {
  it('writes a newc archive that GNU cpio lists with types, modes and device numbers', async () => {
    const archive = writeCpio([
      { type: 'dir', path: 'dev', mode: 0o755 },
      { type: 'chardev', path: 'dev/console', mode: 0o600, major: 5, minor: 1 },
      { type: 'dir', path: 'bin', mode: 0o755 },
      { type: 'file', path: 'bin/busybox', mode: 0o755, data: Buffer.from('odd length!') },
      { type: 'symlink', path: 'bin/sh', target: 'busybox' },
      { type: 'file', path: 'init', mode: 0o755, data: Buffer.from('#!/bin/sh\n') },
    ]);
    expect(archive.length % 4).toBe(0);
    const r = await execa('cpio', ['-itv', '--quiet'], { input: archive });
    const lines = r.stdout.split('\n');
    expect(lines).toHaveLength(6);
    expect(lines[1]).toMatch(/^crw------- +1 root +root +5, +1 .* dev\/console$/);
    expect(lines[3]).toMatch(/^-rwxr-xr-x +1 root +root +11 .* bin\/busybox$/);
    expect(lines[4]).toMatch(/^lrwxrwxrwx .* bin\/sh -> busybox$/);
  });

  it('is reproducible', () => {
    const entries = [{ type: 'file', path: 'a', mode: 0o644, data: Buffer.from('x') }] as const;
    expect(writeCpio(entries).equals(writeCpio(entries))).toBe(true);
  });

  it('rejects paths that climb out', () => {
    expect(() => writeCpio([{ type: 'dir', path: '../etc', mode: 0o755 }])).toThrow(/bad cpio path/);
  });
});

describe('input hashing', () => {
  it('does not depend on object key order but on every value', () => {
    expect(canonicalJson({ b: 1, a: { d: 2, c: 3 } })).toBe('{"a":{"c":3,"d":2},"b":1}');
    expect(hashInputs({ a: 1, b: [1, 2] })).toBe(hashInputs({ b: [1, 2], a: 1 }));
    expect(hashInputs({ a: 1, b: [1, 2] })).not.toBe(hashInputs({ a: 1, b: [2, 1] }));
  });

  it('derives an RFC 4122 shaped UUID from a hash', () => {
    const u = uuidFromHash('0123456789abcdef0123456789abcdef0123');
    expect(u).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(uuidFromHash('0123456789abcdef0123456789abcdef0123')).toBe(u);
  });
});

describe('rootfs sizing', () => {
  const MiB = 2 ** 20;
  it('leaves room beyond the data, in 64 MiB steps', () => {
    const size = fsSizeFor({ bytes: 340 * MiB, inodes: 12_000 });
    expect(size % (64 * MiB)).toBe(0);
    expect(size).toBeGreaterThanOrEqual(340 * MiB * 1.2 + 128 * MiB);
  });
  it('grows for trees of many small files (inodes at 16 KiB each)', () => {
    const size = fsSizeFor({ bytes: 100 * MiB, inodes: 200_000 });
    expect(size).toBeGreaterThanOrEqual(200_000 * 16384);
  });
});
