import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseConfig, parseSize } from '../../daemon/config.js';
import { HobError } from '../../daemon/errors.js';

const noEnv = {};

describe('config', () => {
  let dir: string;
  beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'hob-config-')); });
  afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

  it('has the documented defaults for an empty file', () => {
    const c = parseConfig('', { env: noEnv });
    expect(c).toMatchObject({
      stateDir: '/var/lib/hob',
      runDir: '/run/hob',
      dbPath: '/var/lib/hob/hob.db',
      pool: { path: undefined, imageSize: 'auto', mountOptions: 'compress=zstd:1,discard=async' },
      api: { socketPath: '/run/hob/hob.sock', socketGroup: 'hob', tcpHost: '127.0.0.1', tcpPort: 7707 },
      vmm: { driver: 'auto', chBinary: undefined },
      sandboxDefaults: { cpus: 2, memoryMiB: 2048, diskGiB: 100, image: 'dev' },
      idle: { pauseAfterSeconds: 30, hibernateAfterSeconds: 1800 },
    });
    expect(c.vmm.qemuBinary).toMatch(/^qemu-system-(x86_64|aarch64)$/);
  });

  it('reads a file, derives paths from the dirs, and parses sizes', async () => {
    const file = join(dir, 'config.yaml');
    await writeFile(file, [
      'stateDir: /srv/hob',
      'runDir: /run/hob2',
      'pool:',
      '  imageSize: 200GiB',
      'api:',
      '  tcpPort: 0',
      'vmm: { driver: qemu }',
      'sandboxDefaults: { cpus: 4 }',
    ].join('\n'));
    const c = await loadConfig({ path: file, env: noEnv });
    expect(c.source).toBe(file);
    expect(c.dbPath).toBe('/srv/hob/hob.db');
    expect(c.api.socketPath).toBe('/run/hob2/hob.sock');
    expect(c.pool.imageSize).toBe(200 * 1024 ** 3);
    expect(c.api.tcpPort).toBe(0);
    expect(c.vmm.driver).toBe('qemu');
    expect(c.sandboxDefaults).toEqual({ cpus: 4, memoryMiB: 2048, diskGiB: 100, image: 'dev' });
    expect(parseSize('512M')).toBe(512 * 1024 ** 2);
    expect(parseSize('1.5T')).toBe(1.5 * 1024 ** 4);
    expect(parseSize('42')).toBe(42);
    expect(parseSize('12Q')).toBeUndefined();
  });

  it('lets the environment override the file', () => {
    const c = parseConfig('stateDir: /a\nvmm: { driver: cloud-hypervisor, chBinary: /opt/ch }', {
      env: { HOB_STATE_DIR: '/b', HOB_RUN_DIR: '/tmp/hobrun', HOB_VMM: 'qemu' },
    });
    expect(c.stateDir).toBe('/b');
    expect(c.runDir).toBe('/tmp/hobrun');
    expect(c.api.socketPath).toBe('/tmp/hobrun/hob.sock');
    expect(c.vmm).toMatchObject({ driver: 'qemu', chBinary: '/opt/ch' });
    expect(() => parseConfig('', { env: { HOB_VMM: 'firecracker' } })).toThrow(/vmm\.driver \(from HOB_VMM\)/);
  });

  it('rejects unknown keys, naming the key and the file', () => {
    const err = (() => { try { parseConfig('pool:\n  sise: 1G\nfoo: 1\n', { source: '/etc/hob/config.yaml', env: noEnv }); } catch (e) { return e; } })();
    expect(err).toBeInstanceOf(ConfigError);
    expect(err).toBeInstanceOf(HobError);
    expect((err as Error).message).toContain('/etc/hob/config.yaml');
    expect((err as Error).message).toContain("unknown key 'pool.sise'");
    expect((err as Error).message).toContain("unknown key 'foo'");
  });

  it('rejects bad values with the key path', () => {
    const cases: [string, RegExp][] = [
      ['stateDir: relative/path', /stateDir: must be an absolute path/],
      ['pool: { imageSize: 12Q }', /pool\.imageSize: "12Q" is not 'auto' or a size/],
      ['pool: { imageSize: 1M }', /pool\.imageSize: must be at least/],
      ['api: { tcpPort: 70000 }', /api\.tcpPort/],
      ['api: { tcpHost: example.com }', /api\.tcpHost/],
      ['vmm: { driver: kvm }', /vmm\.driver/],
      ['sandboxDefaults: { cpus: 0 }', /sandboxDefaults\.cpus/],
      ['sandboxDefaults: { image: "../x" }', /sandboxDefaults\.image/],
      ['idle: { pauseAfterSeconds: -1 }', /idle\.pauseAfterSeconds/],
      ['pool: { mountOptions: "compress=zstd;rm -rf /" }', /pool\.mountOptions/],
      ['- a list', /must be a mapping/],
      ['a: [', /invalid YAML/],
      ['stateDir: /a\nstateDir: /b', /invalid YAML.*unique/],
    ];
    for (const [yaml, re] of cases) expect(() => parseConfig(yaml, { source: 'x.yaml', env: noEnv }), yaml).toThrow(re);
  });

  it('fails for a config file that was named but is missing', async () => {
    const missing = join(dir, 'nope.yaml');
    await expect(loadConfig({ path: missing, env: noEnv })).rejects.toThrow(/cannot read/);
    await expect(loadConfig({ env: { HOB_CONFIG: missing } })).rejects.toThrow(/cannot read/);
  });
});
