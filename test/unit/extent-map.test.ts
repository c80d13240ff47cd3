/**
 * The extent map restore compares (storage/extent-map.ts): xfs_io's output parsed, and the
 * clones and punches planned from two maps. The same code on real btrfs, with compression,
 * is test/integration/tree-sync.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { FIEMAP_ENCODED, parseFiemap, planResync, type Extent } from '../../daemon/storage/extent-map.js';

const K = 1024;
const plain = (offset: number, length: number, physical: number): Extent => ({ offset, length, physical, flags: 0 });
const encoded = (offset: number, length: number, physical: number): Extent => ({ offset, length, physical, flags: FIEMAP_ENCODED });

describe('parseFiemap', () => {
  it('reads extents in bytes, skips holes and the column header, and drops the flags that say nothing about the data', () => {
    const text = [
      ' EXT: FILE-OFFSET      BLOCK-RANGE      TOTAL FLAGS',
      '   0: [0..40959]:      583680..624639   40960 0x2000',
      '   1: [40960..102399]: hole             61440',
      '   2: [102400..102655]: 26624..26879       256 0x2008',
      '   3: [102656..102911]: 26632..26887       256 0x1',
      '   4: [102912..102919]: 0..7                 8 0x301',
      '',
    ].join('\n');
    expect(parseFiemap(text)).toEqual([
      { offset: 0, length: 40960 * 512, physical: 583680 * 512, flags: 0 },
      { offset: 102400 * 512, length: 256 * 512, physical: 26624 * 512, flags: FIEMAP_ENCODED },
      { offset: 102656 * 512, length: 256 * 512, physical: 26632 * 512, flags: 0 },
      { offset: 102912 * 512, length: 8 * 512, physical: 0, flags: 0x300 },
    ]);
  });

  it('refuses a line it does not understand rather than plan from a wrong map', () => {
    expect(() => parseFiemap('   0: [0..7]: somewhere 8 0x0')).toThrow(/unexpected line/);
  });
});

describe('planResync', () => {
  it('plans nothing for two maps of the same extents, however they are cut', () => {
    const source = [plain(0, 256 * K, 1_000 * K)];
    const dest = [plain(0, 128 * K, 1_000 * K), plain(128 * K, 128 * K, 1_128 * K)];
    expect(planResync(source, dest, 256 * K)).toEqual([]);
  });

  it('clones the ranges the destination rewrote, merged when adjacent, and nothing else', () => {
    const source = [plain(0, 512 * K, 1_000 * K)];
    const dest = [plain(0, 64 * K, 1_000 * K), plain(64 * K, 32 * K, 9_000 * K), plain(96 * K, 32 * K, 9_500 * K), plain(128 * K, 384 * K, 1_128 * K)];
    expect(planResync(source, dest, 512 * K)).toEqual([{ kind: 'clone', offset: 64 * K, length: 64 * K }]);
  });

  it('punches where the source is a hole and clones where only the source has data', () => {
    const source = [plain(0, 64 * K, 1_000 * K)];
    const dest = [plain(64 * K, 64 * K, 5_000 * K)];
    expect(planResync(source, dest, 256 * K)).toEqual([
      { kind: 'clone', offset: 0, length: 64 * K },
      { kind: 'punch', offset: 64 * K, length: 64 * K },
    ]);
  });

  it('takes an encoded extent as shared only when both have the very same one', () => {
    const source = [encoded(0, 128 * K, 7_000 * K), encoded(128 * K, 128 * K, 7_040 * K)];
    // The destination overwrote the middle of the second: what is left of it starts at the same
    // physical address but holds other bytes of the compressed data.
    const dest = [encoded(0, 128 * K, 7_000 * K), encoded(128 * K, 32 * K, 7_040 * K), plain(160 * K, 32 * K, 9_000 * K), encoded(192 * K, 64 * K, 7_040 * K)];
    expect(planResync(source, dest, 256 * K)).toEqual([{ kind: 'clone', offset: 128 * K, length: 128 * K }]);
  });

  it('never takes delayed, unwritten or inline extents as shared', () => {
    const delalloc = { ...plain(0, 64 * K, 0), flags: 0x4 };
    expect(planResync([plain(0, 64 * K, 0)], [delalloc], 64 * K)).toEqual([{ kind: 'clone', offset: 0, length: 64 * K }]);
    const inline = { ...plain(0, 4 * K, 0), flags: 0x300 };
    expect(planResync([inline], [inline], 4 * K)).toEqual([{ kind: 'clone', offset: 0, length: 4 * K }]);
  });

  it('covers exactly the size asked for: extents past it are ignored, a shorter destination is filled', () => {
    const source = [plain(0, 1024 * K, 1_000 * K)];
    const dest = [plain(0, 256 * K, 1_000 * K)];
    expect(planResync(source, dest, 512 * K)).toEqual([{ kind: 'clone', offset: 256 * K, length: 256 * K }]);
    expect(planResync([], [plain(0, 1024 * K, 1_000 * K)], 512 * K)).toEqual([{ kind: 'punch', offset: 0, length: 512 * K }]);
    expect(planResync([], [], 0)).toEqual([]);
  });
});
