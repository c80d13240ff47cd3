/**
 * The VMM drivers with real VMs: boots the minimal guest image (a per-test copy of its
 * rootfs, a virtio-net device on a tap in a namespace the test creates), checks state,
 * pause/resume, the agent channel, the console log, adoption by a fresh driver, memory
 * snapshot + resume of the source + restore into a fresh process with the disk as it was at
 * the snapshot, kill and graceful stop.
 *
 * qemu runs by default (under TCG where KVM is not usable). cloud-hypervisor runs when
 * HOB_VMM=cloud-hypervisor and both KVM and the binary are there. Timings are printed,
 * never asserted.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitForAgent } from '../../daemon/agent/index.js';
import { ConflictError, VmmError } from '../../daemon/errors.js';
import { findChBinary } from '../../daemon/vmm/cloud-hypervisor/binary.js';
import { ChDriver } from '../../daemon/vmm/cloud-hypervisor/driver.js';
import { detectKvm } from '../../daemon/vmm/kvm.js';
import { processIdentity } from '../../daemon/vmm/process.js';
import { QemuDriver } from '../../daemon/vmm/qemu/driver.js';
import type { VmHandle, VmmDriver, VmmKind, VmSpec } from '../../daemon/vmm/types.js';
import { ensureTestImage, imageBuildUnavailable } from '../helpers/image.js';
import { createTestNetns, type TestNetns } from '../helpers/netns.js';

const MEMORY_MIB = 512;
const selected = process.env.HOB_VMM || 'qemu';
const kvm = await detectKvm();

async function whyNot(kind: VmmKind): Promise<string | null> {
  const image = imageBuildUnavailable();
  if (image) return image;
  if (kind === 'qemu') {
    if (selected !== 'qemu') return `HOB_VMM=${selected} selects another driver`;
    const ok = await execa('qemu-system-x86_64', ['--version']).then(() => true, () => false);
    return ok || process.arch !== 'x64' ? null : 'qemu-system-x86_64 is not installed';
  }
  const missing: string[] = [];
  if (selected !== 'cloud-hypervisor') missing.push('HOB_VMM=cloud-hypervisor is not set');
  if (!kvm.usable) missing.push(`usable KVM (${kvm.reason})`);
  if (!(await findChBinary())) missing.push('the cloud-hypervisor binary');
  return missing.length ? `missing: ${missing.join('; ')}` : null;
}

function makeDriver(kind: VmmKind): VmmDriver {
  return kind === 'qemu' ? new QemuDriver({ kvm: kvm.usable }) : new ChDriver();
}

/** Waits until the console log matches `re`; returns the ms waited. */
async function waitConsole(vm: VmHandle, re: RegExp, timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    const text = existsSync(vm.consoleLogPath) ? readFileSync(vm.consoleLogPath, 'utf8') : '';
    if (re.test(text)) return Date.now() - t0;
    if (Date.now() - t0 > timeoutMs) {
      throw new Error(`console never matched ${re} within ${timeoutMs} ms; tail:\n${text.slice(-3000)}`);
    }
    await sleep(100);
  }
}

/** Names in runDir that must not outlive the VMM. */
function leftovers(runDir: string): string[] {
  return readdirSync(runDir).filter((n) => n.endsWith('.sock') || n.endsWith('.pid'));
}

