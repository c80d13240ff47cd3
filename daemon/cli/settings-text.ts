/**
 * How the CLI words a sandbox's settings (idle times, a keep-awake hold, automatic
 * checkpoints): shared by `hob info` and the commands that change them, and on its own so
 * that `hob ls` and `hob info` load none of those commands.
 */
import { formatDurationSeconds } from './units.js';

/** The idle times of a sandbox as the API has them (absent: hobd's default). */
export interface IdleTimes {
  readonly pause_after_seconds?: number;
  readonly hibernate_after_seconds?: number;
}

/** The API's automatic-checkpoint setting (`auto_checkpoint` of the sandbox object). */
export interface AutoCheckpointSetting {
  readonly interval_minutes: number;
  readonly keep: number;
}

/** `pause after 30s, hibernate after never`; a time the sandbox does not set reads `hobd's default`. */
export function idleText(idle: IdleTimes | undefined): string {
  const one = (seconds: number | undefined) => (seconds === undefined ? "hobd's default" : seconds === 0 ? 'never' : formatDurationSeconds(seconds));
  return `pause after ${one(idle?.pause_after_seconds)}, hibernate after ${one(idle?.hibernate_after_seconds)}`;
}

/** How far ahead an ISO time is: `in 59m`, `in 1h30m`; `-` for an unreadable time. */
export function formatUntil(iso: string, now: Date = new Date()): string {
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return '-';
  return `in ${formatDurationSeconds(Math.max(0, Math.ceil((then - now.getTime()) / 1000)))}`;
}

/** `until 2026-01-02T13:00:00.000Z (in 1h)`, or undefined without a hold. */
export function keepAwakeText(until: string | null | undefined, now: Date = new Date()): string | undefined {
  return until ? `until ${until} (${formatUntil(until, now)})` : undefined;
}

/** `every 30m, the last 5 kept`, or `off`. */
export function autoCheckpointText(setting: AutoCheckpointSetting | null | undefined): string {
  return setting ? `every ${formatDurationSeconds(setting.interval_minutes * 60)}, the last ${setting.keep} kept` : 'off';
}
