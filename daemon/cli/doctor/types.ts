/**
 * What `hob doctor` reports: one `Check` per fact about this host that hob
 * depends on. Checks never throw; a probe that cannot run becomes a `warn` or
 * `fail` check saying why.
 */
import type { HobConfig } from '../../config.js';
import type { Target } from '../client.js';

/**
 * - `ok`: works as hob needs it.
 * - `warn`: hob works, but slower or with less (no KVM, no cloud-hypervisor,
 *   no image yet, a check that needs root run as a user).
 * - `fail`: hob cannot work until this is fixed (`hob doctor` exits 1).
 */
export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface Check {
  /** Short stable identifier, e.g. `kvm`, `pool`, `daemon` (the JSON key tools match on). */
  readonly name: string;
  readonly status: CheckStatus;
  /** One or two sentences: what was found. */
  readonly detail: string;
  /** What to do about it; present for `warn` and `fail` when there is something to do. */
  readonly fix?: string;
}

/** The whole report, as `hob doctor --json` prints it. */
export interface DoctorReport {
  /** The worst status among the checks. */
  readonly status: CheckStatus;
  readonly checks: readonly Check[];
}

/** What every check group gets. */
export interface DoctorContext {
  /** hobd's configuration, or undefined when it cannot be loaded (the `config` check says why). */
  readonly config: HobConfig | undefined;
  /** Environment of the doctor (HOB_VMM, HOB_CH_BINARY, PATH are read from it). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Whether the doctor runs as root: some probes (nft, losetup, the pool) need it. */
  readonly isRoot: boolean;
  /** Where hobd is expected to answer. */
  readonly target: Target;
}

const RANK: Record<CheckStatus, number> = { ok: 0, warn: 1, fail: 2 };

/** The worst status of `checks` (`ok` for none). */
export function worstStatus(checks: readonly Check[]): CheckStatus {
  let worst: CheckStatus = 'ok';
  for (const c of checks) if (RANK[c.status] > RANK[worst]) worst = c.status;
  return worst;
}

/** A check; `fix` is left out when undefined so the JSON has no `"fix": null`. */
export function check(name: string, status: CheckStatus, detail: string, fix?: string): Check {
  return fix === undefined ? { name, status, detail } : { name, status, detail, fix };
}
