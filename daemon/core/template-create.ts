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
  let vm: LiveVm | undefined;
  try {
    vm = await resumeTemplateCopy(ctx, launcher, templates, row, meta, progress);
    await makeItsOwn(ctx, vm, row, meta, progress);
    crashPoint('create.booted');
    return vm;
  } catch (err) {
    await undoTemplateCopy(ctx, launcher, row, vm);
    throw err;
  }
}

/**
 * The first half of a warm create, which a spare (spares.ts) does ahead of any create: the
 * volume becomes a copy of the template's, and a new VMM resumes its memory (fresh entropy,
 * then the clock). The guest still has the template's identity. Lock held.
 */
export async function resumeTemplateCopy(
  ctx: SandboxContext,
  launcher: VmLauncher,
  templates: Templates,
  row: SandboxRow,
  meta: TemplateMeta,
  progress: ProgressSink,
): Promise<LiveVm> {
  emit(progress, 'info', `Creating disk from the warm template of image ${meta.image}...`);
  await templates.copyInto(meta.image, row.id);
  crashPoint('create.disk');
  emit(progress, 'info', `Resuming the template VM (${row.cpus} vCPU, ${row.memoryMiB} MiB, ${ctx.deps.driver.kind})...`);
  const memory = ctx.deps.volumes.memory(row.id);
  const vm = await launcher.resume(row, memory, { guestPolicyFile: meta.guestPolicyFile });
  try {
    await memory.remove();
  } catch (err) {
    await undoTemplateCopy(ctx, launcher, row, vm);
    throw err;
  }
  return vm;
}

/** The second half: the sandbox's own identity (hostname, machine-id, ssh host keys), and its disk size when larger than the template's. */
export async function makeItsOwn(ctx: SandboxContext, vm: LiveVm, row: SandboxRow, meta: TemplateMeta, progress: ProgressSink): Promise<void> {
  emit(progress, 'info', 'Giving the sandbox its own identity...');
  const agent = await vm.agent();
  await applyIdentity(agent, { hostname: row.name, machineId: machineIdFor(row.id) });
  if (row.diskBytes > meta.diskBytes) {
    emit(progress, 'info', 'Growing the disk...');
    if (!vm.handle.growDisk) throw new AgentError(`the ${ctx.deps.driver.kind} driver cannot grow a running VM's disk`);
    await vm.handle.growDisk('root', row.diskBytes);
    await growGuestFilesystem(vm, row.diskBytes);
  }
}

/** Removes what a warm create (or a spare) made of `row` so far: its VM, network, volume and run dir. Never throws. */
export async function undoTemplateCopy(ctx: SandboxContext, launcher: VmLauncher, row: SandboxRow, vm: LiveVm | undefined): Promise<void> {
  if (vm) {
    await vm.kill().catch(() => undefined);
    ctx.live.delete(row.id);
    await launcher.releaseNetwork(row.id);
  }
  await ctx.deps.volumes.trashSandbox(row.id).catch((e: Error) => ctx.log(`hob: removing the volume of ${row.name}: ${e.message}`));
  await rm(vmRunDir(ctx.deps.config, row.id), { recursive: true, force: true }).catch(() => undefined);
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
