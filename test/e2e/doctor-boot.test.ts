/**
 * `hob doctor --boot-test` against a real hobd (test/helpers/daemon.ts, the
 * minimal image, qemu under TCG here): the whole test passes and leaves no
 * sandbox behind; Ctrl+C in the middle of the boot still removes the
 * sandbox (once hobd's create releases it) and exits 130. One VM at a time.
 */
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BootTestReport } from '../../daemon/cli/doctor/boot-test.js';
import type { DoctorReport } from '../../daemon/cli/doctor/index.js';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { vmDaemonUnavailable } from '../helpers/image.js';

const REPO = resolve(import.meta.dirname, '../..');

const missing = vmDaemonUnavailable();
if (missing) console.warn(`hob doctor --boot-test e2e skipped: missing ${missing}`);

describe.skipIf(missing !== undefined)('hob doctor --boot-test', () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startTestDaemon();
  }, 600_000);
  afterAll(async () => {
    await d?.stop();
  }, 120_000);

  async function sandboxNames(): Promise<string[]> {
    const r = await d.request({ method: 'GET', path: '/v1/sandboxes' });
    expect(r.status).toBe(200);
    return r.json<{ sprites: Array<{ name: string }> }>().sprites.map((s) => s.name);
  }

  it('boots, execs, checkpoints, restores, snapshots memory and restores it, then removes the sandbox', async () => {
    const r = await d.cli(['doctor', '--boot-test', '--json']);
    const report = JSON.parse(r.stdout) as DoctorReport & { boot_test: BootTestReport };
    const boot = report.boot_test;
    expect(boot.status, JSON.stringify(boot, null, 2)).toBe('ok');
    expect(boot.sandbox).toMatch(/^doctor-boot-[0-9a-f]{8}$/);
    expect(boot.vmm).toBe('qemu');
    expect(boot.image).toBe('minimal');
    expect(boot.steps.map((s) => s.name)).toEqual(['create', 'exec', 'checkpoint', 'restore', 'memory-checkpoint', 'memory-restore']);
    for (const s of boot.steps) {
      expect(s.ok, s.name).toBe(true);
      expect(s.seconds, s.name).toBeGreaterThan(0);
    }
    expect(boot.steps[1]?.detail).toBe(`uname -m: ${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}`);
    expect(boot.steps[3]?.detail).toBe('restored v1; the file written before it is back');
    // The restore before kept the state it replaced as an automatic checkpoint (v2).
    const live = /^checkpoint (v\d+) with memory$/.exec(boot.steps[4]?.detail ?? '')?.[1];
    expect(live).toBe('v3');
    expect(boot.steps[5]?.detail).toBe(`restored ${live}; the guest resumed (same kernel boot id)`);
    expect(boot.cleanup).toMatchObject({ removed: true, detail: `removed ${boot.sandbox} and its checkpoints` });
    expect(boot.interrupted).toBe(false);
    expect(r.exitCode).toBe(report.status === 'fail' ? 1 : 0);
    process.stderr.write(`[doctor boot test] ${boot.steps.map((s) => `${s.name} ${s.seconds.toFixed(1)} s`).join(', ')}; cleanup ${boot.cleanup.seconds.toFixed(1)} s\n`);
    expect(await sandboxNames()).toEqual([]);
  }, 900_000);

  it('Ctrl+C while the VM boots removes the sandbox and exits 130', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'daemon/cli/main.ts'), '--socket', d.socketPath, 'doctor', '--boot-test'], {
      cwd: REPO,
      env: { ...process.env, HOB_SOCKET: d.socketPath },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    const booting = new Promise<void>((resolveBooting) =>
      child.stderr.on('data', (b: Buffer) => {
        stderr += b.toString();
        if (/Booting VM/.test(stderr)) resolveBooting();
      }),
    );
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    await Promise.race([booting, exited]);
    const name = /Creating and booting (doctor-boot-[0-9a-f]+)/.exec(stderr)?.[1];
    expect(name, stderr).toBeDefined();
    child.kill('SIGINT');
    expect(await exited, `${stdout}\n${stderr}`).toBe(130);
    expect(stderr).toContain(`interrupted: removing ${name}`);
    expect(stdout).toMatch(/ok +cleanup +[\d.]+ s +removed doctor-boot-/);
    expect(stdout).toContain('boot test failed: interrupted');
    expect(await sandboxNames()).toEqual([]);
  }, 900_000);
});
