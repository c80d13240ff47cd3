/**
 * Start-up reconcile (docs/architecture.md §7): after hobd died at any point, make
 * the disk, the processes and the database agree again.
 *
 * - `creating` rows: the create never finished; undo it completely. So are spare rows.
 * - `destroying` rows: the remove never finished; finish it.
 * - `running` (and `paused`) rows: decided by decideLiveRow. A paused VMM is
 *   adopted paused whatever the row said (its memory exists nowhere else: a
 *   live checkpoint, a quiesce fallback or a pause hobd died in); a running one
 *   is adopted if its agent answers (and thawed: hobd may have died with the
 *   guest frozen), killed otherwise; a gone one leaves the sandbox stopped, or
 *   hibernated when its row said paused and a complete memory image is there.
 * - A memory image in a sandbox subvolume only counts for a hibernated row;
 *   any other is a leftover (a live checkpoint or a hibernate hobd died in) and
 *   is removed.
 * - Other rows: make sure no VMM process is left for them.
 * - Sandbox subvolumes, checkpoint directories and VM run directories that no
 *   row owns are removed (their VMM processes killed first).
 * - A restore that a crash interrupted is finished from its staged subvolume,
 *   and checkpoint subvolumes without a row (a checkpoint whose
 *   row was never written, temporary diff snapshots) are removed.
 * - Half-imported images are removed.
 * - Sandbox networks without a running VM are removed; adopted VMs get theirs back.
 */
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { HobConfig } from '../config.js';
import { listSandboxes, setSandboxState, type HobDb, type Sandbox as SandboxRow, type SandboxState } from '../db/index.js';
import type { ImageVolumes, SandboxVolumes } from '../storage/index.js';
import { isSnapshotComplete } from '../vmm/snapshot-meta.js';
import type { VmHandle, VmmDriver, VmRunState, VmSpec } from '../vmm/types.js';
import { cleanupExt4Scratch } from '../storage/ext4-diff.js';
import { CheckpointStore } from './checkpoint-store.js';
import { withDeadline } from './deadline.js';
import { vmRunDir, vmSpecFor } from './vm-spec.js';
import { LiveVm } from './live-vm.js';
import type { SandboxManager } from './manager.js';
import { THAW_DEADLINE_MS } from './quiesce.js';

export interface ReconcileDeps {
  readonly db: HobDb;
  readonly volumes: SandboxVolumes;
  readonly images: ImageVolumes;
  readonly driver: VmmDriver;
  readonly config: HobConfig;
  readonly manager: SandboxManager;
  readonly log: (message: string) => void;
}

export interface ReconcileReport {
  readonly adopted: string[];
  readonly markedStopped: string[];
  readonly undoneCreates: string[];
  readonly finishedRemoves: string[];
  readonly orphansRemoved: string[];
  /** Ids whose network namespace (veth, resolver) was left without a running VM. */
  readonly networksRemoved: string[];
  /** Spare sandboxes an earlier hobd left. */
  readonly sparesRemoved: string[];
}

export async function reconcile(deps: ReconcileDeps): Promise<ReconcileReport> {
  const { db, volumes, config, driver, manager, log } = deps;
  const report = { adopted: [] as string[], markedStopped: [] as string[], undoneCreates: [] as string[], finishedRemoves: [] as string[], orphansRemoved: [] as string[], networksRemoved: [] as string[], sparesRemoved: [] as string[] };
  const rows = listSandboxes(db, { rows: 'all' });
  const known = new Set(rows.map((r) => r.id));
  const checkpoints = new CheckpointStore(db, volumes);

  // Before anything looks at sandboxes/: a staged restore must not be taken for an orphan.
  for (const row of rows) {
    const restored = await checkpoints.finishRestore(row.id);
    if (restored) log(`hob: reconcile: finished the interrupted restore of ${row.name} (${restored.inPlace ? 'in place' : `volume swapped: ${restored.reason}`})`);
    for (const orphan of await checkpoints.orphans(row.id)) {
      await volumes.trashStray(orphan);
      report.orphansRemoved.push(orphan.label);
    }
  }

  /** Each row's state once the loop below is done (rows that are gone are absent). */
  const finalState = new Map<string, SandboxState>();
  for (const row of rows) {
    const spec = vmSpecFor(volumes, config, row);
    if (row.spare) {
      // An earlier hobd's spare (docs/architecture.md §31), maybe of another template: hobd makes its own.
      await killVm(driver, spec.runDir, log);
      await manager.destroy(row);
      report.sparesRemoved.push(row.name);
      continue;
    }
    switch (row.state) {
      case 'creating':
      case 'destroying': {
        await killVm(driver, spec.runDir, log);
        await manager.destroy(row);
        (row.state === 'creating' ? report.undoneCreates : report.finishedRemoves).push(row.name);
        break;
      }
      case 'running':
      case 'paused': {
        const outcome = await adoptLive(deps, vmSpecFor(volumes, config, row, manager.adoptedNet(row.id)), row);
        if (outcome.vm) {
          manager.adopt(row.id, outcome.vm);
          report.adopted.push(row.name);
        } else if (outcome.state === 'stopped') {
          report.markedStopped.push(row.name);
        }
        if (outcome.state !== row.state) {
          setSandboxState(db, row.id, outcome.state, { error: outcome.error ?? null });
          if (outcome.vm || outcome.state === 'hibernated') log(`hob: reconcile: ${row.name} was ${row.state}, its VM is ${outcome.state}`);
        }
        finalState.set(row.id, outcome.state);
        break;
      }
      default:
        await killVm(driver, spec.runDir, log);
        finalState.set(row.id, row.state);
    }
  }
  for (const [id, state] of finalState) {
    if (state === 'hibernated') continue;
    const memory = volumes.memory(id);
    if (await memory.exists()) {
      await memory.remove().catch((err: Error) => log(`hob: reconcile: removing a leftover memory image of ${id}: ${err.message}`));
      report.orphansRemoved.push(memory.label);
    }
  }

  for (const stray of await volumes.straySandboxVolumes(known)) {
    await killVm(driver, vmRunDir(config, stray.name), log);
    await volumes.trashStray(stray);
    report.orphansRemoved.push(stray.label);
  }
  for (const stray of await volumes.strayCheckpointDirs(known)) {
    await volumes.trashStray(stray);
    report.orphansRemoved.push(stray.label);
  }
  const vmsDir = join(config.runDir, 'vms');
  for (const id of await readdir(vmsDir).catch(() => [] as string[])) {
    if (known.has(id)) continue;
    await killVm(driver, vmRunDir(config, id), log);
    await rm(join(vmsDir, id), { recursive: true, force: true });
    report.orphansRemoved.push(`run/vms/${id}`);
  }
  // After adopting: the networks of adopted VMs are re-attached, every other one removed.
  report.networksRemoved.push(...(await manager.reconcileNetworks()));
  await deps.images.cleanStaging();
  // Mount points a diff left when hobd died in the middle of it.
  await cleanupExt4Scratch(join(config.runDir, 'diff')).catch((err: Error) => log(`hob: reconcile: diff scratch: ${err.message}`));
  return report;
}

