/**
 * A create served by a warm template (docs/architecture.md §17): the sandbox's volume is a
 * snapshot of the template's (disk + memory), a new VMM resumes the memory (LiveVm.resume: the
 * guest's kernel gets fresh entropy first, then the clock), then the sandbox gets its own
 * identity (hostname, machine-id, ssh host keys), its disk size (grown live) and its network
 * policy (the launcher publishes it). Whatever fails, this undoes its own traces and throws:
 * the caller then boots cold, so a bad template never makes a broken sandbox.
 */
import { rm } from 'node:fs/promises';
import type { Sandbox as SandboxRow } from '../db/index.js';
import { AgentError } from '../errors.js';
import { crashPoint } from './crash-point.js';
import { GROW_DEADLINE_MS, withDeadline } from './deadline.js';
import { applyIdentity, machineIdFor } from './identity.js';
import type { VmLauncher } from './launcher.js';
import type { LiveVm } from './live-vm.js';
import { emit } from './progress.js';
import type { SandboxContext } from './sandbox-context.js';
import type { TemplateMeta, Templates } from './templates.js';
import type { ProgressSink } from './types.js';
import { vmRunDir } from './vm-spec.js';

/** Resumes `row` (state `creating`, no volume yet) from `meta`'s template; returns its VM. @throws after undoing what it did. */
export async function resumeFromTemplate(
  ctx: SandboxContext,
  launcher: VmLauncher,
  templates: Templates,
  row: SandboxRow,
  meta: TemplateMeta,
  progress: ProgressSink,
): Promise<LiveVm> {
  const { volumes, driver, config } = ctx.deps;
  let vm: LiveVm | undefined;
  try {
    emit(progress, 'info', `Creating disk from the warm template of image ${meta.image}...`);
    await templates.copyInto(meta.image, row.id);
    crashPoint('create.disk');
    emit(progress, 'info', `Resuming the template VM (${row.cpus} vCPU, ${row.memoryMiB} MiB, ${driver.kind})...`);
    const memory = volumes.memory(row.id);
    vm = await launcher.resume(row, memory, { guestPolicyFile: meta.guestPolicyFile });
    await memory.remove();
    emit(progress, 'info', 'Giving the sandbox its own identity...');
    const agent = await vm.agent();
    await applyIdentity(agent, { hostname: row.name, machineId: machineIdFor(row.id) });
    if (row.diskBytes > meta.diskBytes) {
      emit(progress, 'info', 'Growing the disk...');
      if (!vm.handle.growDisk) throw new AgentError(`the ${driver.kind} driver cannot grow a running VM's disk`);
      await vm.handle.growDisk('root', row.diskBytes);
      await growGuestFilesystem(vm, row.diskBytes);
    }
    crashPoint('create.booted');
    return vm;
  } catch (err) {
    if (vm) {
      await vm.kill().catch(() => undefined);
      ctx.live.delete(row.id);
      await launcher.releaseNetwork(row.id);
    }
    await volumes.trashSandbox(row.id).catch((e: Error) => ctx.log(`hob: removing the volume of ${row.name}: ${e.message}`));
    await rm(vmRunDir(config, row.id), { recursive: true, force: true }).catch(() => undefined);
    throw err;
  }
}

/** Waits until the guest's kernel sees the grown disk, then grows its root filesystem (as the guest's init does at boot). */
async function growGuestFilesystem(vm: LiveVm, diskBytes: number): Promise<void> {
  const script = [
    'set -e',
    'i=0',
    'while [ "$(cat /sys/class/block/vda/size)" != "$1" ]; do',
    '  i=$((i + 1)); [ "$i" -lt 200 ] || { echo "the guest kernel did not see the new disk size" >&2; exit 1; }',
    '  sleep 0.05',
    'done',
    'resize2fs /dev/vda >/dev/null 2>&1',
    // The size the guest's init compares with at the next boot (guest-image rootfs/opt/hob/init).
    'mkdir -p /var/lib/hob && echo "$1" > /var/lib/hob/rootfs-grown',
  ].join('\n');
  const agent = await vm.agent();
  const result = await withDeadline(agent.run(['/bin/sh', '-c', script, 'hob-grow', String(diskBytes / 512)], { user: 'root' }), GROW_DEADLINE_MS, 'the guest agent (grow the filesystem)');
  if (result.code !== 0) throw new AgentError(`growing the guest's filesystem failed: ${result.stderr.toString('utf8').trim().slice(0, 500)}`);
}
