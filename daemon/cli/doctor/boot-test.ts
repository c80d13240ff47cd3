/**
 * `hob doctor --boot-test`: one throwaway sandbox through hobd's API, with
 * the driver and accelerator hobd picks on this host, timed step by step:
 * create (boot to a ready agent), exec, a disk checkpoint, a restore, a
 * checkpoint with memory and its restore. Each step checks its own effect (a
 * file back to its checkpointed content; the same kernel boot id after the
 * memory restore, so the VM resumed rather than booted). The sandbox is
 * removed at the end whatever happened, and at once on `interrupt()` (Ctrl+C).
 */
import { randomBytes } from 'node:crypto';
import * as checkpoints from '../../wire/checkpoints.js';
import { HttpExecResult } from '../../wire/exec.js';
import { type HobClient } from '../client.js';
import { ApiError, CliError, describeFailure } from '../errors.js';
import { runWithProgress } from '../operation.js';
import type { ProgressDisplay } from '../progress.js';
import { SandboxObject } from '../sandbox-schemas.js';

export type BootTestStepName = 'create' | 'exec' | 'checkpoint' | 'restore' | 'memory-checkpoint' | 'memory-restore';

export interface BootTestStep {
  readonly name: BootTestStepName;
  readonly seconds: number;
  /** What was checked, or why the step failed. */
  readonly detail: string;
  readonly ok: boolean;
}

/** What `hob doctor --boot-test --json` prints. */
export interface BootTestReport {
  readonly status: 'ok' | 'fail';
  readonly sandbox: string;
  /** The driver hobd used (the sandbox's `vmm`), once created. */
  readonly vmm?: string;
  readonly image?: string;
  readonly steps: readonly BootTestStep[];
  /** The first failure, when status is fail. */
  readonly error?: string;
  /** Whether the sandbox is gone at the end, and if not, why. */
  readonly cleanup: { readonly removed: boolean; readonly detail: string; readonly seconds: number };
  /** The run was cut short by interrupt(). */
  readonly interrupted: boolean;
}

export interface BootTestOptions {
  readonly client: HobClient;
  /** Image to boot (default: hobd's default image). */
  readonly image?: string;
  /** Each step as it begins (create's own steps too). */
  readonly progress: ProgressDisplay;
  /** Sandbox name (default `doctor-boot-<random>`). */
  readonly name?: string;
  readonly now?: () => number;
}

/** How long cleanup keeps trying (a create or restore in flight holds the sandbox's lock until it ends). */
const CLEANUP_DEADLINE_MS = 10 * 60_000;
const CLEANUP_RETRY_MS = 1000;

const CheckpointDone = checkpoints.CheckpointComplete.pick({ id: true });

class Interrupted extends CliError {
  constructor() {
    super('interrupted');
  }
}

/** A running boot test: `result` settles once the sandbox is removed; `interrupt()` cuts it short. */
export interface BootTest {
  readonly name: string;
  readonly result: Promise<BootTestReport>;
  interrupt(): void;
}