/** What start-up found of a `running` or `paused` row's VMM: its run state, or gone (no process). */
export type VmmFound = VmRunState | 'gone';

export type LiveRowDecision =
  /** Adopt the VMM as it is; a running one only if its agent answers. */
  | { readonly action: 'adopt'; readonly state: 'running' | 'paused' }
  /** Kill whatever is left of the VMM; the sandbox is stopped (its disk is all there is). */
  | { readonly action: 'stop' }
  /** Kill whatever is left of the VMM; its memory image is complete, so the sandbox is hibernated. */
  | { readonly action: 'hibernate' };

/**
 * The start-up decision for a row that says `running` or `paused`. A paused
 * VMM is never killed: the guest's memory may exist nowhere else (hobd died in
 * a live checkpoint, a quiesce fallback or a pause). A row that says paused, with
 * no VMM but a complete memory image, is a hibernate that died between killing
 * the VMM and writing the row (hobd now writes the row first, but a VMM can also
 * die on its own then).
 */
export function decideLiveRow(row: 'running' | 'paused', vmm: VmmFound, memoryImageComplete: boolean): LiveRowDecision {
  if (vmm === 'paused') return { action: 'adopt', state: 'paused' };
  if (vmm === 'running') return { action: 'adopt', state: 'running' };
  return row === 'paused' && memoryImageComplete ? { action: 'hibernate' } : { action: 'stop' };
}

interface LiveRowOutcome {
  readonly vm?: LiveVm;
  readonly state: 'running' | 'paused' | 'stopped' | 'hibernated';
  readonly error?: string;
}

async function adoptLive(deps: ReconcileDeps, spec: VmSpec, row: SandboxRow): Promise<LiveRowOutcome> {
  const { driver, volumes, log } = deps;
  let handle: VmHandle | null;
  try {
    handle = await driver.adopt(spec);
  } catch (err) {
    log(`hob: reconcile: cannot adopt the VM of ${row.name}: ${(err as Error).message}`);
    await killVm(driver, spec.runDir, log);
    handle = null;
  }
  let vmm: VmmFound = 'gone';
  if (handle) {
    try {
      vmm = await handle.state();
    } catch (err) {
      log(`hob: reconcile: the VMM of ${row.name} does not say what state it is in (${(err as Error).message}); stopping it`);
    }
  }
  const memoryComplete = await isSnapshotComplete(volumes.memory(row.id).dir);
  const decision = decideLiveRow(row.state === 'paused' ? 'paused' : 'running', vmm, memoryComplete);
  if (decision.action !== 'adopt' || !handle) {
    await handle?.kill();
    if (decision.action === 'hibernate') return { state: 'hibernated' };
    return { state: 'stopped', error: 'the VM was not running when hobd started' };
  }
  const vm = LiveVm.adopted(handle);
  // A paused guest cannot answer; its VMM can. It gets its agent connection when it wakes.
  if (decision.state === 'paused') return { vm, state: 'paused' };
  try {
    const agent = await vm.agent();
    // hobd may have died between a freeze and its thaw; thawing a filesystem that is not frozen does nothing.
    await withDeadline(agent.thaw(), THAW_DEADLINE_MS, 'the guest agent (thaw)')
      .catch((err: Error) => log(`hob: reconcile: thawing the guest of ${row.name}: ${err.message}`));
    return { vm, state: 'running' };
  } catch (err) {
    log(`hob: reconcile: the VM of ${row.name} runs but its agent does not answer (${(err as Error).message}); stopping it`);
    await vm.kill().catch(() => undefined);
    return { state: 'stopped', error: 'the VM was not running when hobd started' };
  }
}

/** Kills whatever VMM process runs in `runDir`, if any. */
async function killVm(driver: VmmDriver, runDir: string, log: (m: string) => void): Promise<void> {
  try {
    await driver.killInRunDir(runDir);
  } catch (err) {
    log(`hob: reconcile: cannot kill the VM in ${runDir}: ${(err as Error).message}`);
  }
}
