/**
 * What the sandbox manager's parts share (docs/architecture.md §2). The
 * manager (manager.ts) owns every piece and hands this context to the parts
 * it delegates to: launching VMs (launcher.ts), creating from an image and
 * destroying (provisioning.ts), checkpoints, restore, fork and diff
 * (checkpointing.ts), sleep (sleep.ts) and the background schedules
 * (schedules.ts). They use it instead of reaching into the manager.
 */
import type { HobConfig } from '../config.js';
import { getSandbox, type HobDb, type Sandbox as SandboxRow } from '../db/index.js';
import { NotFoundError } from '../errors.js';
import type { ImageVolumes, SandboxVolumes } from '../storage/index.js';
import type { VmmDriver } from '../vmm/types.js';
import type { CheckpointStore } from './checkpoint-store.js';
import type { IdleTracker } from './idle.js';
import type { LiveVm } from './live-vm.js';
import type { KeyedLock } from './lock.js';
import type { SandboxNetworking } from './network.js';
import type { SandboxSecrets } from './secrets.js';
import type { SessionRegistry } from './sessions.js';
import type { Templates } from './templates.js';

export interface ManagerDeps {
  readonly db: HobDb;
  /** Sandbox and checkpoint volumes. */
  readonly volumes: SandboxVolumes;
  /** Image volumes (a create checks its image exists). */
  readonly images: ImageVolumes;
  readonly driver: VmmDriver;
  readonly config: HobConfig;
  /** Exec sessions: ended when their sandbox stops or goes away. */
  readonly sessions: SessionRegistry;
  /** Diagnostics; default console.error. */
  readonly log?: (message: string) => void;
  /**
   * Sandbox networking (net/). Absent: VMs get no network device (hobd without root,
   * `network.enabled: false`, tests of other parts).
   */
  readonly network?: SandboxNetworking | undefined;
  /** Secrets (docs/architecture.md §11): grants of a create, the guest's configuration at every start. Absent: none. */
  readonly secrets?: SandboxSecrets | undefined;
  /** Warm templates (templates.ts). Absent: every create boots. */
  readonly templates?: Templates | undefined;
}

export interface SandboxContext {
  readonly deps: ManagerDeps;
  readonly log: (message: string) => void;
  /**
   * One lifecycle operation at a time per sandbox id (docs/architecture.md §7).
   * Operations take it; helpers documented "lock held" expect their caller to.
   */
  readonly locks: KeyedLock;
  /** Running (and paused) sandboxes by id: whoever starts a VM adds it, whoever ends one removes it. */
  readonly live: Map<string, LiveVm>;
  /** In-flight starts by id, shared by concurrent callers (the manager's ensureRunning fills it). */
  readonly booting: ReadonlyMap<string, Promise<LiveVm>>;
  /** When each sandbox was last busy (the idle policy's clock). */
  readonly idle: IdleTracker;
  readonly checkpoints: CheckpointStore;
}

/** The row as the database has it now (a caller's copy may predate the lock). @throws NotFoundError */
export function freshRow(db: HobDb, row: SandboxRow): SandboxRow {
  const now = getSandbox(db, row.id);
  if (!now) throw new NotFoundError(`no sandbox named "${row.name}"`);
  return now;
}
