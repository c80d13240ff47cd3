/**
 * Builds a cold boot's timeline (docs/architecture.md §24) from hobd's own clock and the
 * guest's report. The guest's report is hostile input: it is parsed with the protocol's
 * schema, unknown steps are ignored, each step counts once, and a step is kept only if it
 * falls between the previous one and the agent's answer on hobd's clock; an answer that
 * cannot be placed at all leaves only hobd's own steps.
 */
import { appendEvent, listEvents, type DbLike } from '../db/index.js';
import { BootTimelineResultSchema } from '../protocol/index.js';
import { BOOT_PHASES, BootTimelineObject, type BootPhaseName } from '../wire/boot-timeline.js';
import { BOOT_TIMELINE_DEADLINE_MS, withDeadline } from './deadline.js';
import type { LiveVm } from './live-vm.js';

/** hobd's clock (epoch ms) around a boot. */
export interface BootClock {
  /** Just before the VMM process was started. */
  readonly vmmStartMs: number;
  /** When the agent's handshake completed. */
  readonly agentReadyMs: number;
  /** The boot.timeline request was sent, and its answer arrived. */
  readonly askedMs: number;
  readonly answeredMs: number;
}

/**
 * Least error allowed in placing the guest's clock on hobd's. The real error is at most the
 * boot.timeline call's round trip (the guest read its uptime somewhere inside it), which is
 * large on a loaded host: a step that lands that much past the agent's answer is put at the
 * answer, one beyond is dropped.
 */
const MIN_SLACK_MS = 50;

/** The guest part: 'unsupported' when the agent has no boot.timeline, else its answer (any value). */
export function buildBootTimeline(vmm: string, clock: BootClock, guest: unknown): BootTimelineObject {
  const total = Math.max(0, Math.round(clock.agentReadyMs - clock.vmmStartMs));
  const base = { started_at: new Date(clock.vmmStartMs).toISOString(), vmm, total_ms: total };
  const hostOnly = (why: string): BootTimelineObject => ({ ...base, guest: why, phases: [{ name: 'vmm-start', ms: 0 }, { name: 'agent-ready', ms: total }] });
  if (guest === 'unsupported') return hostOnly('unsupported');
  const parsed = BootTimelineResultSchema.safeParse(guest);
  if (!parsed.success) return hostOnly('unusable');
  const { uptimeMs, phases } = parsed.data;
  // The guest kernel's clock started `uptimeMs` before the answer (taken as half-way through the call).
  const kernel = (clock.askedMs + clock.answeredMs) / 2 - uptimeMs - clock.vmmStartMs;
  const slack = Math.max(MIN_SLACK_MS, clock.answeredMs - clock.askedMs);
  if (!Number.isFinite(kernel) || uptimeMs < 0 || kernel < -slack || kernel > total) return hostOnly('unusable');

  const at = new Map<string, number>([['kernel', Math.max(0, kernel)]]);
  for (const p of phases) {
    if (at.has(p.name) || !(BOOT_PHASES as readonly string[]).includes(p.name)) continue;
    if (!Number.isFinite(p.atMs) || p.atMs < 0 || p.atMs > uptimeMs) continue;
    at.set(p.name, Math.max(0, kernel) + p.atMs);
  }
  const out: Array<{ name: BootPhaseName; ms: number }> = [{ name: 'vmm-start', ms: 0 }];
  const dropped: string[] = [];
  // Compared unrounded: two steps in the same millisecond must not drop the second.
  let last = 0;
  for (const name of BOOT_PHASES) {
    if (name === 'vmm-start' || name === 'agent-ready') continue;
    const v = at.get(name);
    if (v === undefined) continue;
    if (v < last || v > total + slack) {
      dropped.push(name);
      continue;
    }
    last = v;
    out.push({ name, ms: Math.min(Math.round(v), total) });
  }
  out.push({ name: 'agent-ready', ms: total });
  return { ...base, guest: 'reported', phases: out, ...(dropped.length > 0 ? { dropped } : {}) };
}

/**
 * Asks a just-booted VM's agent for its steps and records the timeline as a `boot-timeline`
 * event. Off the boot's critical path (the caller does not wait), bounded in time; a failure
 * is logged and records hobd's own steps.
 */
export async function recordBootTimeline(db: DbLike, vmm: string, sandboxId: string, vm: LiveVm, log: (line: string) => void): Promise<void> {
  const booted = vm.booted;
  if (!booted) return;
  const askedMs = Date.now();
  let guest: unknown = 'unsupported';
  try {
    const agent = await vm.agent();
    if (agent.supports('boot.timeline')) guest = await withDeadline(agent.bootTimeline(), BOOT_TIMELINE_DEADLINE_MS, 'the guest agent (boot.timeline)');
  } catch (err) {
    log(`hob: the boot timeline of ${sandboxId}: ${(err as Error).message}`);
    guest = undefined;
  }
  const timeline = buildBootTimeline(vmm, { ...booted, askedMs, answeredMs: Date.now() }, guest);
  try {
    appendEvent(db, { sandboxId, type: 'boot-timeline', data: timeline });
  } catch (err) {
    log(`hob: recording the boot timeline of ${sandboxId}: ${(err as Error).message}`);
  }
}

/** The newest recorded boot timeline of a sandbox, if any (an unreadable one counts as none). */
export function lastBootTimeline(db: DbLike, sandboxId: string): BootTimelineObject | undefined {
  const [event] = listEvents(db, { sandboxId, types: ['boot-timeline'], order: 'desc', limit: 1 });
  if (!event) return undefined;
  const parsed = BootTimelineObject.safeParse(event.data);
  return parsed.success ? parsed.data : undefined;
}
