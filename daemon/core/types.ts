/**
 * The sandbox manager's public surface: what the API and the CLI see of hob's core.
 * Implemented by core/manager.ts; nothing here knows about drivers, btrfs or HTTP.
 */
import type { AgentClient } from '../agent/client.js';

/**
 * Lifecycle states (design section 7).
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
}

export interface CreateSandboxInput {
  readonly name: string;
  readonly image?: string;
  readonly cpus?: number;
  readonly memoryMiB?: number;
  readonly diskBytes?: number;
  readonly labels?: readonly string[];
  readonly environment?: Readonly<Record<string, string>>;
  readonly urlAuth?: UrlAuth;
}

export interface UpdateSandboxInput {
  readonly labels?: readonly string[];
  readonly urlAuth?: UrlAuth;
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
}
