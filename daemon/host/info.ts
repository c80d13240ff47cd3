/**
 * What hobd tells about its host (`GET /v1/host`, the dashboard's overview): CPU, memory
 * and pool figures read at each request (a few /proc reads and one statfs), the VMM driver
 * hobd chose at its start and why, and `hob doctor`'s local checks (cli/doctor's own
 * functions: the two cannot disagree), which start short processes (btrfs, nft, --version)
 * and so run at most once per `checksMaxAgeMs`: a request gets the last result and, when
 * that is old, starts a refresh in the background; only the very first request waits.
 */
import { availableParallelism, loadavg } from 'node:os';
import type { HobConfig } from '../config.js';
import { localChecks } from '../cli/doctor/index.js';
import { hostFiles, type HostFiles } from '../cli/doctor/host-files.js';
import { worstStatus, type Check, type CheckStatus } from '../cli/doctor/types.js';
import { hostArch } from '../vmm/arch.js';
import type { VmmChoice } from '../vmm/select.js';

/** How old the doctor's checks may get before a request starts a refresh. */
export const CHECKS_MAX_AGE_MS = 30_000;

export interface HostInfo {
  readonly cpu: { readonly count: number; readonly load: readonly number[]; readonly busyPercent: number | null };
  readonly memory: { readonly totalBytes: number; readonly availableBytes: number };
  readonly pool: { readonly sizeBytes: number; readonly freeBytes: number };
  readonly vmm: Pick<VmmChoice, 'kind' | 'kvm' | 'reason' | 'problems'>;
  readonly doctor: { readonly status: CheckStatus; readonly checkedAt: number; readonly checks: readonly Check[] };
}

export interface HostInfoService {
  info(): Promise<HostInfo>;
}

export interface HostInfoDeps {
  /** The pool's size and free bytes (Pool.space). */
  space(): Promise<{ sizeBytes: number; freeBytes: number }>;
  /** The driver hobd chose (selectDriver's answer). */
  readonly vmm: HostInfo['vmm'];
  /** Runs the checks; default: doctor's localChecks with hobd's config. */
  checks(): Promise<Check[]>;
  /** Where /proc is read (default the host's; tests give a fixture). */
  readonly files?: HostFiles;
  readonly now?: () => number;
  readonly checksMaxAgeMs?: number;
}

/** MemTotal and MemAvailable of /proc/meminfo, in bytes; undefined when either is missing. */
export function parseMeminfo(text: string): { totalBytes: number; availableBytes: number } | undefined {
  const kib = (key: string): number | undefined => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB$`, 'm').exec(text);
    return m ? Number(m[1]) * 1024 : undefined;
  };
  const total = kib('MemTotal');
  const available = kib('MemAvailable');
  return total === undefined || available === undefined ? undefined : { totalBytes: total, availableBytes: Math.min(available, total) };
}

/** The first line of /proc/stat (`cpu  user nice system idle iowait irq softirq steal ...`): busy and total ticks. */
export function parseProcStat(text: string): { busy: number; total: number } | undefined {
  const m = /^cpu\s+([\d\s]+)$/m.exec(text);
  if (!m?.[1]) return undefined;
  const f = m[1].trim().split(/\s+/).map(Number);
  if (f.length < 4 || f.some((n) => !Number.isFinite(n))) return undefined;
  // guest and guest_nice (fields 9, 10) are already counted in user and nice.
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  return { busy: total - idle, total };
}

/** Percent of all CPUs busy between two /proc/stat readings; null when the counters did not move forward. */
export function busyPercent(before: { busy: number; total: number }, after: { busy: number; total: number }): number | null {
  const total = after.total - before.total;
  const busy = after.busy - before.busy;
  if (total <= 0 || busy < 0) return null;
  return Math.round((Math.min(busy, total) / total) * 1000) / 10;
}

/** The checks hobd runs: doctor's local ones, as root with hobd's config and environment. */
export function hobdChecks(config: HobConfig): () => Promise<Check[]> {
  return () => localChecks({ config, env: process.env, isRoot: process.getuid?.() === 0, target: { kind: 'unix', socketPath: config.api.socketPath } }, hostFiles(), hostArch());
}

export class HostInfoReader implements HostInfoService {
  private readonly files: HostFiles;
  private readonly now: () => number;
  private readonly maxAge: number;
  private cpuBefore: { at: number; ticks: { busy: number; total: number } } | undefined;
  private lastBusy: number | null = null;
  private checks: HostInfo['doctor'] | undefined;
  private running: Promise<HostInfo['doctor']> | undefined;

  constructor(private readonly deps: HostInfoDeps) {
    this.files = deps.files ?? hostFiles();
    this.now = deps.now ?? Date.now;
    this.maxAge = deps.checksMaxAgeMs ?? CHECKS_MAX_AGE_MS;
    // A first reading now, so that the first request already has a figure.
    void this.files.text('/proc/stat').then((text) => {
      const ticks = parseProcStat(text ?? '');
      if (ticks && !this.cpuBefore) this.cpuBefore = { at: this.now(), ticks };
    });
  }

  async info(): Promise<HostInfo> {
    const [meminfo, stat, space, doctor] = await Promise.all([this.files.text('/proc/meminfo'), this.files.text('/proc/stat'), this.deps.space(), this.doctor()]);
    return {
      cpu: { count: availableParallelism(), load: loadavg().map((n) => Math.round(n * 100) / 100), busyPercent: this.cpuBusy(stat) },
      memory: parseMeminfo(meminfo ?? '') ?? { totalBytes: 0, availableBytes: 0 },
      pool: space,
      vmm: { kind: this.deps.vmm.kind, kvm: this.deps.vmm.kvm, reason: this.deps.vmm.reason, problems: this.deps.vmm.problems },
      doctor,
    };
  }

  /** Busy share since the previous reading at least a second old; the previous figure between. */
  private cpuBusy(text: string | undefined): number | null {
    const ticks = parseProcStat(text ?? '');
    if (!ticks) return null;
    const at = this.now();
    if (!this.cpuBefore) {
      this.cpuBefore = { at, ticks };
      return null;
    }
    if (at - this.cpuBefore.at >= 1000) {
      this.lastBusy = busyPercent(this.cpuBefore.ticks, ticks);
      this.cpuBefore = { at, ticks };
    }
    return this.lastBusy;
  }

  /** The last checks, refreshed in the background when old; the first call waits for them. */
  private doctor(): Promise<HostInfo['doctor']> {
    const fresh = this.checks !== undefined && this.now() - this.checks.checkedAt < this.maxAge;
    if (!fresh && !this.running) {
      this.running = this.deps
        .checks()
        .catch((err: unknown): Check[] => [{ name: 'doctor', status: 'warn', detail: `the checks did not run: ${err instanceof Error ? err.message : String(err)}` }])
        .then((checks) => (this.checks = { status: worstStatus(checks), checkedAt: this.now(), checks }))
        .finally(() => (this.running = undefined));
    }
    return this.checks !== undefined ? Promise.resolve(this.checks) : this.running!;
  }
}
