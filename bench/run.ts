/**
 * hob benchmarks: `npm run bench` (as root). Runs a real hobd (the e2e harness)
 * and measures, side by side in one run:
 * - create to exec-ready (API), and a cold boot (stop + start) to exec-ready;
 * - `exec true` round trip through the agent directly, the HTTP API and the CLI;
 * - a 20 MiB file written and read back through the API;
 * - hobd's memory (RSS) with 0 and with 4 running sandboxes;
 * - checkpoints, restore and forks (bench/checkpoints.ts);
 * - sleep and wake: URL first byte paused vs running, wake from hibernation vs
 *   cold boot, host memory of hibernated vs running sandboxes (bench/idle.ts).
 * - HTTP from a guest vs from the host's namespace to the same server (bench/network.ts).
 * - load: a few hundred concurrent exec, fs and URL clients over 3 sandboxes for 2 minutes (bench/load.ts).
 * - `crash` (only when named: long): the kill -9 matrix and its pass count (bench/crash.ts).
 * - `arm64` (only when named: long): arm64 image build and TCG boot vs amd64 (bench/arm64.ts).
 * - `arm64-install` (only when named: long): install.sh in an arm64 root under qemu-user, native
 *   modules from source and the whole unit suite there, per phase (bench/arm64-install.ts).
 * - `pinning` (only when named): a VM's threads pinned to one CPU vs free (bench/pinning.ts).
 * - the dashboard in Chromium: time to a usable list of 20 sandboxes, bytes of a first and a later
 *   load, terminal keystroke echo vs `hob console` (bench/dashboard.ts).
 * - `secrets` (only when named): through the secret proxy vs direct, from a guest (bench/secrets.ts).
 * - `dev-secrets` (only when named: builds the dev image): Claude Code and git in a dev sandbox with
 *   granted secrets, against fakes of api.anthropic.com and github.com (bench/dev-secrets.ts).
 * - `mcp`: MCP exec round trip (hob mcp over stdio) vs the API's (bench/mcp.ts).
 * - `templates` (only when named: its own daemons): warm create from the spare, from the template (mapped, stream), cold create, live fork (bench/templates.ts).
 * - `startup`: `hob ls` and `hob --version` (the bundle) vs `node -e 0`, hobd's start-up, exec through the
 *   API vs straight to the agent on the host (bench/startup.ts).
 * - `boot` (only when named: its own daemon): cold boot phase by phase, disk restore vs cold boot and its steps, a 100 GiB first boot (bench/boot.ts).
 * - `template-memory` (only when named): memory restore time against guest memory size, mapped
 *   file vs stream, on the qemu driver (bench/template-memory.ts).
 * - `hob diff` engine (user-space ext4 reader) on a 20k-file tree (bench/diff.ts; no daemon or VM).
 * - guest floods against the host protocol stack: RSS growth per attack, now and, with
 *   HOB_FLOODS_BEFORE, an older checkout's (bench/floods.ts; no daemon or VM).
 * `npm run bench -- checkpoints` runs only the named suites (core, checkpoints, idle, network, diff).
 * Writes bench/results/latest.json and bench/results/latest.md; a run of some
 * suites only also writes them as bench/results/<suites>.json and .md.
 *
 * Targets (docs/architecture.md §10) that need KVM hardware are reported, not asserted.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startTestDaemon, type TestDaemon } from '../test/helpers/daemon.js';
import { benchArm64 } from './arm64.js';
import { benchArm64Install } from './arm64-install.js';
import { benchBoot } from './boot.js';
import { benchCheckpoints } from './checkpoints.js';
import { benchCrash } from './crash.js';
import { benchDashboard } from './dashboard.js';
import { benchDevSecrets } from './dev-secrets.js';
import { benchDiff } from './diff.js';
import { benchFloods } from './floods.js';
import { benchIdle } from './idle.js';
import { benchLoad } from './load.js';
import { benchMcp } from './mcp.js';
import { benchNetwork } from './network.js';
import { benchPinning } from './pinning.js';
import { benchSecrets } from './secrets.js';
import { benchStartup } from './startup.js';
import { benchTemplateMemory } from './template-memory.js';
import { benchTemplates } from './templates.js';
import { median, recorder, time, type Measurement } from './measure.js';

const results: Measurement[] = [];
const record = recorder(results);
const SUITES = ['core', 'checkpoints', 'idle', 'network', 'diff', 'floods', 'crash', 'load', 'arm64', 'arm64-install', 'pinning', 'dashboard', 'secrets', 'mcp', 'templates', 'dev-secrets', 'startup', 'boot', 'template-memory'] as const;
/** Suites run only when named. */
const ON_REQUEST: ReadonlySet<string> = new Set(['crash', 'arm64', 'arm64-install', 'pinning', 'secrets', 'templates', 'dev-secrets', 'boot', 'template-memory']);
const chosen = process.argv.slice(2).filter((a) => (SUITES as readonly string[]).includes(a));
const runs = (suite: (typeof SUITES)[number]): boolean => (chosen.length === 0 && !ON_REQUEST.has(suite)) || chosen.includes(suite);

