/**
 * `hob doctor [--json] [--config PATH] [--boot-test [--image NAME]]`: checks
 * this host for what hob needs (KVM and /dev/kvm, the driver hobd picks and
 * why, the VMMs, kernel modules, the Arm GIC and core types, btrfs and the
 * pool, loop devices, nftables, tun, image-build tools, hobd, the hob group,
 * images) and says how to fix what is missing. Works without hobd running.
 *
 * `--boot-test` then boots a throwaway sandbox through hobd and times exec,
 * a checkpoint, a restore and a checkpoint with memory and its restore
 * (doctor/boot-test.ts); the sandbox is removed even on failure or Ctrl+C.
 *
 * Exit code: 1 when a check or the boot test failed, 130 when the boot test
 * was interrupted, else 0 (warnings, such as no KVM, do not change it).
 * `--json` prints the report `{status, checks: [{name, status, detail, fix?}]}`
 * (daemon/cli/doctor/types.ts), with `boot_test` (doctor/boot-test.ts
 * BootTestReport) when asked for.
 */
import type { Command } from 'commander';
import { detectKvm } from '../../vmm/kvm.js';
import { HobClient } from '../client.js';
import { formatBootTestReport, startBootTest, type BootTestReport } from '../doctor/boot-test.js';
import { doctorTarget, runDoctor, type Check, type DoctorOptions, type DoctorReport } from '../doctor/index.js';
import { addCommonOptions, commonOptions, wantsJson, type CliContext } from '../context.js';
import { ExitCode, UsageError } from '../errors.js';
import { progressFor } from '../operation.js';
import { printJson } from '../output.js';
import { checkImageName } from '../units.js';

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

/**
 * The accelerator the boot test ran under: cloud-hypervisor always uses KVM; qemu uses it when
 * KVM is usable here (vmm/kvm.ts, hobd's own verdict) and the guest is of the host's
 * architecture. Judged on this machine, so only meaningful when hobd runs here (its socket).
 */
async function acceleratorOf(report: BootTestReport, local: boolean): Promise<string> {
  if (report.vmm === 'cloud-hypervisor') return 'KVM';
  if (report.vmm === undefined || !local) return 'accelerator as hobd decides';
  const arch = report.steps.find((s) => s.name === 'exec' && s.ok)?.detail.replace('uname -m: ', '');
  const hostArch = process.arch === 'arm64' ? 'aarch64' : 'x86_64';
  if (arch !== undefined && arch !== hostArch) return `TCG: an ${arch} guest on an ${hostArch} host`;
  return (await detectKvm()).usable ? 'KVM' : 'TCG: KVM is not usable here';
}

export function registerDoctorCommand(program: Command, ctx: CliContext): void {
  addCommonOptions(
    program
      .command('doctor')
      .description('check this host for what hob needs and say how to fix what is missing')
      .option('--config <path>', 'hobd configuration file (default $HOB_CONFIG or /etc/hob/config.yaml)')
      .option('--boot-test', 'also boot a throwaway sandbox through hobd and time exec, checkpoint, restore and a memory snapshot')
      .option('--image <image>', 'image for --boot-test (default: hobd\'s default)'),
  ).action(async (o: { config?: string; bootTest?: boolean; image?: string }, cmd: Command) => {
    const flags = commonOptions(cmd);
    const options: DoctorOptions = {
      ...(o.config !== undefined ? { configPath: o.config } : {}),
      connection: { socket: flags.socket, url: flags.url, token: flags.token },
      env: ctx.io.env,
    };
    if (o.image !== undefined && !o.bootTest) throw new UsageError('--image goes with --boot-test');
    const image = o.image === undefined ? undefined : checkImageName(o.image);
    const report = await runDoctor(options);
    if (!o.bootTest) {
      if (wantsJson(cmd)) printJson(ctx.io.stdout, report);
      else ctx.io.stdout.write(formatDoctorReport(report));
      ctx.exitCode = report.status === 'fail' ? ExitCode.Failure : ExitCode.Ok;
      return;
    }

    if (!wantsJson(cmd)) ctx.io.stdout.write(formatDoctorReport(report));
    const daemon = report.checks.find((c) => c.name === 'daemon');
    if (daemon?.status === 'fail') {
      const skipped = `not run: hobd does not answer (${daemon.detail})`;
      if (wantsJson(cmd)) printJson(ctx.io.stdout, { ...report, status: 'fail', boot_test: null, boot_test_skipped: skipped });
      else ctx.io.stdout.write(`boot test ${skipped}\n`);
      ctx.exitCode = ExitCode.Failure;
      return;
    }
    const target = await doctorTarget(options);
    const test = startBootTest({ client: new HobClient(target), progress: progressFor(cmd, ctx), ...(image !== undefined ? { image } : {}) });
    let interrupts = 0;
    const unsubscribe = ctx.io.onSignal(['SIGINT', 'SIGTERM'], () => {
      if (++interrupts === 1) {
        ctx.io.stderr.write(`\ninterrupted: removing ${test.name} (Ctrl+C again to leave it behind)\n`);
        test.interrupt();
      } else {
        ctx.io.stderr.write(`left ${test.name} behind: remove it with hob rm -f ${test.name}\n`);
        process.exit(ExitCode.Interrupted);
      }
    });
    let boot: BootTestReport;
    try {
      boot = await test.result;
    } finally {
      unsubscribe();
    }
    const status = report.status === 'fail' || boot.status === 'fail' ? 'fail' : report.status;
    if (wantsJson(cmd)) printJson(ctx.io.stdout, { ...report, status, boot_test: boot });
    else ctx.io.stdout.write(formatBootTestReport(boot, await acceleratorOf(boot, target.kind === 'unix')));
    ctx.exitCode = boot.interrupted ? ExitCode.Interrupted : status === 'fail' ? ExitCode.Failure : ExitCode.Ok;
  });
}
