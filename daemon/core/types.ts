/**
 * The sandbox manager's public surface: what the API and the CLI see of hob's core.
 * Implemented by core/manager.ts; nothing here knows about drivers, btrfs or HTTP.
 */
import type { AgentClient } from '../agent/client.js';
import type { NetworkPolicy } from '../net/policy.js';
import type { DiffResult } from '../storage/ext4/types.js';
import type { SandboxHealth } from './health.js';
import type { ResizeInput } from './resources.js';
import type { BootTimelineObject } from '../wire/boot-timeline.js';

/**
 * Lifecycle states (docs/architecture.md §7).
 * - creating: subvolume being made and first boot under way
 * - running: VMM running, agent reachable
 * - paused: VMM paused, memory resident (later issue)
 * - hibernated: memory snapshot on disk, no VMM process (later issue)
 * - stopped: no VMM process, no memory state; boots on the next use
 * - error: the last operation failed or the VMM died; `lastError` says why; start/rm work
 * - destroying: being removed
 */
export type SandboxState = 'creating' | 'running' | 'paused' | 'hibernated' | 'stopped' | 'error' | 'destroying';

/** URL access mode; Sprites calls these "sprite" (private) and "public". */
export type UrlAuth = 'private' | 'public';

export interface Sandbox {
  /** Stable random id; names the subvolume and run directory. */
  readonly id: string;
  /** DNS label, unique: 1 to 63 of a-z, 0-9 and '-', not starting or ending with '-'. */
  readonly name: string;
  readonly state: SandboxState;
  /** ISO 8601 time of the last state change. */
  readonly stateSince: string;
  /** Image the sandbox was created from. */
  readonly image: string;
  readonly cpus: number;
  readonly memoryMiB: number;
  /** Apparent size of the sandbox's disk in bytes. */
  readonly diskBytes: number;
  readonly vmm: string;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly lastError: string | null;
  readonly urlAuth: UrlAuth;
  readonly labels: readonly string[];
  readonly environment: Readonly<Record<string, string>>;
  /** Automatic checkpoints while running; null when off. */
  readonly autoCheckpoint: AutoCheckpointPolicy | null;
  /** Per-sandbox idle settings (seconds, 0 = never); an absent key follows hobd's config. */
  readonly idle: { readonly pauseAfterSeconds?: number; readonly hibernateAfterSeconds?: number };
  /** ISO 8601 end of a keep-awake hold, or null. */
  readonly keepAwakeUntil: string | null;
  /** Where a fork came from; null for a sandbox created from an image. */
  readonly forkedFrom: { readonly sandbox: string; readonly checkpoint: string | null } | null;
  /** Its last cold boot's timeline (docs/architecture.md §24); only `get` fills it in. */
  readonly lastBoot?: BootTimelineObject;
}

/** Automatic checkpoints (hob extension): one every `intervalMinutes` while the sandbox runs. */
export interface AutoCheckpointPolicy {
  /** 1 to 10080 (a week). */
  readonly intervalMinutes: number;
  /** Automatic checkpoints kept (the oldest are deleted beyond it), 1 to 100. */
  readonly keep: number;
}

export interface CreateSandboxInput {
  readonly name: string;
  /** Image to create from. Mutually exclusive with `from`. */
  readonly image?: string;
  /**
   * Start from a checkpoint of another sandbox instead of an image (hob extension;
   * `hob create NEW --from SRC:vN`). The new sandbox gets its own identity.
   */
  readonly from?: { readonly sandbox: string; readonly checkpoint: string };
  readonly cpus?: number;
  readonly memoryMiB?: number;
  readonly diskBytes?: number;
  readonly labels?: readonly string[];
  readonly environment?: Readonly<Record<string, string>>;
  readonly urlAuth?: UrlAuth;
  /** Secrets to grant (docs/architecture.md §11); a fork inherits none but these. */
  readonly secrets?: ReadonlyArray<{ readonly secret: string; readonly env?: string | undefined }>;
  /** Boot even when a warm template of the image could serve the create (hob extension; `hob create --cold`). */
  readonly cold?: boolean;
}

