/**
 * hobd's memory under guest floods (issue 12, "Measure"): each attack of
 * bench/flood-child.ts against the host protocol stack of this checkout and, when
 * HOB_FLOODS_BEFORE names an older checkout (for example a `git worktree` of the
 * commit before issue 12's fixes), against that one, side by side in one run. Each
 * figure is the RSS growth of a process that holds nothing but that one agent
 * connection, and whether the host dropped the connection. No daemon or VM.
 */
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import type { Record } from './measure.js';

const ATTACKS = ['window-overrun', 'unknown-channels-not-reading', 'hello-flood', 'huge-lengths', 'run-endless-output'] as const;
const FLOOD_BYTES = 256 * 2 ** 20;
const REPO = resolve(import.meta.dirname, '..');

interface FloodResult {
  readonly rssGrowthMiB: number;
  readonly dropped: boolean;
  readonly seconds: number;
}

async function runFlood(root: string, attack: string): Promise<FloodResult | string> {
  const r = await execa(process.execPath, ['--expose-gc', '--import', 'tsx', join(REPO, 'bench/flood-child.ts'), root, attack, String(FLOOD_BYTES)], {
    cwd: REPO,
    reject: false,
    timeout: 180_000,
    // A stack without bounds may grow until this limit stops it: a failure, reported as such.
    env: { NODE_OPTIONS: '--max-old-space-size=2048' },
  });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  if (r.exitCode !== 0 || !line.startsWith('{')) return `failed: ${r.signal ?? `exit ${r.exitCode}`} ${r.stderr.trim().split('\n').pop() ?? ''}`.slice(0, 200);
  return JSON.parse(line) as FloodResult;
}

export async function benchFloods(record: Record): Promise<void> {
  const before = process.env.HOB_FLOODS_BEFORE;
  process.stderr.write(`hob bench: floods of ${FLOOD_BYTES / 2 ** 20} MiB against the host protocol stack${before ? ` (and ${before})` : ''}\n`);
  for (const attack of ATTACKS) {
    const now = await runFlood(REPO, attack);
    if (typeof now === 'string') {
      record(`flood ${attack}: hobd RSS growth (now)`, NaN, 'MiB', now);
      continue;
    }
    record(`flood ${attack}: hobd RSS growth (now)`, now.rssGrowthMiB, 'MiB', now.dropped ? 'connection dropped' : 'connection kept');
    if (!before) continue;
    const old = await runFlood(before, attack);
    if (typeof old === 'string') {
      record(`flood ${attack}: hobd RSS growth (before)`, NaN, 'MiB', old);
      continue;
    }
    record(`flood ${attack}: hobd RSS growth (before)`, old.rssGrowthMiB, 'MiB', old.dropped ? 'connection dropped' : 'connection kept');
  }
}
