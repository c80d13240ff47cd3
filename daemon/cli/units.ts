/**
 * Command-line values: sizes (`--memory 2G`, `--disk 100G`), counts,
 * `KEY=VALUE` pairs, sandbox names. Each parser throws UsageError naming the
 * option, so a typo exits 2 before anything is sent to hobd.
 */
import { parseSize } from '../size.js';
import { SandboxNameSchema } from '../core/names.js';
import { UsageError } from './errors.js';

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

/**
 * A size with a unit: `512M`, `2G`, `2GiB`, `1.5G`, `100GB`. Units are binary
 * (G = GiB), as everywhere in hob. A bare number is refused: it is unclear
 * whether `2048` means bytes or MiB.
 */
export function parseSizeOption(text: string, option: string): number {
  if (/^\s*\d+(\.\d+)?\s*$/.test(text)) throw new UsageError(`${option} needs a unit, e.g. 512M or 2G (got "${text}")`);
  const bytes = parseSize(text);
  if (bytes === undefined || bytes <= 0) throw new UsageError(`${option}: "${text}" is not a size (e.g. 512M, 2G, 100G)`);
  return bytes;
}

/** `--memory` in MiB (the API's `config.ram_mb`); must be a whole number of MiB. */
export function parseMemoryMiB(text: string): number {
  const bytes = parseSizeOption(text, '--memory');
  if (bytes % MiB !== 0) throw new UsageError(`--memory must be a whole number of MiB (got "${text}")`);
  return bytes / MiB;
}

/** `--disk` in GiB (the API's `config.storage_gb`); must be a whole number of GiB. */
export function parseDiskGiB(text: string): number {
  const bytes = parseSizeOption(text, '--disk');
  if (bytes % GiB !== 0) throw new UsageError(`--disk must be a whole number of GiB (got "${text}")`);
  return bytes / GiB;
}

/** A positive integer option (`--cpus 2`). */
export function parsePositiveInt(text: string, option: string): number {
  if (!/^\d{1,6}$/.test(text.trim()) || Number(text) < 1) throw new UsageError(`${option} must be a positive whole number (got "${text}")`);
  return Number(text);
}

/** `KEY=VALUE` pairs into a record (later keys win). */
export function parseEnvPairs(pairs: readonly string[], option: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    const key = eq < 0 ? pair : pair.slice(0, eq);
    if (eq < 0 || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) {
      throw new UsageError(`${option} takes KEY=VALUE with KEY of letters, digits and _ (got "${pair}")`);
    }
    env[key] = pair.slice(eq + 1);
  }
  return env;
}

/** Commander's collector for repeatable options. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** A sandbox name as typed: must be a DNS label (a-z, 0-9, '-'). */
export function checkSandboxName(name: string): string {
  return checkName(name, 'sandbox');
}

/** An image name as typed: same rules as sandbox names. */
export function checkImageName(name: string): string {
  return checkName(name, 'image');
}

function checkName(name: string, what: string): string {
  const parsed = SandboxNameSchema.safeParse(name);
  if (!parsed.success) throw new UsageError(`invalid ${what} name "${name}": ${parsed.error.issues[0]?.message ?? 'not a DNS label'}`);
  return parsed.data;
}

// ---------------------------------------------------------------- durations (sleep, keep-awake, idle, auto checkpoints)

const DURATION_UNIT_SECONDS: Readonly<Record<string, number>> = { d: 86_400, h: 3_600, m: 60, s: 1 };

/**
 * A duration with units, in whole seconds: `90s`, `30m`, `1h`, `1h30m`, `2d`,
 * `1.5h`. A bare number is refused (seconds or minutes?), as are fractions of
 * a second. Zero (`0s`) is allowed; callers that need more check it.
 */
export function parseDurationSeconds(text: string, option: string): number {
  const t = text.trim().toLowerCase();
  if (/^\d+(\.\d+)?$/.test(t)) throw new UsageError(`${option} needs a unit, e.g. 90s, 30m or 1h (got "${text}")`);
  if (!/^(\d{1,9}(\.\d{1,6})?[dhms])+$/.test(t)) throw new UsageError(`${option}: "${text}" is not a duration (e.g. 90s, 30m, 1h30m, 2d)`);
  let total = 0;
  for (const m of t.matchAll(/(\d+(?:\.\d+)?)([dhms])/g)) total += Number(m[1]) * (DURATION_UNIT_SECONDS[m[2] ?? ''] ?? NaN);
  // Float steps such as 1.1h can land a hair off a whole second.
  const rounded = Math.round(total * 1000) / 1000;
  if (!Number.isInteger(rounded)) throw new UsageError(`${option} must be a whole number of seconds (got "${text}")`);
  return rounded;
}

/** An idle time: a duration, or `off` / `never` / `0` for "never" (0 seconds, as the API takes it). */
export function parseIdleSeconds(text: string, option: string): number {
  if (/^\s*(off|never|0)\s*$/i.test(text)) return 0;
  return parseDurationSeconds(text, option);
}

/** Seconds as the CLI shows them, largest units first: `90s` → `1m30s`, `3600` → `1h`, `0` → `0s`. */
export function formatDurationSeconds(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '-';
  let left = Math.round(seconds);
  if (left === 0) return '0s';
  let text = '';
  for (const [unit, size] of Object.entries(DURATION_UNIT_SECONDS)) {
    const n = Math.floor(left / size);
    if (n > 0) text += `${n}${unit}`;
    left -= n * size;
  }
  return text;
}
