/**
 * `hob doctor [--json] [--config PATH]`: checks this host for what hob needs
 * (KVM, the driver hobd picks and why, the VMMs, btrfs and the pool, loop
 * devices, nftables, tun, image-build tools, hobd, the hob group, images) and
 * says how to fix what is missing. Works without hobd running.
 *
 * Exit code: 1 when a check failed (hob cannot work until it is fixed), else 0
 * (warnings, such as no KVM, do not change it). `--json` prints the report
 * `{status, checks: [{name, status, detail, fix?}]}` (daemon/cli/doctor/types.ts).
 */
import type { Command } from 'commander';
import { runDoctor, type Check, type DoctorReport } from '../doctor/index.js';
import { addCommonOptions, commonOptions, wantsJson, type CliContext } from '../context.js';
import { ExitCode } from '../errors.js';
import { printJson } from '../output.js';

const LABEL: Record<Check['status'], string> = { ok: ' ok ', warn: 'WARN', fail: 'FAIL' };

/** The human form: one line per check, the fix indented under it, a summary line. */
export function formatDoctorReport(report: DoctorReport): string {
  const width = Math.max(...report.checks.map((c) => c.name.length));
  const lines: string[] = [];
  for (const c of report.checks) {
    lines.push(`[${LABEL[c.status]}] ${c.name.padEnd(width)}  ${c.detail}`);
    if (c.fix !== undefined && c.status !== 'ok') lines.push(`${' '.repeat(width + 9)}fix: ${c.fix}`);
  }
  const count = (s: Check['status']) => report.checks.filter((c) => c.status === s).length;
  const fails = count('fail');
  const warns = count('warn');
  lines.push(
    fails > 0
      ? `${fails} problem${fails === 1 ? '' : 's'} to fix before hob can work${warns > 0 ? `, ${warns} warning${warns === 1 ? '' : 's'}` : ''}`
      : warns > 0
        ? `hob can work here; ${warns} warning${warns === 1 ? '' : 's'}`
        : 'hob can work here; everything is in place',
  );
  return `${lines.join('\n')}\n`;
}

export function registerDoctorCommand(program: Command, ctx: CliContext): void {
  addCommonOptions(
    program
      .command('doctor')
      .description('check this host for what hob needs and say how to fix what is missing')
      .option('--config <path>', 'hobd configuration file (default $HOB_CONFIG or /etc/hob/config.yaml)'),
  ).action(async (o: { config?: string }, cmd: Command) => {
    const flags = commonOptions(cmd);
    const report = await runDoctor({
      ...(o.config !== undefined ? { configPath: o.config } : {}),
      connection: { socket: flags.socket, url: flags.url, token: flags.token },
      env: ctx.io.env,
    });
    if (wantsJson(cmd)) printJson(ctx.io.stdout, report);
    else ctx.io.stdout.write(formatDoctorReport(report));
    ctx.exitCode = report.status === 'fail' ? ExitCode.Failure : ExitCode.Ok;
  });
}