async function hobdRssMiB(d: TestDaemon): Promise<number> {
  // hobd is the node process whose command line names daemon/hobd.ts and this daemon's config.
  const { readdir } = await import('node:fs/promises');
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes('daemon/hobd.ts') && cmdline.includes(join(d.stateDir, '..')) && !cmdline.startsWith('ip')) {
      const status = await readFile(`/proc/${pid}/status`, 'utf8');
      const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
      return kb / 1024;
    }
  }
  return NaN;
}

async function main(): Promise<void> {
  if (runs('crash')) await benchCrash(record);
  if (runs('arm64')) await benchArm64(record);
  if (runs('arm64-install')) await benchArm64Install(record);
  if (runs('pinning')) await benchPinning(record);
  if (runs('secrets')) await benchSecrets(record);
  if (runs('templates')) await benchTemplates(record);
  if (runs('dev-secrets')) await benchDevSecrets(record);
  if (runs('boot')) await benchBoot(record);
  if (runs('template-memory')) await benchTemplateMemory(record);
  if (chosen.length > 0 && chosen.every((s) => ON_REQUEST.has(s))) return writeReport();
  if (runs('diff')) await benchDiff(record);
  if (runs('floods')) await benchFloods(record);
  // Every other suite needs a daemon; `diff` and `floods` do not start one.
  if (!SUITES.some((s) => s !== 'diff' && s !== 'floods' && runs(s))) return writeReport();
  process.stderr.write('hob bench: starting a test daemon (builds the minimal image on first use)\n');
  // Warm templates only for a dashboard-only run: its 20 creates become resumes; other suites time cold creates.
  const d = await startTestDaemon({ internet: runs('network'), templates: chosen.length > 0 && chosen.every((s) => s === 'dashboard') });
  try {
    if (runs('core')) await benchCore(d);
    if (runs('checkpoints')) await benchCheckpoints(d, record);
    if (runs('idle')) await benchIdle(d, record);
    if (runs('network')) await benchNetwork(d, record);
    if (runs('load')) await benchLoad(d, record);
    if (runs('dashboard')) await benchDashboard(d, record);
    if (runs('mcp')) await benchMcp(d, record);
    if (runs('startup')) await benchStartup(d, record);
  } finally {
    await d.stop();
  }
  await writeReport();
}

