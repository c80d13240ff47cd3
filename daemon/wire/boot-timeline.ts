/**
 * A cold boot's timeline (docs/architecture.md §24): when each step began, in ms after hobd
 * started the VMM process. Written as the data of a `boot-timeline` event and shown as
 * `boot_timeline` in a sandbox's info (`GET /v1/sandboxes/{name}`, `hob info`).
 */
/** zod/mini, as every schema `hob ls` and `hob info` read (docs/architecture.md §23). */
import * as z from 'zod/mini';

/**
 * The steps, in boot order. `vmm-start` and `agent-ready` are hobd's own clock; `kernel` (the
 * guest kernel's clock started: firmware and kernel loading are before it) is derived from the
 * guest's uptime; the rest are what the guest reported (initramfs, its modules, the root
 * mounted, /opt/hob/init, the filesystem grown if it was, the agent's Node process started,
 * its code loaded, its port open).
 */
export const BOOT_PHASES = [
  'vmm-start',
  'kernel',
  'initramfs',
  'modules-loaded',
  'root-mounted',
  'init',
  'fs-grown',
  'agent-start',
  'agent-main',
  'agent-listening',
  'agent-ready',
] as const;
export type BootPhaseName = (typeof BOOT_PHASES)[number];

export const BootTimelineObject = z.looseObject({
  /** ISO 8601: when hobd started the VMM process. */
  started_at: z.string(),
  /** The VMM driver. */
  vmm: z.string(),
  /** VMM start to the agent's answer, in ms. */
  total_ms: z.number(),
  /**
   * How the guest's part was taken: `reported` (by the agent), `unsupported` (an agent older
   * than boot.timeline), `unusable` (an answer that made no sense: only hobd's own steps kept).
   */
  guest: z.string(),
  /** Steps in boot order with their start, ms after `started_at`; steps the guest did not report (or reported out of order) are absent. */
  phases: z.array(z.looseObject({ name: z.string(), ms: z.number() })),
  /** Known steps the guest reported that did not fit (before the previous step, or after the agent's answer). */
  dropped: z.optional(z.array(z.string())),
});
export type BootTimelineObject = z.infer<typeof BootTimelineObject>;
