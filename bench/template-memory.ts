/**
 * Memory restore time against guest memory size (issue 18 item 3, docs/architecture.md §26),
 * on the qemu driver directly: `npm run bench -- template-memory`. For each size one VM boots
 * with its RAM in a shared file (a template), fills a quarter of its RAM with non-zero bytes
 * (a tmpfs file: zero pages would cost the stream nothing), and is snapshotted: device state
 * in the stream, RAM in the file. Then, timed from the VMM's start to the agent's answer:
 * - mapped: a restore that maps the file privately (the warm templates' path);
 * - stream: that restored VM snapshotted again, which makes an ordinary migration stream
 *   with all its RAM, restored the ordinary way (what templates did before, and still do
 *   with `templates.memory: stream`).
 * The mapped figure should stay flat while the stream one grows with the memory in use.
 * Sizes: HOB_BENCH_MEMORY_SIZES (MiB, comma separated); default 256,1024,2048,4096.
 */
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { waitForAgent, type AgentClient } from '../daemon/agent/index.js';
import { detectKvm } from '../daemon/vmm/kvm.js';
import { QemuDriver } from '../daemon/vmm/qemu/driver.js';
import type { VmHandle, VmSpec } from '../daemon/vmm/types.js';
import { ensureTestImage } from '../test/helpers/image.js';
import { time, type Record } from './measure.js';

const DEFAULT_SIZES = [256, 1024, 2048, 4096];

export async function benchTemplateMemory(record: Record): Promise<void> {
  const sizes = (process.env['HOB_BENCH_MEMORY_SIZES'] ?? '').split(',').map(Number).filter((n) => n >= 128);
  const driver = new QemuDriver({ kvm: (await detectKvm()).usable });
  const image = await ensureTestImage();
  const root = await mkdtemp(join(tmpdir(), 'hob-tm-'));
  try {
    for (const memoryMiB of sizes.length > 0 ? sizes : DEFAULT_SIZES) await one(driver, image, root, memoryMiB, record);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

async function one(driver: QemuDriver, image: { kernel: string; initramfs: string; rootfs: string }, root: string, memoryMiB: number, record: Record): Promise<void> {
  const dir = join(root, String(memoryMiB));
  const tplDir = join(dir, 'tpl');
  const streamDir = join(dir, 'stream');
  await mkdir(tplDir, { recursive: true, mode: 0o700 });
  await mkdir(streamDir, { mode: 0o700 });
  const disk = join(dir, 'root.img');
  await execa('cp', ['--reflink=auto', '--sparse=always', image.rootfs, disk]);
  await execa('truncate', ['-s', '2G', disk]);
  const spec = (id: string, extra: Partial<VmSpec> = {}): VmSpec => ({
    id, runDir: join(dir, id), kernelPath: image.kernel, initramfsPath: image.initramfs,
    cmdline: 'root=/dev/vda rw hob.hostname=bench', disks: [{ id: 'root', path: disk }], cpus: 1, memoryMiB, ...extra,
  });
  const handles: VmHandle[] = [];
  const agents: AgentClient[] = [];
  const agentOf = async (vm: VmHandle, timeoutMs: number): Promise<AgentClient> => {
    const agent = await waitForAgent(() => vm.openAgentStream(), { timeoutMs });
    agents.push(agent);
    return agent;
  };
  const restore = async (id: string, snapshotDir: string): Promise<number> => {
    await mkdir(join(dir, id), { mode: 0o700 });
    const [ms] = await time(async () => {
      const vm = await driver.restore(spec(id), snapshotDir);
      handles.push(vm);
      await vm.resume();
      const agent = await agentOf(vm, 120_000);
      const r = await agent.run(['true']);
      if (r.code !== 0) throw new Error('exec true failed after the restore');
    });
    return ms;
  };
  try {
    await mkdir(join(dir, 'tpl-vm'), { mode: 0o700 });
    const tpl = await driver.start(spec('tpl-vm', { memoryFile: join(tplDir, 'guest-ram') }));
    handles.push(tpl);
    const agent = await agentOf(tpl, 600_000);
    const fillMiB = Math.floor(memoryMiB / 4);
    const fill = await agent.run(['/bin/sh', '-c', `mount -o remount,size=90% /dev/shm 2>/dev/null; yes hob | head -c ${fillMiB}M > /dev/shm/fill`], { user: 'root' });
    if (fill.code !== 0) throw new Error(`filling guest memory failed: ${fill.stderr.toString()}`);
    await tpl.pause();
    await tpl.snapshot(tplDir);
    await tpl.kill();
    const mappedMs = await restore('mapped-vm', tplDir);
    const restored = handles.at(-1)!;
    await restored.pause();
    await restored.snapshot(streamDir);
    await restored.kill();
    const streamMs = await restore('stream-vm', streamDir);
    const streamBytes = (await stat(join(streamDir, 'memory.qemu'))).size;
    const mappedBytes = (await stat(join(tplDir, 'memory.qemu'))).size;
    const note = `${fillMiB} MiB of it in use`;
    record(`${memoryMiB} MiB guest: mapped restore to exec-ready`, mappedMs, 'ms', `${note}; stream ${Math.round(mappedBytes / 1024)} KiB`);
    record(`${memoryMiB} MiB guest: stream restore to exec-ready`, streamMs, 'ms', `${note}; stream ${Math.round(streamBytes / 2 ** 20)} MiB`);
  } finally {
    // Closed, or their sockets keep the bench process alive after the report.
    for (const a of agents) a.close();
    for (const h of handles) await h.kill().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}
