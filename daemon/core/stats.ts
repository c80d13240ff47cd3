/**
 * Per-VM resource stats: every `intervalMs` (5 s) hobd samples each running
 * sandbox (the VMM process's CPU time and RSS from /proc, the guest's memory
 * through its agent, the disk image's allocated bytes in the pool) into a
 * bounded history (an hour at 5 s: 720 samples), kept in memory only and
 * dropped when the sandbox is destroyed. What the dashboard's graphs and
 * `hob stats` show.
 *
 * Cheap and lock-free on purpose: one /proc read and one stat per VM, one
 * small agent read with a short deadline (skipped while the previous one is
 * still out), no process spawned, and never the sandbox lock: a sample taken
 * while the VM stops is simply missing a figure.
 */
import type { AgentClient } from '../agent/index.js';
import { getSandboxByName, listSandboxes, type DbLike } from '../db/index.js';
import { NotFoundError } from '../errors.js';
import { readGuestMemory, type GuestMemory } from './guest-memory.js';
import type { SandboxState } from './types.js';
import { readVmmUsage, type VmmUsage } from './vmm-usage.js';

export const STATS_INTERVAL_MS = 5_000;
/** An hour at 5 s. */
export const STATS_HISTORY_SAMPLES = 720;

/** One sample of one sandbox. Figures that could not be read are null. */
export interface StatsSample {
  /** Unix ms. */
  readonly at: number;
  /** VMM process CPU time since it started, seconds. */
  readonly cpuSeconds: number | null;
  /** CPU use since the previous sample, percent of one host core (200 = two cores busy). */
  readonly cpuPercent: number | null;
  /** VMM process resident memory. */
  readonly rssBytes: number | null;
  /** The guest's own memory figures (null when the agent did not answer, or lied). */
  readonly guestMemory: GuestMemory | null;
  /** Bytes the disk image occupies in the pool. */
  readonly diskUsedBytes: number | null;
}

export interface SandboxStats {
  readonly id: string;
  readonly name: string;
  readonly state: SandboxState;
  readonly cpus: number;
  readonly memoryMiB: number;
  readonly diskBytes: number;
  /** The newest sample, or null before the first. */
  readonly current: StatsSample | null;
  /** Bytes the disk image occupies in the pool, from the last tick; sampled in every state but creating and destroying. */
  readonly diskUsedBytes: number | null;
  /** Oldest first (empty unless asked for). */
  readonly history: readonly StatsSample[];
}

export interface StatsService {
  readonly intervalMs: number;
  /** One sandbox with its history. @throws NotFoundError */
  sandbox(name: string): SandboxStats;
  /** Every running sandbox (with their histories when `history`); with `all`, every sandbox. */
  running(options?: { history?: boolean; all?: boolean }): SandboxStats[];
}

/** What the sampler reads; hobd wires the manager and the pool in, tests may pass their own. */
export interface StatsSources {
  readonly db: DbLike;
  /** Live VMs (SandboxManager.liveProcesses). */
  liveProcesses(): ReadonlyArray<{ readonly id: string; readonly pid: number; readonly agent: AgentClient | undefined }>;
  /** Allocated bytes of a sandbox's disk image (SandboxVolumes.diskAllocatedBytes). */
  diskUsedBytes(sandboxId: string): Promise<number | null>;
}

export interface StatsOptions {
  readonly intervalMs?: number;
  readonly historySamples?: number;
}

export class StatsSampler implements StatsService {
  readonly intervalMs: number;
  private readonly historySamples: number;
  private readonly histories = new Map<string, StatsSample[]>();
  /** Sandboxes whose agent read is still out (a slow guest is not asked again meanwhile). */
  private readonly guestBusy = new Set<string>();
  private readonly lastGuestMemory = new Map<string, GuestMemory | null>();
  /** Disk used of every sandbox that has a disk (not only the running ones: the list shows it). */
  private readonly diskUsed = new Map<string, number | null>();
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;

  constructor(private readonly sources: StatsSources, options: StatsOptions = {}) {
    this.intervalMs = options.intervalMs ?? STATS_INTERVAL_MS;
    this.historySamples = options.historySamples ?? STATS_HISTORY_SAMPLES;
  }

