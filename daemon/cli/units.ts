/**
 * Command-line values: sizes (`--memory 2G`, `--disk 100G`), counts,
 * `KEY=VALUE` pairs, sandbox names. Each parser throws UsageError naming the
 * option, so a typo exits 2 before anything is sent to hobd.
 */
import { parseSize } from '../config.js';
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
