/**
 * Start-up reconcile (design section 7): after hobd died at any point, make
 * the disk, the processes and the database agree again.
 *
 * - `creating` rows: the create never finished; undo it completely.
 * - `destroying` rows: the remove never finished; finish it.
 * - `running` (and `paused`) rows: adopt the VMM process if it still runs and
 *   its agent answers; otherwise mark the sandbox stopped (restartable).
 * - Other rows: make sure no VMM process is left for them.
 * - Sandbox subvolumes, checkpoint directories and VM run directories that no
 *   row owns are removed (their VMM processes killed first).
 * - A restore that a crash interrupted is finished (its staged subvolume moved
 *   into place), and checkpoint subvolumes without a row (a checkpoint whose
 *   row was never written, temporary diff snapshots) are removed.
 * - Half-imported images are removed.
 * - Sandbox networks without a running VM are removed; adopted VMs get theirs back.
 */
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { HobConfig } from '../config.js';
import { listSandboxes, setSandboxState, type HobDb, type Sandbox as SandboxRow } from '../db/index.js';
import type { Pool } from '../storage/index.js';
import type { VmmDriver, VmSpec } from '../vmm/types.js';
import { cleanupExt4Scratch } from '../storage/ext4-diff.js';
import { CheckpointStore } from './checkpoint-store.js';
import { cleanImageStaging } from './images.js';
import { vmRunDir, vmSpecFor } from './layout.js';
import { LiveVm } from './live-vm.js';
import type { SandboxManager } from './manager.js';

export interface ReconcileDeps {
  readonly db: HobDb;
  readonly pool: Pool;
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
}

export async function reconcile(deps: ReconcileDeps): Promise<ReconcileReport> {
  const { db, pool, config, driver, manager, log } = deps;
  const report = { adopted: [] as string[], markedStopped: [] as string[], undoneCreates: [] as string[], finishedRemoves: [] as string[], orphansRemoved: [] as string[], networksRemoved: [] as string[] };
  const rows = listSandboxes(db);
  const known = new Set(rows.map((r) => r.id));
  const checkpoints = new CheckpointStore(db, pool);

  // Before anything looks at sandboxes/: a staged restore must not be taken for an orphan.
  for (const row of rows) {
    if (await checkpoints.finishRestoreSwap(row.id)) log(`hob: reconcile: finished the interrupted restore of ${row.name}`);
    for (const orphan of await checkpoints.orphans(row.id)) {
      await pool.trash(orphan);
      report.orphansRemoved.push(orphan.slice(orphan.indexOf('checkpoints/')));
    }
  }

  for (const row of rows) {
    const spec = vmSpecFor(pool, config, row);
    switch (row.state) {
      case 'creating':
      case 'destroying': {
        await killVm(driver, spec, log);
        await manager.destroy(row);
        (row.state === 'creating' ? report.undoneCreates : report.finishedRemoves).push(row.name);
        break;
      }
      case 'running':
      case 'paused': {
        const adopted = await adoptRunning(driver, spec, row, log);
        if (adopted) {
          manager.adopt(row.id, adopted);
          report.adopted.push(row.name);
        } else {
          setSandboxState(db, row.id, 'stopped', { error: 'the VM was not running when hobd started' });
          report.markedStopped.push(row.name);
        }
        break;
      }
      default:
        await killVm(driver, spec, log);
    }
  }

  for (const entry of await pool.list('sandboxes')) {
    if (known.has(entry.name)) continue;
    await killVm(driver, orphanSpec(config, entry.name), log);
    await pool.trash(entry.path);
    report.orphansRemoved.push(`sandboxes/${entry.name}`);
  }
  for (const entry of await pool.list('checkpoints')) {
    if (known.has(entry.name)) continue;
    await pool.trash(entry.path);
    report.orphansRemoved.push(`checkpoints/${entry.name}`);
  }
  const vmsDir = join(config.runDir, 'vms');
  for (const id of await readdir(vmsDir).catch(() => [] as string[])) {
    if (known.has(id)) continue;
    await killVm(driver, orphanSpec(config, id), log);
    await rm(join(vmsDir, id), { recursive: true, force: true });
    report.orphansRemoved.push(`run/vms/${id}`);
  }
  // After adopting: the networks of adopted VMs are re-attached, every other one removed.
  report.networksRemoved.push(...(await manager.reconcileNetworks()));
  await cleanImageStaging(pool);
  // Mount points a diff left when hobd died in the middle of it.
  await cleanupExt4Scratch(join(config.runDir, 'diff')).catch((err: Error) => log(`hob: reconcile: diff scratch: ${err.message}`));
  return report;
}

async function adoptRunning(driver: VmmDriver, spec: VmSpec, row: SandboxRow, log: (m: string) => void): Promise<LiveVm | null> {
  let handle;
  try {
    handle = await driver.adopt(spec);
  } catch (err) {
    log(`hob: reconcile: cannot adopt the VM of ${row.name}: ${(err as Error).message}`);
    await killVm(driver, spec, log);
    return null;
  }
  if (!handle) return null;
  const vm = LiveVm.adopted(handle);
  try {
    // A paused guest cannot answer; its VMM can. It gets its agent connection when it wakes.
    if (row.state === 'paused' && (await handle.state()) === 'paused') return vm;
    await vm.agent();
    return vm;
  } catch (err) {
    log(`hob: reconcile: the VM of ${row.name} runs but its agent does not answer (${(err as Error).message}); stopping it`);
    await vm.kill().catch(() => undefined);
    return null;
  }
}

/** Kills whatever VMM process runs in the spec's run dir, if any. */
async function killVm(driver: VmmDriver, spec: VmSpec, log: (m: string) => void): Promise<void> {
  try {
    const handle = await driver.adopt(spec);
    if (handle) await handle.kill();
  } catch (err) {
    log(`hob: reconcile: cannot kill the VM in ${spec.runDir}: ${(err as Error).message}`);
  }
}

/** Enough of a VmSpec to find (and kill) a VMM process by its run dir. */
function orphanSpec(config: HobConfig, id: string): VmSpec {
  return {
    id,
    runDir: vmRunDir(config, id),
    kernelPath: '/nonexistent',
    initramfsPath: '/nonexistent',
    cmdline: '',
    disks: [{ id: 'root', path: '/nonexistent' }],
    cpus: 1,
    memoryMiB: 64,
  };
}