/** A checkpoint as the API and CLI see it. */
export interface CheckpointInfo {
  /** User-facing id, "v1", "v2", ...; never reused within a sandbox. */
  readonly id: string;
  /** Internal random id (names the subvolume). */
  readonly uid: string;
  /** Name of the sandbox it belongs to. */
  readonly sandbox: string;
  readonly comment: string;
  /** 'disk': filesystem only; 'live': filesystem and memory (restore resumes the processes). */
  readonly kind: 'disk' | 'live';
  /** Taken by hob itself (before a restore, or on the sandbox's automatic schedule). */
  readonly auto: boolean;
  /** ISO 8601. */
  readonly createdAt: string;
  /**
   * Bytes held only by this checkpoint (what deleting it would free), when measured;
   * null when not measured yet.
   */
  readonly sizeBytes: number | null;
}

export interface CheckpointInput {
  /** Free text, at most 1024 characters. */
  readonly comment?: string;
  /** Also save the VM's memory (a live checkpoint). Needs a running sandbox. */
  readonly memory?: boolean;
}

export interface ForkInput {
  /** Name of the new sandbox. */
  readonly name: string;
  /** Checkpoint of the source to fork from ("vN"); default: the source's current state. */
  readonly from?: string;
}

/** One changed path between two states of a sandbox's disk. */
/** One changed path of a diff; owned by the ext4 reader (storage/ext4/types.ts). */
export type { DiffEntry, DiffResult } from '../storage/ext4/types.js';

export interface DiffInput {
  /** Older state: a checkpoint ("vN"). */
  readonly from: string;
  /** Newer state: a checkpoint ("vM"); default the sandbox's current disk. */
  readonly to?: string;
  /** Only report paths at or under this absolute guest path. */
  readonly path?: string;
}

export interface UpdateSandboxInput {
  readonly labels?: readonly string[];
  readonly urlAuth?: UrlAuth;
  /** Sets (or with null turns off) automatic checkpoints. */
  readonly autoCheckpoint?: AutoCheckpointPolicy | null;
  /** Per-sandbox idle settings; null goes back to hobd's defaults. */
  readonly idle?: { readonly pauseAfterSeconds?: number; readonly hibernateAfterSeconds?: number } | null;
}

/** One line of progress for long operations, in the Sprites NDJSON shape. */
export interface ProgressEvent {
  readonly type: 'info' | 'error' | 'complete';
  /** Human text ("Booting VM..."); for `error` the error message. */
  readonly data: string;
  /** ISO 8601. */
  readonly time: string;
}
export type ProgressSink = (event: ProgressEvent) => void;

export interface SandboxService {
  list(): Sandbox[];
  /** Throws NotFoundError. */
  get(name: string): Sandbox;
  /** Throws BadRequestError (bad name/size), ConflictError (name taken), PoolFullError. */
  create(input: CreateSandboxInput, progress?: ProgressSink): Promise<Sandbox>;
  update(name: string, patch: UpdateSandboxInput): Promise<Sandbox>;
  /** Boots a stopped (or errored) sandbox. Running: no-op. */
  start(name: string, progress?: ProgressSink): Promise<Sandbox>;
  /** Shuts the guest down. Stopped: no-op. */
  stop(name: string): Promise<Sandbox>;
  /** Stops and deletes the sandbox with its checkpoints. */
  remove(name: string): Promise<void>;
  /**
   * The connected agent of a sandbox, starting (waking) it first if needed.
   * This is how exec, fs and tunnels reach the guest.
   */
  agent(name: string): Promise<AgentClient>;

  // ------------------------------------------------------------ health, restart, size (docs/architecture.md §20)

