/**
 * Pure parts of the cloud-hypervisor driver. The binary cannot run on a host without KVM,
 * so the vsock handshake is exercised against a real unix socket whose far end plays the
 * part of CH's vsock muxer (the only stand-in in this file).
 */
import { describe, expect, it } from 'vitest';
import { parseChError } from '../../daemon/vmm/cloud-hypervisor/api.js';
import { chArgv, isChCmdlineFor, parseChVersion } from '../../daemon/vmm/cloud-hypervisor/driver.js';
import { chPaths, mapChState } from '../../daemon/vmm/cloud-hypervisor/handle.js';
import { rewriteSnapshotConfig } from '../../daemon/vmm/cloud-hypervisor/restore-source.js';
import { AGENT_VSOCK_PORT, vsockHandshake } from '../../daemon/vmm/cloud-hypervisor/vsock.js';
import type { VmSpec } from '../../daemon/vmm/types.js';
import { unixSocketPair } from '../helpers/socket-pair.js';

describe('cloud-hypervisor API errors', () => {
  it('joins CH error chains', () => {
    expect(parseChError(500, '["Error from API","The VM could not boot","Invalid disk path"]')).toBe(
      'Error from API: The VM could not boot: Invalid disk path',
    );
  });
  it('falls back to the raw body or the status', () => {
    expect(parseChError(404, 'not found')).toBe('HTTP 404: not found');
    expect(parseChError(405, '')).toBe('HTTP 405');
    expect(parseChError(500, '{"x":1}')).toBe('HTTP 500: {"x":1}');
  });
});

describe('cloud-hypervisor process identity', () => {
  it('parses --version', () => {
    expect(parseChVersion('cloud-hypervisor v53.0\n')).toBe('v53.0');
    expect(() => parseChVersion('sh: cloud-hypervisor: not found')).toThrow(/cannot parse/);
  });
  it('recognises its own process by the API socket', () => {
    const p = chPaths('/run/hob/sb1');
    const argv = chArgv('/usr/local/lib/hob/cloud-hypervisor', p);
    expect(argv).toEqual(['/usr/local/lib/hob/cloud-hypervisor', '--api-socket', 'path=/run/hob/sb1/ch.sock']);
    expect(isChCmdlineFor(argv, p.apiSocket)).toBe(true);
    expect(isChCmdlineFor(argv, '/run/hob/sb2/ch.sock')).toBe(false);
    expect(isChCmdlineFor(['/bin/sleep', '--api-socket', `path=${p.apiSocket}`], p.apiSocket)).toBe(false);
  });
  it('maps VM states', () => {
    expect(mapChState('Running')).toBe('running');
    expect(mapChState('Paused')).toBe('paused');
    expect(mapChState('Shutdown')).toBe('stopped');
    expect(mapChState('Created')).toBe('stopped');
  });
});

describe('restore source config rewrite', () => {
  const spec: VmSpec = {
    id: 'fork1',
    runDir: '/run/hob/fork1',
    kernelPath: '/img/vmlinuz',
    cmdline: '',
    disks: [{ id: 'root', path: '/pool/fork1/root.img' }],
    cpus: 1,
    memoryMiB: 512,
  };
  const p = chPaths(spec.runDir);
  const snapConfig = {
    cpus: { boot_vcpus: 1, max_vcpus: 1 },
    disks: [{ id: 'root', path: '/pool/sb1/root.img', readonly: false, num_queues: 1 }],
    net: [{ id: 'net0', tap: 'tap0', mac: '02:00:00:00:00:01' }],
    vsock: { cid: 3, socket: '/run/hob/sb1/vsock.sock', iommu: false, id: 'vsock0' },
    serial: { mode: 'File', file: '/run/hob/sb1/console.log' },
    console: { mode: 'Off', file: null },
  };

  it('points disks, vsock and serial at the new VM and keeps everything else', () => {
    const socketConfig = { ...snapConfig, serial: { mode: 'Socket', file: null, socket: '/run/hob/sb1/console.sock' } };
    const out = rewriteSnapshotConfig(socketConfig, spec, p);
    expect(out).toEqual({
      ...socketConfig,
      disks: [{ id: 'root', path: '/pool/fork1/root.img', readonly: false, num_queues: 1 }],
      vsock: { ...snapConfig.vsock, socket: '/run/hob/fork1/vsock.sock' },
      serial: { mode: 'Socket', file: null, socket: '/run/hob/fork1/console.sock' },
    });
    expect(snapConfig.disks[0]?.path).toBe('/pool/sb1/root.img'); // input untouched
  });
  it('moves the serial file of an older snapshot to the bounded console socket', () => {
    expect(rewriteSnapshotConfig(snapConfig, spec, p).serial).toEqual({ mode: 'Socket', file: null, socket: '/run/hob/fork1/console.sock' });
    // A snapshot without a serial port keeps none.
    expect(rewriteSnapshotConfig({ ...snapConfig, serial: { mode: 'Off', file: null } }, spec, p).serial).toEqual({ mode: 'Off', file: null });
  });
  it('refuses a snapshot disk the spec does not have', () => {
    expect(() => rewriteSnapshotConfig(snapConfig, { ...spec, disks: [{ id: 'other', path: '/x' }] }, p)).toThrow(
      /disk root is not in the spec/,
    );
  });
});

describe('vsock CONNECT handshake', () => {
  it('returns the stream and keeps bytes that follow the OK line', async () => {
    const { a, b, dispose } = await unixSocketPair();
    try {
      const request = new Promise<string>((resolve) => b.once('data', (d: Buffer) => resolve(d.toString())));
      const done = vsockHandshake(a, AGENT_VSOCK_PORT);
      expect(await request).toBe('CONNECT 1024\n');
      b.write('OK 1073741824\nhello');
      const stream = await done;
      const first = await new Promise<string>((resolve) => stream.once('data', (d: Buffer) => resolve(d.toString())));
      expect(first).toBe('hello');
    } finally {
      dispose();
    }
  });
  it('fails when the far end closes (nothing listens in the guest)', async () => {
    const { a, b, dispose } = await unixSocketPair();
    try {
      const done = vsockHandshake(a, AGENT_VSOCK_PORT);
      b.end();
      await expect(done).rejects.toThrow(/connection closed/);
    } finally {
      dispose();
    }
  });
  it('fails on a garbage reply', async () => {
    const { a, b, dispose } = await unixSocketPair();
    try {
      const done = vsockHandshake(a, AGENT_VSOCK_PORT);
      b.write('NO\n');
      await expect(done).rejects.toThrow(/unexpected reply/);
    } finally {
      dispose();
    }
  });
});