  start(): void {
    if (this.timer) return;
    void this.tick();
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  sandbox(name: string): SandboxStats {
    const row = getSandboxByName(this.sources.db, name);
    if (!row) throw new NotFoundError(`no sandbox named "${name}"`);
    return this.statsOf(row, true);
  }

  running(options: { history?: boolean; all?: boolean } = {}): SandboxStats[] {
    return listSandboxes(this.sources.db)
      .filter((r) => options.all === true || r.state === 'running')
      .map((r) => this.statsOf(r, options.history ?? false));
  }

  /** Takes one sample of every running sandbox and forgets destroyed ones. Exposed for tests. */
  async tick(): Promise<void> {
    if (this.ticking) return; // a tick slower than the interval (a loaded box): skip, never pile up
    this.ticking = true;
    try {
      const rows = listSandboxes(this.sources.db);
      const known = new Set(rows.map((r) => r.id));
      for (const map of [this.histories, this.lastGuestMemory, this.diskUsed]) {
        for (const id of map.keys()) if (!known.has(id)) map.delete(id);
      }
      const live = new Map(this.sources.liveProcesses().map((p) => [p.id, p]));
      await Promise.all(
        rows
          .filter((r) => r.state === 'running')
          .map(async (row) => {
            const proc = live.get(row.id);
            if (!proc) return;
            if (proc.agent) this.readGuest(row.id, proc.agent, row.memoryMiB * 1024 * 1024);
            const [usage, disk] = await Promise.all([readVmmUsage(proc.pid), this.sources.diskUsedBytes(row.id)]);
            this.diskUsed.set(row.id, disk);
            this.record(row.id, usage, disk);
          }),
      );
      // The others: one stat each (a stopped disk changes only through a restore or fork, but a stat costs less than knowing when).
      await Promise.all(
        rows
          .filter((r) => r.state !== 'running' && r.state !== 'creating' && r.state !== 'destroying')
          .map(async (row) => this.diskUsed.set(row.id, await this.sources.diskUsedBytes(row.id).catch(() => null))),
      );
    } finally {
      this.ticking = false;
    }
  }

  /** Starts a guest memory read; its answer goes into the next sample (a tick never waits for a guest). */
  private readGuest(id: string, agent: AgentClient, vmBytes: number): void {
    if (this.guestBusy.has(id)) return;
    this.guestBusy.add(id);
    void readGuestMemory(agent, vmBytes)
      .then((memory) => this.lastGuestMemory.set(id, memory))
      .finally(() => this.guestBusy.delete(id));
  }

  private record(id: string, usage: VmmUsage | null, diskUsedBytes: number | null): void {
    const history = this.histories.get(id) ?? [];
    const previous = history.at(-1);
    const at = Date.now();
    let cpuPercent: number | null = null;
    // Not across a gap (the VM was stopped or asleep) nor a restart (the counter went back).
    const recent = previous !== undefined && at > previous.at && at - previous.at <= 3 * this.intervalMs;
    if (usage && recent && previous.cpuSeconds !== null && usage.cpuSeconds >= previous.cpuSeconds) {
      cpuPercent = Math.round(((usage.cpuSeconds - previous.cpuSeconds) / ((at - previous.at) / 1000)) * 1000) / 10;
    }
    history.push({
      at,
      cpuSeconds: usage?.cpuSeconds ?? null,
      cpuPercent,
      rssBytes: usage?.rssBytes ?? null,
      guestMemory: this.lastGuestMemory.get(id) ?? null,
      diskUsedBytes,
    });
    if (history.length > this.historySamples) history.splice(0, history.length - this.historySamples);
    this.histories.set(id, history);
  }

  private statsOf(row: { id: string; name: string; state: SandboxState; cpus: number; memoryMiB: number; diskBytes: number }, withHistory: boolean): SandboxStats {
    const history = this.histories.get(row.id) ?? [];
    return {
      id: row.id,
      name: row.name,
      state: row.state,
      cpus: row.cpus,
      memoryMiB: row.memoryMiB,
      diskBytes: row.diskBytes,
      current: row.state === 'running' ? (history.at(-1) ?? null) : null,
      diskUsedBytes: this.diskUsed.get(row.id) ?? null,
      history: withHistory ? [...history] : [],
    };
  }
}