for (const kind of ['qemu', 'cloud-hypervisor'] as const) {
  const skip = await whyNot(kind);
  if (skip) console.warn(`skipping the ${kind} VMM e2e tests: ${skip}`);

  describe.skipIf(skip !== null).sequential(`${kind} driver with a real VM`, () => {
    let dir: string;
    let spec: VmSpec;
    let netns: TestNetns | undefined;
    let vm: VmHandle | undefined;
    const handles: VmHandle[] = [];
    const timings: Record<string, number> = {};
    const track = (h: VmHandle): VmHandle => {
      handles.push(h);
      return h;
    };

    beforeAll(async () => {
      const image = await ensureTestImage();
      // Short: the VMM's sockets live under it and must fit in 107 bytes.
      dir = mkdtempSync(join(tmpdir(), 'hob-vmm-'));
      const disk = join(dir, 'root.img');
      await execa('cp', ['--reflink=auto', '--sparse=always', image.rootfs, disk]);
      await execa('truncate', ['-s', '1G', disk]);
      const runDir = join(dir, 'run');
      mkdirSync(runDir);
      // The tap lives in a namespace of its own with no uplink: nothing leaves this machine.
      netns = await createTestNetns('hobvmm');
      await execa('ip', ['-n', netns.name, 'tuntap', 'add', 'dev', 'tap0', 'mode', 'tap']);
      await execa('ip', ['-n', netns.name, 'link', 'set', 'tap0', 'up']);
      spec = {
        id: `e2e-${kind}`,
        runDir,
        kernelPath: image.kernel,
        initramfsPath: image.initramfs,
        cmdline: 'root=/dev/vda rw hob.hostname=vmm-e2e',
        disks: [{ id: 'root', path: disk }],
        cpus: 2,
        memoryMiB: MEMORY_MIB,
        net: { tap: 'tap0', mac: '02:68:6f:62:00:01', netns: netns.name },
      };
    });

    afterAll(async () => {
      for (const h of handles) await h.kill().catch(() => undefined);
      await netns?.dispose();
      if (dir) rmSync(dir, { recursive: true, force: true });
      console.log(`[vmm e2e ${kind}${kind === 'qemu' ? (kvm.usable ? ' kvm' : ' tcg') : ''}] timings ms: ${JSON.stringify(timings)}`);
    });

    it('boots: running, kernel and init output on the console', async () => {
      const driver = makeDriver(kind);
      const t0 = Date.now();
      vm = track(await driver.start(spec));
      timings.startToRunning = Date.now() - t0;
      expect(await vm.state()).toBe('running');
      expect(vm.kind).toBe(kind);
      expect(await processIdentity(vm.pid)).not.toBeNull();
      await waitConsole(vm, /Linux version/, 120_000);
      await waitConsole(vm, /hob-initramfs: /, 240_000);
      timings.startToFirstInitLine = Date.now() - t0;
      await waitConsole(vm, /hob-init: /, 240_000);
      timings.startToRootfsInit = Date.now() - t0;
    }, 300_000);

    it('refuses a second VM in the same runDir', async () => {
      await expect(makeDriver(kind).start(spec)).rejects.toBeInstanceOf(ConflictError);
      expect(await vm!.state()).toBe('running');
    });

    it('pauses and resumes', async () => {
      await vm!.pause();
      expect(await vm!.state()).toBe('paused');
      await vm!.pause(); // idempotent
      expect(await vm!.state()).toBe('paused');
      await vm!.resume();
      expect(await vm!.state()).toBe('running');
    });

    it('opens the agent stream (and the agent answers)', async () => {
      const s = (await vm!.openAgentStream()) as Socket;
      expect(s.destroyed).toBe(false);
      expect(s.writable).toBe(true);
      s.destroy();
      const t0 = Date.now();
      const client = await waitForAgent(() => vm!.openAgentStream(), { timeoutMs: 240_000 });
      timings.agentReadyAfterBoot = Date.now() - t0;
      try {
        const r = await client.run(['cat', '/proc/sys/kernel/hostname']);
        expect(r.stdout.toString().trim()).toBe('vmm-e2e');
        // The NIC on the tap is there with the MAC of the spec.
        const mac = await client.run(['sh', '-c', 'cat /sys/class/net/*/address']);
        expect(mac.stdout.toString()).toContain(spec.net!.mac);
      } finally {
        client.close();
      }
    }, 300_000);

    it('is adopted by a fresh driver after the handle is released', async () => {
      const old = vm!;
      old.release();
      await expect(old.state()).rejects.toBeInstanceOf(VmmError);
      const adopted = await makeDriver(kind).adopt(spec);
      expect(adopted).not.toBeNull();
      vm = track(adopted!);
      expect(vm.pid).toBe(old.pid);
      expect(await vm.state()).toBe('running');
      // Nothing to adopt in an empty runDir.
      const emptyRun = join(dir, 'empty-run');
      mkdirSync(emptyRun);
      expect(await makeDriver(kind).adopt({ ...spec, runDir: emptyRun })).toBeNull();
    });

    it('snapshots a paused VM, which then resumes; kill leaves no process and no sockets', async () => {
      const snap = join(dir, 'snap');
      mkdirSync(snap);
      await expect(vm!.snapshot(snap)).rejects.toBeInstanceOf(ConflictError); // running
      await vm!.pause();
      const t0 = Date.now();
      await vm!.snapshot(snap);
      timings.snapshot512MiB = Date.now() - t0;
      expect(readdirSync(snap)).toContain('vmm.json');
      expect(await vm!.state()).toBe('paused');
      // A second snapshot of the same pause works too; a non-empty dir is refused.
      await expect(vm!.snapshot(snap)).rejects.toBeInstanceOf(ConflictError);
      const snap2 = join(dir, 'snap2');
      mkdirSync(snap2);
      await vm!.pause();
      await vm!.snapshot(snap2);
      expect(readdirSync(snap2)).toContain('vmm.json');
      expect(await vm!.state()).toBe('paused');
      rmSync(snap2, { recursive: true });
      // The disk as it is at the snapshot (the sandbox manager does this with btrfs).
      await execa('cp', ['--reflink=auto', '--sparse=always', spec.disks[0]!.path, join(dir, 'root-at-snap.img')]);

      // A checkpoint resumes the source: it runs on and its disk is writable.
      await vm!.resume();
      expect(await vm!.state()).toBe('running');
      const client = await waitForAgent(() => vm!.openAgentStream(), { timeoutMs: 120_000 });
      try {
        const r = await client.run(['sh', '-c', 'echo after > /root/after-snapshot && sync']);
        expect(r.code).toBe(0);
      } finally {
        client.close();
      }

      const pid = vm!.pid;
      const exit = await vm!.kill();
      expect(exit.code === null || exit.signal === 'SIGKILL').toBe(true);
      expect(await processIdentity(pid)).toBeNull();
      expect(leftovers(spec.runDir)).toEqual([]);
    }, 300_000);

    it('refuses to restore into a VM of another shape', async () => {
      await expect(makeDriver(kind).restore({ ...spec, memoryMiB: MEMORY_MIB * 2 }, join(dir, 'snap'))).rejects.toThrow(
        /RAM/,
      );
      expect(leftovers(spec.runDir)).toEqual([]);
    });

    it('restores into a fresh process with the disk of the snapshot; the guest continues', async () => {
      const before = readFileSync(join(spec.runDir, 'console.log'), 'utf8').length;
      const restoreSpec: VmSpec = { ...spec, disks: [{ id: 'root', path: join(dir, 'root-at-snap.img') }] };
      const t0 = Date.now();
      vm = track(await makeDriver(kind).restore(restoreSpec, join(dir, 'snap')));
      timings.restore512MiB = Date.now() - t0;
      expect(await vm.state()).toBe('paused');
      await vm.resume();
      expect(await vm.state()).toBe('running');

      // The agent still answers (a restore resets the channel: reconnect) and what the guest
      // writes to the kernel log lands in the same console log, after the old content.
      const client = await waitForAgent(() => vm!.openAgentStream(), { timeoutMs: 120_000 });
      try {
        const marker = `hob-restore-marker-${Date.now()}`;
        const r = await client.run(['sh', '-c', `echo ${marker} > /dev/kmsg`]);
        expect(r.code).toBe(0);
        await waitConsole(vm, new RegExp(marker), 30_000);
        const text = readFileSync(vm.consoleLogPath, 'utf8');
        expect(text.indexOf(marker)).toBeGreaterThanOrEqual(before);
        // Memory and disk are from the snapshot moment: the later write is not there.
        const ls = await client.run(['ls', '/root/after-snapshot']);
        expect(ls.code).not.toBe(0);
      } finally {
        client.close();
      }
    }, 300_000);

    it('stops gracefully (or kills after the grace time) leaving no process and no sockets', async () => {
      const pid = vm!.pid;
      await vm!.stop({ graceMs: 5_000 });
      expect(await processIdentity(pid)).toBeNull();
      expect(leftovers(spec.runDir)).toEqual([]);
      await expect(vm!.state()).rejects.toBeInstanceOf(VmmError);
      expect(await makeDriver(kind).adopt(spec)).toBeNull();
      expect(await makeDriver(kind).killInRunDir(spec.runDir)).toBe(false);
    }, 120_000);

    it('kills a VMM nobody adopted by its run dir alone, leaving no process and no sockets', async () => {
      const started = await makeDriver(kind).start(spec);
      const pid = started.pid;
      started.release();
      expect(await processIdentity(pid)).not.toBeNull();
      expect(await makeDriver(kind).killInRunDir(spec.runDir)).toBe(true);
      expect(await processIdentity(pid)).toBeNull();
      expect(leftovers(spec.runDir)).toEqual([]);
      expect(await makeDriver(kind).killInRunDir(spec.runDir)).toBe(false);
    }, 120_000);
  });
}
