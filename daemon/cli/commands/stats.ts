/**
 * `hob stats [NAME]`: what running sandboxes cost, like `docker stats`: the
 * VMM's CPU use and resident memory on the host, the guest's own memory use,
 * the disk image's size in the pool. In a terminal the table refreshes at
 * hobd's sampling interval until Ctrl+C; `--no-stream` (or output that is not a
 * terminal, or `--json`) prints it once.
 */
import type { Command } from 'commander';
import { addCommonOptions, clientFor, wantsJson, type CliContext } from '../context.js';
import { formatBytes, formatTable, printJson } from '../output.js';
import { SandboxStatsObject, StatsList } from '../schemas.js';
import { checkSandboxName } from '../units.js';

/** Clear screen and home the cursor: each refresh redraws the table in place. */
const REDRAW = '\x1b[H\x1b[2J';

const percent = (value: number | null | undefined): string => (value === null || value === undefined ? '-' : `${value.toFixed(1)}%`);
const bytes = (value: number | null | undefined): string => (value === null || value === undefined ? '-' : formatBytes(value));

export function statsTable(sandboxes: readonly SandboxStatsObject[]): string {
  return formatTable(
    ['NAME', 'CPU %', 'VMM RSS', 'GUEST MEM USED / TOTAL', 'MEM %', 'DISK USED / SIZE'],
    sandboxes.map((s) => {
      const c = s.current;
      const mem = c?.guest_memory ?? null;
      return [
        s.name,
        percent(c?.cpu_percent),
        bytes(c?.rss_bytes),
        mem ? `${formatBytes(mem.used_bytes)} / ${formatBytes(mem.total_bytes)}` : '-',
        mem && mem.total_bytes > 0 ? percent((mem.used_bytes / mem.total_bytes) * 100) : '-',
        `${bytes(c?.disk_used_bytes)} / ${formatBytes(s.disk_bytes)}`,
      ];
    }),
  );
}

export function registerStatsCommand(program: Command, ctx: CliContext): void {
  const { io } = ctx;
  addCommonOptions(
    program
      .command('stats')
      .description('show CPU, memory and disk use of running sandboxes (refreshing in a terminal)')
      .argument('[name]', 'sandbox (default: every running sandbox)')
      .option('--no-stream', 'print once instead of refreshing'),
  ).action(async (name: string | undefined, o: { stream: boolean }, cmd: Command) => {
    if (name !== undefined) checkSandboxName(name);
    const client = clientFor(cmd, ctx);
    const fetchAll = async (): Promise<{ rows: SandboxStatsObject[]; intervalSeconds: number | undefined }> => {
      if (name !== undefined) {
        const one = await client.json('GET', `/v1/sandboxes/${encodeURIComponent(name)}/stats`, SandboxStatsObject);
        return { rows: [one], intervalSeconds: one.interval_seconds };
      }
      const list = await client.json('GET', '/v1/stats', StatsList);
      return { rows: list.sandboxes, intervalSeconds: list.sandboxes[0]?.interval_seconds };
    };

    if (wantsJson(cmd)) {
      // One sandbox: with its history (the last hour); all: the current samples.
      const { rows } = await fetchAll();
      return printJson(io.stdout, name !== undefined ? rows[0] : rows);
    }
    const show = (rows: readonly SandboxStatsObject[]): string => (rows.length === 0 ? 'no running sandboxes\n' : statsTable(rows));
    if (!o.stream || !io.stdout.isTTY) {
      io.stdout.write(show((await fetchAll()).rows));
      return;
    }
    let stopped = false;
    let wake: (() => void) | undefined;
    const off = io.onSignal(['SIGINT', 'SIGTERM', 'SIGHUP'], () => {
      stopped = true;
      wake?.();
    });
    try {
      while (!stopped) {
        const { rows, intervalSeconds } = await fetchAll();
        io.stdout.write(REDRAW + show(rows));
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, Math.max(1, intervalSeconds ?? 5) * 1000).unref();
        });
      }
    } finally {
      off();
    }
  });
}