async function benchCore(d: TestDaemon): Promise<void> {
  {
    const exec = async (name: string, argv: string[]): Promise<void> => {
      const r = await d.request({ method: 'POST', path: `/v1/sandboxes/${name}/exec`, body: { command: argv } });
      if (r.status !== 200) throw new Error(`exec: ${r.status} ${r.text()}`);
    };
    record('hobd RSS, 0 sandboxes', await hobdRssMiB(d), 'MiB');

    const [createMs, created] = await time(() => d.request({ method: 'POST', path: '/v1/sandboxes', body: { name: 'bench' } }));
    if (created.status !== 201) throw new Error(`create: ${created.status} ${created.text()}`);
    record('create to exec-ready (API)', createMs, 'ms', 'target <= 250 ms on KVM + cloud-hypervisor');

    await exec('bench', ['true']);
    const apiSamples: number[] = [];
    for (let i = 0; i < 20; i++) apiSamples.push((await time(() => exec('bench', ['true'])))[0]);
    record('exec true round trip (HTTP API), median of 20', median(apiSamples), 'ms', 'target <= 5 ms on KVM');

    const cliSamples: number[] = [];
    for (let i = 0; i < 5; i++) {
      const [ms, r] = await time(() => d.cli(['exec', 'bench', '--', 'true']));
      if (r.exitCode !== 0) throw new Error(`cli exec: ${r.stderr}`);
      cliSamples.push(ms);
    }
    record('exec true round trip (CLI, includes CLI start-up), median of 5', median(cliSamples), 'ms');

    const data = randomBytes(20 * 1024 * 1024);
    const [writeMs, written] = await time(() => d.request({ method: 'PUT', path: '/v1/sandboxes/bench/fs/write?path=/root/blob', body: data, headers: { 'content-type': 'application/octet-stream' } }));
    if (written.status !== 200) throw new Error(`write: ${written.status} ${written.text()}`);
    record('20 MiB file write (API)', (20 / writeMs) * 1000, 'MiB/s');
    const [readMs, read] = await time(() => d.request({ path: '/v1/sandboxes/bench/fs/read?path=/root/blob' }));
    if (!read.body.equals(data)) throw new Error('read back differs');
    record('20 MiB file read (API)', (20 / readMs) * 1000, 'MiB/s');

    const stop = await d.request({ method: 'POST', path: '/v1/sandboxes/bench/stop' });
    if (stop.status !== 200) throw new Error(`stop: ${stop.status}`);
    const [coldMs] = await time(() => exec('bench', ['true']));
    record('cold boot (stopped -> exec done)', coldMs, 'ms');
    record('create vs cold boot', createMs / coldMs, 'ratio', 'create = snapshot + boot: should be ~1');

    for (const name of ['bench-2', 'bench-3', 'bench-4']) {
      const r = await d.request({ method: 'POST', path: '/v1/sandboxes', body: { name } });
      if (r.status !== 201) throw new Error(`create ${name}: ${r.status} ${r.text()}`);
    }
    record('hobd RSS, 4 running sandboxes', await hobdRssMiB(d), 'MiB');
    for (const name of ['bench', 'bench-2', 'bench-3', 'bench-4']) await d.request({ method: 'DELETE', path: `/v1/sandboxes/${name}` });
  }
}

async function writeReport(): Promise<void> {
  const outDir = join(import.meta.dirname, 'results');
  await mkdir(outDir, { recursive: true });
  const report = { date: new Date().toISOString(), host: { arch: process.arch, node: process.version }, vmm: process.env.HOB_VMM ?? 'qemu (TCG here)', results };
  await writeFile(join(outDir, 'latest.json'), `${JSON.stringify(report, null, 2)}\n`);
  const md = [
    `# hob bench, ${report.date}`,
    '',
    `VMM: ${report.vmm}; ${report.host.arch}; Node ${report.host.node}`,
    '',
    '| measure | value | unit | note |',
    '| --- | ---: | --- | --- |',
    ...results.map((r) => `| ${r.name} | ${r.value} | ${r.unit} | ${r.note ?? ''} |`),
    '',
  ].join('\n');
  await writeFile(join(outDir, 'latest.md'), md);
  if (chosen.length > 0) {
    const stem = [...new Set(chosen)].join('-');
    await writeFile(join(outDir, `${stem}.json`), `${JSON.stringify(report, null, 2)}\n`);
    await writeFile(join(outDir, `${stem}.md`), md);
  }
  process.stdout.write(md);
}

main().catch((err: Error) => {
  process.stderr.write(`bench failed: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
