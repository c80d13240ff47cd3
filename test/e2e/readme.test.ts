/**
 * README.md's commands, run: every `$ ` line of its ```console blocks (the CLI
 * tour and the API examples) against a real hobd (test/helpers/daemon.ts: own
 * pool, netns, the minimal image as the default) with real VMs, in order, in
 * one working directory; each must exit 0 and print output of the shape the
 * README shows (test/helpers/readme.ts says what "shape" allows). Then the
 * README's Sprites SDK example, run as written except for the address of the
 * TCP listener, inside hobd's network namespace.
 *
 * `hob` is a wrapper around this checkout's CLI (run with tsx), with
 * HOB_SOCKET pointing at the test daemon; `/run/hob/hob.sock` in a command
 * becomes the test daemon's socket.
 *
 * To refresh the README's outputs after a change to the CLI: run with
 * HOB_README_CAPTURE=/some/file; the test then writes every command with its
 * real output there and checks exit codes only.
 */
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { vmDaemonUnavailable } from '../helpers/image.js';
import { consoleSteps, sdkExample, shapeMismatch } from '../helpers/readme.js';

const REPO = resolve(import.meta.dirname, '../..');
const README = join(REPO, 'README.md');
const CAPTURE = process.env.HOB_README_CAPTURE;

const missing = vmDaemonUnavailable();
if (missing) console.warn(`README e2e test skipped: missing ${missing}`);

describe.skipIf(missing !== undefined)('README.md, run against a real hobd', () => {
  let d: TestDaemon;
  let work: string;
  let env: Record<string, string>;
  const captured: string[] = [];

  beforeAll(async () => {
    d = await startTestDaemon();
    work = await mkdtemp(join(tmpdir(), 'hob-readme-'));
    const bin = join(work, '.bin');
    await execa('mkdir', ['-p', bin]);
    await writeFile(join(bin, 'hob'), `#!/bin/sh\nexec '${join(REPO, 'node_modules/.bin/tsx')}' '${join(REPO, 'daemon/cli/main.ts')}' "$@"\n`);
    await chmod(join(bin, 'hob'), 0o755);
    env = { PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`, HOB_SOCKET: d.socketPath, HOME: work };
  });

  afterAll(async () => {
    if (CAPTURE) await writeFile(CAPTURE, captured.join('\n'));
    await d?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('runs every command of the console blocks, each succeeding with output of the shape shown', async () => {
    const steps = consoleSteps(await readFile(README, 'utf8'));
    expect(steps.length).toBeGreaterThan(10);
    for (const step of steps) {
      const command = step.command.replaceAll('/run/hob/hob.sock', d.socketPath);
      const r = await execa('sh', ['-c', command], { cwd: work, env, extendEnv: false, all: true, reject: false, timeout: 300_000 });
      const output = String(r.all ?? '');
      captured.push(`$ ${step.command}`, ...(output === '' ? [] : output.split('\n')), '');
      expect(r.exitCode, `README line ${step.line}: \`${step.command}\` exited ${r.exitCode}:\n${output}\n${d.logs().slice(-2000)}`).toBe(0);
      if (!CAPTURE) {
        const mismatch = shapeMismatch(step.expected, output === '' ? [] : output.split('\n'));
        expect(mismatch, `README line ${step.line}: \`${step.command}\`: ${mismatch}`).toBeNull();
      }
    }
    // Two boots (create, restore) and about twenty CLI runs: a few minutes under TCG, more on a loaded machine.
  }, 900_000);

  it('runs the Sprites SDK example', async () => {
    const example = sdkExample(await readFile(README, 'utf8'));
    expect(example, 'README has a js block importing @fly/sprites').toBeDefined();
    const code = example!.code.replaceAll('http://127.0.0.1:7707', d.baseUrl);
    expect(code, 'the example talks to the default address').toContain(d.baseUrl);
    // --input-type=module -e resolves @fly/sprites from the cwd: this checkout's node_modules.
    const r = await d.inNetns([process.execPath, '--experimental-websocket', '--no-warnings', '--input-type=module', '-e', code], {
      env: { HOB_TOKEN: d.token },
    });
    expect(r.exitCode, `README line ${example!.line}: ${String(r.stderr)}\n${d.logs().slice(-2000)}`).toBe(0);
    // The example says what it prints in its comments (`// prints: ...`).
    const promised = [...example!.code.matchAll(/\/\/ prints: (.*)$/gm)].map((m) => m[1]?.trim());
    expect(promised.length).toBeGreaterThan(0);
    expect(String(r.stdout).trim().split('\n')).toEqual(promised);
    captured.push('--- sdk example stdout ---', String(r.stdout));
  });
});