  /** Whether the sandbox answers, without waking or booting it (health.ts). Throws NotFoundError. */
  check(name: string): Promise<SandboxHealth>;
  /** Stops the sandbox (if it runs) and boots it again: a fresh boot, memory state dropped. */
  restart(name: string, progress?: ProgressSink): Promise<Sandbox>;
  /**
   * Changes vCPUs and memory ('defaults': hobd's default size) of a sandbox that has no VM
   * (resources.ts). Throws BadRequestError, ConflictError (a VM exists), NotSupportedError (disk).
   */
  resize(name: string, input: ResizeInput | 'defaults'): Promise<Sandbox>;

  // ------------------------------------------------------------ sleep (docs/architecture.md §7)

  /**
   * Puts a sandbox to sleep now: paused (VMM paused, memory resident), or with
   * `hibernate` hibernated (memory saved to the sandbox subvolume, VMM gone).
   * Throws ConflictError when it is neither running nor paused, or busy.
   */
  sleep(name: string, opts?: { hibernate?: boolean }): Promise<Sandbox>;
  /** Wakes (or boots) a sandbox; a no-op when running. */
  wake(name: string, progress?: ProgressSink): Promise<Sandbox>;
  /** Keeps a sandbox awake for `seconds` from now (waking it), or with null ends the hold. */
  keepAwake(name: string, seconds: number | null): Promise<Sandbox>;

  // ------------------------------------------------------------ network policy (docs/architecture.md §6)

  /** The sandbox's egress policy (`{rules: []}` = unrestricted). Throws NotFoundError. */
  networkPolicy(name: string): NetworkPolicy;
  /**
   * Replaces the egress policy: stored, applied live to a running or paused sandbox (DNS
   * answers and the allow set), and written to the guest's read-only copy. Returns it.
   * Throws NotFoundError, BadRequestError (invalid policy: nothing changes).
   */
  setNetworkPolicy(name: string, policy: unknown): Promise<NetworkPolicy>;

  // ------------------------------------------------------------ checkpoints (docs/architecture.md §3 and §7)

  /**
   * Takes a checkpoint: disk only (the guest filesystem is synced and frozen around the
   * btrfs snapshot; a stopped sandbox needs no freeze), or with `memory` also the VM's memory.
   * Throws NotFoundError, ConflictError (another operation runs; `memory` on a sandbox that is
   * not running), PoolFullError (the sandbox is left as it was).
   */
  checkpoint(name: string, input: CheckpointInput, progress?: ProgressSink): Promise<CheckpointInfo>;
  /** Checkpoints by seq, oldest first; auto ones only with includeAuto. Sizes are measured. */
  listCheckpoints(name: string, opts?: { includeAuto?: boolean }): Promise<CheckpointInfo[]>;
  /** Throws NotFoundError for an unknown sandbox or checkpoint ("vN" or the uid). */
  getCheckpoint(name: string, ref: string): Promise<CheckpointInfo>;
  /** Throws NotFoundError, ConflictError (another operation runs). */
  deleteCheckpoint(name: string, ref: string): Promise<void>;
  /**
   * Brings back the disk (and, for a live checkpoint, the memory) of a checkpoint. The state
   * before it is kept as an automatic checkpoint first, so a restore can be undone. Works on a
   * wrecked guest: it never needs the agent. Attached sessions end. Leaves the sandbox running.
   * Throws NotFoundError, ConflictError, PoolFullError.
   */
  restore(name: string, ref: string, progress?: ProgressSink): Promise<Sandbox>;
  /**
   * A new sandbox from the source's current state or one of its checkpoints, sharing every
   * extent. It gets a new identity (id, hostname, machine-id, MAC). Leaves it running.
   * Throws NotFoundError, BadRequestError (name), ConflictError (name taken), PoolFullError.
   */
  fork(source: string, input: ForkInput, progress?: ProgressSink): Promise<Sandbox>;
  /** Paths added, modified and deleted between two states of the disk, sorted by path. */
  diff(name: string, input: DiffInput): Promise<DiffResult>;
  /**
   * Unified text diff of one file between two states ("" when equal). Throws BadRequestError
   * for a binary file or one larger than 8 MiB, NotFoundError when it exists in neither state.
   */
  fileDiff(name: string, input: DiffInput & { readonly path: string }): Promise<string>;
}
