/** Command-line values: sizes, counts, KEY=VALUE, names, cp operands, the create body. */
import { describe, expect, it } from 'vitest';
import { parseCpOperand } from '../../daemon/cli/commands/cp.js';
import { createBody } from '../../daemon/cli/commands/sandboxes.js';
import { UsageError } from '../../daemon/cli/errors.js';
import { parseDiskGiB, parseEnvPairs, parseMemoryMiB, parsePositiveInt, parseSizeOption } from '../../daemon/cli/units.js';

describe('sizes', () => {
  it.each([
    ['512M', 512 * 1024 ** 2],
    ['2G', 2 * 1024 ** 3],
    ['2GiB', 2 * 1024 ** 3],
    ['2gb', 2 * 1024 ** 3],
    ['1.5G', 1.5 * 1024 ** 3],
    ['1T', 1024 ** 4],
  ])('%s is %d bytes (binary units)', (text, bytes) => {
    expect(parseSizeOption(text, '--x')).toBe(bytes);
  });

  it('refuses a bare number, junk and zero', () => {
    expect(() => parseSizeOption('2048', '--memory')).toThrow(/--memory needs a unit/);
    expect(() => parseSizeOption('2X', '--memory')).toThrow(UsageError);
    expect(() => parseSizeOption('0G', '--memory')).toThrow(/not a size/);
  });

  it('converts memory to whole MiB and disk to whole GiB', () => {
    expect(parseMemoryMiB('2G')).toBe(2048);
    expect(parseMemoryMiB('1.5G')).toBe(1536);
    expect(() => parseMemoryMiB('1000K')).toThrow(/whole number of MiB/);
    expect(parseDiskGiB('100G')).toBe(100);
    expect(parseDiskGiB('1T')).toBe(1024);
    expect(() => parseDiskGiB('512M')).toThrow(/whole number of GiB/);
  });

  it('reads counts', () => {
    expect(parsePositiveInt('4', '--cpus')).toBe(4);
    expect(() => parsePositiveInt('0', '--cpus')).toThrow(UsageError);
    expect(() => parsePositiveInt('-1', '--cpus')).toThrow(UsageError);
    expect(() => parsePositiveInt('1.5', '--cpus')).toThrow(UsageError);
  });
});

describe('KEY=VALUE', () => {
  it('keeps = in values and lets later keys win', () => {
    expect(parseEnvPairs(['A=1', 'B=x=y', 'A=2', 'EMPTY='], '-e')).toEqual({ A: '2', B: 'x=y', EMPTY: '' });
  });
  it('refuses pairs without = and bad names', () => {
    expect(() => parseEnvPairs(['A'], '-e')).toThrow(/-e takes KEY=VALUE/);
    expect(() => parseEnvPairs(['1A=x'], '-e')).toThrow(UsageError);
  });
});

describe('the create body', () => {
  it('is the Sprites shape with hob\'s image', async () => {
    expect(await createBody('dev', { image: 'minimal', cpus: '2', memory: '2G', disk: '100G', label: ['a'], env: ['K=V'], public: true })).toEqual({
      name: 'dev',
      image: 'minimal',
      config: { cpus: 2, ram_mb: 2048, storage_gb: 100 },
      labels: ['a'],
      environment: { K: 'V' },
      url_settings: { auth: 'public' },
    });
  });
  it('leaves out what was not given', async () => {
    expect(await createBody('dev', {})).toEqual({ name: 'dev' });
  });
  it('refuses bad names of sandbox and image', async () => {
    await expect(createBody('-dev', {})).rejects.toThrow(/invalid sandbox name/);
    await expect(createBody('dev', { image: 'Dev' })).rejects.toThrow(/invalid image name/);
  });
});

describe('cp operands', () => {
  it.each([
    ['-', { kind: 'stdio' }],
    ['./a:b', { kind: 'local', path: './a:b' }],
    ['/abs/x:y', { kind: 'local', path: '/abs/x:y' }],
    ['file.txt', { kind: 'local', path: 'file.txt' }],
    ['dev:/etc/hosts', { kind: 'remote', sandbox: 'dev', path: '/etc/hosts' }],
    ['dev:etc/../tmp/x', { kind: 'remote', sandbox: 'dev', path: '/tmp/x' }],
    ['dev:/tmp/', { kind: 'remote', sandbox: 'dev', path: '/tmp/' }],
    [':/root/f', { kind: 'remote', sandbox: undefined, path: '/root/f' }],
  ])('%s', (text, expected) => {
    expect(parseCpOperand(text)).toEqual(expected);
  });
  it('refuses a bad sandbox name and an empty path', () => {
    expect(() => parseCpOperand('My_Box:/x')).toThrow(/invalid sandbox name "My_Box"/);
    expect(() => parseCpOperand('dev:')).toThrow(/give a path after the colon/);
  });
});