export function startBootTest(options: BootTestOptions): BootTest {
  const { client, progress } = options;
  const now = options.now ?? Date.now;
  const name = options.name ?? `doctor-boot-${randomBytes(4).toString('hex')}`;
  const path = (rest = ''): string => `/v1/sandboxes/${encodeURIComponent(name)}${rest}`;
  const steps: BootTestStep[] = [];
  let interrupted = false;
  let wake: () => void = () => undefined;
  const interruption = new Promise<never>((_, reject) => (wake = () => reject(new Interrupted())));
  interruption.catch(() => undefined);
  let createSettled = false;
  // Inner operations report their own steps; only the whole test ends the display.
  const inner: ProgressDisplay = { step: (t) => progress.step(t), done: () => undefined, fail: () => undefined };

  const exec = async (script: string): Promise<string> => {
    const r = await client.json('POST', path('/exec'), HttpExecResult, { json: { command: ['sh', '-c', script], timeout: 120 } });
    if (r.exit_code !== 0) throw new CliError(`\`${script}\` exited ${r.exit_code}: ${r.stderr.trim() || r.stdout.trim()}`);
    return r.stdout.trim();
  };

  async function timed(step: BootTestStepName, what: string, fn: () => Promise<string>): Promise<void> {
    progress.step(what);
    const start = now();
    try {
      const detail = await Promise.race([fn(), interruption]);
      steps.push({ name: step, seconds: (now() - start) / 1000, detail, ok: true });
    } catch (err) {
      steps.push({ name: step, seconds: (now() - start) / 1000, detail: interrupted ? 'interrupted' : describeFailure(err).message, ok: false });
      throw err;
    }
  }

  let sandbox: SandboxObject | undefined;
  async function run(): Promise<void> {
    await timed('create', `Creating and booting ${name}...`, async () => {
      try {
        const body = { name, config: { cpus: 1, ram_mb: 512 }, ...(options.image !== undefined ? { image: options.image } : {}) };
        sandbox = SandboxObject.parse(await runWithProgress(client, 'POST', '/v1/sandboxes', { json: body }, inner));
      } finally {
        createSettled = true;
      }
      return `booted with ${sandbox.vmm} from image ${sandbox.image}, ${sandbox.cpus} vCPU, ${sandbox.memory_mib} MiB`;
    });
    await timed('exec', 'Running a command...', async () => {
      const arch = await exec('echo before > /root/hob-boot-test && sync && uname -m');
      return `uname -m: ${arch}`;
    });
    let disk = '';
    await timed('checkpoint', 'Taking a disk checkpoint...', async () => {
      disk = CheckpointDone.parse(await runWithProgress(client, 'POST', path('/checkpoint'), { json: { comment: 'hob doctor --boot-test' } }, inner)).id;
      return `checkpoint ${disk}`;
    });
    await exec('echo after > /root/hob-boot-test && sync');
    await timed('restore', `Restoring ${disk}...`, async () => {
      await runWithProgress(client, 'POST', path(`/checkpoints/${disk}/restore`), {}, inner);
      const content = await exec('cat /root/hob-boot-test');
      if (content !== 'before') throw new CliError(`after restoring ${disk} the test file holds "${content}", not "before"`);
      return `restored ${disk}; the file written before it is back`;
    });
    let live = '';
    let bootId = '';
    await timed('memory-checkpoint', 'Taking a checkpoint with memory...', async () => {
      bootId = await exec('cat /proc/sys/kernel/random/boot_id');
      live = CheckpointDone.parse(await runWithProgress(client, 'POST', path('/checkpoint'), { json: { comment: 'hob doctor --boot-test (memory)', memory: true } }, inner)).id;
      return `checkpoint ${live} with memory`;
    });
    await timed('memory-restore', `Restoring ${live} with its memory...`, async () => {
      await runWithProgress(client, 'POST', path(`/checkpoints/${live}/restore`), {}, inner);
      const after = await exec('cat /proc/sys/kernel/random/boot_id');
      if (after !== bootId) throw new CliError(`after restoring ${live} the guest kernel has another boot id: it booted instead of resuming`);
      return `restored ${live}; the guest resumed (same kernel boot id)`;
    });
  }

  /** Deletes the sandbox, waiting out operations in flight (409) and a create not yet registered (404). */
  async function remove(): Promise<BootTestReport['cleanup']> {
    const start = now();
    const done = (removed: boolean, detail: string) => ({ removed, detail, seconds: (now() - start) / 1000 });
    for (;;) {
      try {
        await client.empty('DELETE', path());
        return done(true, `removed ${name} and its checkpoints`);
      } catch (err) {
        const status = err instanceof ApiError ? err.status : undefined;
        if (status === 404 && createSettled) return done(true, sandbox ? `${name} was already gone` : `${name} was never created`);
        if ((status !== 409 && status !== 404) || now() - start > CLEANUP_DEADLINE_MS) {
          return done(false, `could not remove ${name}: ${describeFailure(err).message}; remove it with: hob rm -f ${name}`);
        }
      }
      await new Promise((r) => setTimeout(r, CLEANUP_RETRY_MS));
    }
  }

  const result = (async (): Promise<BootTestReport> => {
    let error: string | undefined;
    try {
      await run();
    } catch (err) {
      error = interrupted ? 'interrupted' : describeFailure(err).message;
    }
    progress.step(`Removing ${name}...`);
    const cleanup = await remove();
    const ok = error === undefined && cleanup.removed;
    if (ok) progress.done();
    else progress.fail();
    return {
      status: ok ? 'ok' : 'fail',
      sandbox: name,
      ...(sandbox ? { vmm: sandbox.vmm, image: sandbox.image } : {}),
      steps,
      ...(error !== undefined ? { error } : !cleanup.removed ? { error: cleanup.detail } : {}),
      cleanup,
      interrupted,
    };
  })();

  return {
    name,
    result,
    interrupt() {
      if (interrupted) return;
      interrupted = true;
      wake();
    },
  };
}

/** The human form: one line per step with its time, then the cleanup and a verdict. */
export function formatBootTestReport(report: BootTestReport, accel: string): string {
  const lines = [`boot test with ${report.vmm ?? 'the driver hobd picks'} (${accel}), sandbox ${report.sandbox}${report.image ? `, image ${report.image}` : ''}:`];
  const width = Math.max(...report.steps.map((s) => s.name.length), 7);
  for (const s of report.steps) lines.push(`  ${s.ok ? ' ok ' : 'FAIL'}  ${s.name.padEnd(width)}  ${s.seconds.toFixed(1).padStart(6)} s  ${s.detail}`);
  lines.push(`  ${report.cleanup.removed ? ' ok ' : 'FAIL'}  ${'cleanup'.padEnd(width)}  ${report.cleanup.seconds.toFixed(1).padStart(6)} s  ${report.cleanup.detail}`);
  lines.push(report.status === 'ok' ? 'boot test passed' : `boot test failed: ${report.error ?? 'see above'}`);
  return `${lines.join('\n')}\n`;
}
