/**
 * The guest agent in a real VM: boots the minimal test image once for the whole
 * file (a copy of its rootfs on a temp disk) with the driver this host selects
 * (HOB_VMM=qemu|cloud-hypervisor to force one), and drives the agent through
 * AgentClient over the VM's agent channel. Also covers what the host-side
 * integration test must not do: fs.freeze/thaw, clock.set and shutdown.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { AgentClient, waitForAgent, type ExecProcess } from '../../daemon/agent/index.js';
import { AgentError } from '../../daemon/errors.js';
import { selectDriver } from '../../daemon/vmm/select.js';
import type { VmHandle } from '../../daemon/vmm/types.js';
import { ensureTestImage, imageBuildUnavailable } from '../helpers/image.js';

/** Reconnect-and-exec rounds; each takes about a tenth of a second under TCG. */
const RECONNECT_ROUNDS = 30;

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const unavailable = imageBuildUnavailable();
if (unavailable) console.warn(`skipping the agent e2e tests: ${unavailable}`);

describe.skipIf(unavailable !== null)('guest agent in a VM', () => {
  let dir: string | undefined;
  let vm: VmHandle | undefined;
  let client: AgentClient;
  let kernelVersion: string;

  beforeAll(async () => {
    const image = await ensureTestImage();
    kernelVersion = (JSON.parse(readFileSync(image.manifest, 'utf8')) as { kernel: { version: string } }).kernel.version;
    // Short: the VMM's sockets live under it and a socket path must fit in 107 bytes.
    dir = mkdtempSync(join(tmpdir(), 'hob-e2e-agent-'));
    const disk = join(dir, 'root.img');
    await execa('cp', ['--reflink=auto', '--sparse=always', image.rootfs, disk]);
    await execa('truncate', ['-s', '1G', disk]); // the guest's init grows the filesystem
    const runDir = join(dir, 'run');
    mkdirSync(runDir);
    const { driver } = await selectDriver();
    vm = await driver.start({
      id: 'e2e-agent',
      runDir,
      kernelPath: image.kernel,
      initramfsPath: image.initramfs,
      cmdline: 'root=/dev/vda',
      disks: [{ id: 'root', path: disk }],
      cpus: 2,
      memoryMiB: 1024,
    });
    const handle = vm;
    try {
      client = await waitForAgent(() => handle.openAgentStream(), { timeoutMs: 180_000 });
    } catch (err) {
      let console = '';
      try {
        console = readFileSync(handle.consoleLogPath, 'utf8').slice(-4000);
      } catch {
        // no console log
      }
      throw new Error(`the guest agent did not answer: ${String(err)}\n--- console ---\n${console}`);
    }
  });

  afterAll(async () => {
    client?.close();
    try {
      if (vm) await vm.kill();
    } finally {
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
  });

  it('handshakes with the agent in the image', () => {
    expect(client.version).toBeGreaterThanOrEqual(1);
    for (const capability of ['exec', 'exec.tty', 'fs.write', 'tunnel', 'fs.freeze', 'clock.set']) expect(client.supports(capability)).toBe(true);
  });

  it('runs uname -a with exit code 0 and the kernel in its output', async () => {
    const result = await client.run(['uname', '-a']);
    expect(result.code).toBe(0);
    expect(result.stdout.toString()).toMatch(/^Linux /);
    expect(result.stdout.toString()).toContain(kernelVersion);
  });

  it("reports sh -c 'exit 7' as exit code 7", async () => {
    expect(await client.run(['sh', '-c', 'exit 7'])).toMatchObject({ code: 7, signal: null });
  });

  it('reports a signal sent to sleep 100 as the terminating signal', async () => {
    const proc = await client.exec({ argv: ['sleep', '100'] });
    proc.stdout.resume();
    proc.stderr.resume();
    proc.signal('SIGTERM');
    expect(await proc.exited).toEqual({ code: null, signal: 'SIGTERM' });
  });

  it('pipes 1 MiB through sha256sum', async () => {
    const data = randomBytes(1024 * 1024);
    const result = await client.run(['sha256sum'], { input: data });
    expect(result.code).toBe(0);
    expect(result.stdout.toString().split(' ')[0]).toBe(sha256(data));
  });

  it('gives a tty exec a terminal whose size follows resize', async () => {
    const proc = await client.exec({
      argv: ['sh', '-c', 'tty; test -t 0 && echo stdin-is-a-tty; read line; stty size'],
      tty: { rows: 24, cols: 80 },
    });
    proc.stderr.resume();
    const output = readAll(proc.stdout);
    proc.resize(40, 132);
    proc.stdin?.write('go\n');
    const text = (await output).toString();
    expect(await proc.exited).toEqual({ code: 0, signal: null });
    expect(text).toMatch(/\/dev\/pts\/\d+/);
    expect(text).toContain('stdin-is-a-tty');
    expect(text).toMatch(/40 132\r?\n/);
  });

  it('writes a 20 MiB file and reads back the same bytes', async () => {
    const data = randomBytes(20 * 1024 * 1024);
    const chunks = Array.from({ length: 20 }, (_, i) => data.subarray(i * 1024 * 1024, (i + 1) * 1024 * 1024));
    expect(await client.writeFile('/root/big.bin', Readable.from(chunks))).toEqual({ size: data.length });
    const { size, stream } = await client.readFile('/root/big.bin');
    expect(size).toBe(data.length);
    expect(sha256(await readAll(stream))).toBe(sha256(data));
    const inGuest = await client.run(['sha256sum', '/root/big.bin']);
    expect(inGuest.stdout.toString().split(' ')[0]).toBe(sha256(data));
    await client.remove('/root/big.bin');
  }, 600_000); // under TCG the channel moves a few hundred KiB/s

  it('leaves no partial file when a write is interrupted', async () => {
    await client.mkdir('/root/interrupted');
    async function* failingSource(): AsyncGenerator<Buffer> {
      for (let i = 0; i < 4; i++) yield randomBytes(1024 * 1024);
      throw new Error('source broke halfway');
    }
    await expect(client.writeFile('/root/interrupted/file.bin', failingSource())).rejects.toThrow(AgentError);
    // The agent removes its temp file once it sees the channel closed.
    await vi.waitFor(async () => expect(await client.list('/root/interrupted')).toEqual([]), { timeout: 30_000, interval: 200 });
    await expect(client.stat('/root/interrupted/file.bin')).rejects.toMatchObject({ guestCode: 'ENOENT' });
  }, 300_000);

  it('reaches a server started in the guest through a tunnel', async () => {
    const watcher = await client.watchPorts();
    let server: ExecProcess | undefined;
    try {
      const listening = new Promise<void>((resolve) =>
        watcher.on('opened', (p) => {
          if (p.port === 8080) resolve();
        }),
      );
      server = await client.exec({
        argv: ['/opt/hob/node', '-e', "require('http').createServer((q, s) => s.end('hello from the guest')).listen(8080, '127.0.0.1')"],
      });
      server.stdout.resume();
      server.stderr.resume();
      await listening;
      const tunnel = await client.openTunnel(8080);
      const response = readAll(tunnel);
      tunnel.end('GET / HTTP/1.0\r\nHost: guest\r\n\r\n');
      const text = (await response).toString();
      expect(text).toMatch(/^HTTP\/1\.[01] 200/);
      expect(text).toContain('hello from the guest');
    } finally {
      watcher.close();
      server?.close();
    }
  });

  it('syncs, freezes and thaws the root filesystem, which is writable again after the thaw', async () => {
    await client.sync();
    await client.freeze({ autoThawMs: 60_000 });
    try {
      await client.freeze({ autoThawMs: 60_000 }); // a second freeze only re-arms the auto-thaw
      // Frozen: freezing again from inside the guest is refused with EBUSY.
      const probe = await client.run(['fsfreeze', '-f', '/']);
      expect(probe.code).not.toBe(0);
      expect(probe.stderr.toString()).toMatch(/busy/i);
    } finally {
      await client.thaw();
    }
    await client.thaw(); // thawing a thawed filesystem is not an error
    await client.writeFile('/root/after-thaw.txt', Buffer.from('writable'));
    expect((await client.readFileBuffer('/root/after-thaw.txt')).toString()).toBe('writable');
    expect((await client.run(['sh', '-c', 'echo ok > /root/after-thaw-2.txt && cat /root/after-thaw-2.txt'])).stdout.toString()).toBe('ok\n');
  });

  it('moves the guest clock with clock.set', async () => {
    const target = Date.now() + 3 * 3600_000;
    const previous = await client.setClock(target);
    expect(Math.abs(previous - Date.now())).toBeLessThan(3600_000);
    const seconds = Number((await client.run(['date', '+%s'])).stdout.toString().trim());
    expect(seconds * 1000).toBeGreaterThan(target - 600_000);
    await client.setClock(Date.now());
    const after = Number((await client.run(['date', '+%s'])).stdout.toString().trim());
    expect(Math.abs(after * 1000 - Date.now())).toBeLessThan(600_000);
  });

  it('takes a new identity with identity.set, keeping one hostname line in /etc/hosts', async () => {
    await client.run(['/bin/sh', '-c', 'echo "127.0.1.1 stale # hob" >> /etc/hosts; echo "10.9.9.9 kept" >> /etc/hosts'], { user: 'root' });
    expect(await client.setIdentity('renamed-vm', 'ab'.repeat(16))).toBe(false); // the minimal image has no ssh host keys
    const out = (await client.run(['/bin/sh', '-c', 'hostname; cat /etc/hostname /etc/machine-id; grep -c " # hob$" /etc/hosts; grep hob /etc/hosts; grep -c kept /etc/hosts; stat -c %a /etc/machine-id'])).stdout.toString();
    expect(out.trim().split('\n')).toEqual(['renamed-vm', 'renamed-vm', 'ab'.repeat(16), '1', '127.0.1.1 renamed-vm # hob', '1', '444']);
    await expect(client.setIdentity('Not_A_Label', 'ab'.repeat(16))).rejects.toThrow(/invalid identity.set request/);
  });

  it('serves a new host connection on the same port after a reconnect', async () => {
    const bootId = client.bootId;
    const stream = await vm!.openAgentStream(); // replaces (and closes) the current one
    const next = await AgentClient.connect(stream, { timeoutMs: 60_000 });
    client.close();
    client = next;
    expect(client.bootId).toBe(bootId);
    expect((await client.run(['echo', 'again'])).stdout.toString()).toBe('again\n');
  });

  it('keeps serving after quick reconnects (a late hangup of the old host must not end the new session)', async () => {
    // The guest may read the new host's first bytes before it learns the old one went away (virtio-serial
    // sends data and port events on separate queues): that late hangup must not undo the new handshake.
    for (let round = 0; round < RECONNECT_ROUNDS; round++) {
      const stream = await vm!.openAgentStream();
      const next = await AgentClient.connect(stream, { timeoutMs: 60_000 });
      client.close();
      client = next;
      expect((await client.run(['echo', String(round)])).stdout.toString()).toBe(`${round}\n`);
    }
  });

  it('powers the guest off on shutdown', async () => {
    await client.shutdown();
    const exit = await Promise.race([vm!.exited, new Promise<null>((resolve) => setTimeout(() => resolve(null), 60_000))]);
    expect(exit).not.toBeNull();
  });
});
