/**
 * Crash tests' harness (test/e2e/crash.test.ts, bench/crash.ts): a test daemon
 * whose hobd is started with HOB_TEST_CRASH_AT pointing at a file, so a crash
 * point (daemon/core/crash-point.ts) can be armed in the running hobd; an
 * operation run with a point armed kills hobd there (SIGKILL), hobd is started
 * again on the same state, and `problems()` lists every way the host, the disk
 * and the database disagree after its reconcile.
 */
import { randomBytes } from 'node:crypto';
import { readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { execa } from 'execa';
import type { CrashPoint } from '../../daemon/core/crash-point.js';
import { startTestDaemon, type TestDaemon, type TestDaemonOptions } from './daemon.js';
import type { HttpResult } from './http.js';

/** How long an operation may take to reach its crash point (boots under TCG on a loaded box). */
const REACH_POINT_TIMEOUT_MS = 300_000;
/** How long the probe write in the guest may take: a frozen filesystem never finishes it. */
const PROBE_TIMEOUT_MS = 60_000;

export interface ReportedCheckpoint {
  readonly sandbox: string;
  readonly id: string;
  readonly kind: 'disk' | 'live';
}

export interface CrashHarness {
  readonly d: TestDaemon;
  /** Checkpoints the API said it created: each must survive every crash. */
  readonly reported: ReportedCheckpoint[];
  /**
   * Arms `point`, runs `op` (which hobd should not live through), waits for hobd to die,
   * disarms and restarts it. Returns what hobd logged before it died.
   * @throws if hobd finished the operation without reaching the point.
   */
  crashAt(point: CrashPoint, op: () => Promise<unknown>): Promise<void>;
  /**
   * Runs `op` and SIGKILLs hobd `ms` after it started (if hobd is still up), then restarts it.
   * Returns whether the kill landed before the operation finished.
   */
  crashAfter(ms: number, op: () => Promise<unknown>): Promise<boolean>;
  /** Everything that is out of place (an empty list is a pass). `usable`: names that must end usable. */
  problems(usable: readonly string[]): Promise<string[]>;
  stop(): Promise<void>;
}

export async function startCrashHarness(options: TestDaemonOptions = {}): Promise<CrashHarness> {
  const armFile = join('/tmp', `hob-crash-${randomBytes(4).toString('hex')}`);
  await writeFile(armFile, '');
  const d = await startTestDaemon({ ...options, env: { ...options.env, HOB_TEST_CRASH_AT: armFile } });
  const reported: ReportedCheckpoint[] = [];
  return {
    d,
    reported,
    crashAt: async (point, op) => {
      await writeFile(armFile, point);
      let finished = false;
      const running = op().then(() => (finished = true), () => undefined);
      const died = await Promise.race([
        d.exited().then(() => true),
        running.then(() => false),
        new Promise<boolean>((r) => setTimeout(() => r(false), REACH_POINT_TIMEOUT_MS).unref()),
      ]);
      await writeFile(armFile, '');
      if (!died) {
        // The op may still have died with hobd a moment later.
        const late = await Promise.race([d.exited().then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 2_000))]);
        if (!late) throw new Error(`hobd did not reach crash point ${point} (${finished ? 'the operation finished' : 'the operation failed or hung'})`);
      }
      await running;
      await d.restart();
    },
    crashAfter: async (ms, op) => {
      let finished = false;
      const running = op().then(() => (finished = true), () => undefined);
      await new Promise((r) => setTimeout(r, ms));
      const landed = !finished;
      await d.kill('SIGKILL');
      await running;
      await d.restart();
      return landed;
    },
    problems: (usable) => findProblems(d, reported, usable),
    stop: async () => {
      await d.stop();
      await rm(armFile, { force: true });
    },
  };
}

interface SandboxRow { id: string; name: string; state: string }
interface CheckpointRow { id: string; sandbox_id: string; kind: string; seq: number }

async function findProblems(d: TestDaemon, reported: readonly ReportedCheckpoint[], usable: readonly string[]): Promise<string[]> {
  const problems: string[] = [];
  const db = new Database(join(d.stateDir, 'hob.db'), { readonly: true, fileMustExist: true });
  let rows: SandboxRow[];
  let cps: CheckpointRow[];
  try {
    rows = db.prepare('SELECT id, name, state FROM sandboxes').all() as SandboxRow[];
    cps = db.prepare('SELECT id, sandbox_id, kind, seq FROM checkpoints').all() as CheckpointRow[];
  } finally {
    db.close();
  }
  const byId = new Map(rows.map((r) => [r.id, r]));
  const live = new Set(rows.filter((r) => r.state === 'running' || r.state === 'paused').map((r) => r.id));
  for (const r of rows) {
    if (r.state === 'creating' || r.state === 'destroying') problems.push(`sandbox ${r.name} is still ${r.state} after reconcile`);
  }

  // VMM processes: one per running or paused row, none for anything else.
  const vmDir = `${d.runDir}/vms/`;
  const vmms = new Map<string, number>();
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    const at = cmdline.indexOf(vmDir);
    if (at < 0 || cmdline.includes('daemon/hobd.ts')) continue;
    const id = cmdline.slice(at + vmDir.length).split(/[/\0]/)[0]!;
    if (vmms.has(id)) continue;
    vmms.set(id, Number(pid));
  }
  for (const [id, pid] of vmms) if (!live.has(id)) problems.push(`orphan VMM process ${pid} for ${byId.get(id)?.name ?? id} (${byId.get(id)?.state ?? 'no row'})`);
  for (const id of live) if (!vmms.has(id)) problems.push(`${byId.get(id)!.name} is ${byId.get(id)!.state} but has no VMM process`);

  // Mounts: the pool and nothing else under the state or run dir.
  const poolDir = join(d.stateDir, 'pool');
  for (const line of (await readFile('/proc/self/mountinfo', 'utf8')).split('\n')) {
    const mountPoint = line.split(' ')[4];
    if (!mountPoint || mountPoint === poolDir) continue;
    if (mountPoint.startsWith(`${d.stateDir}/`) || mountPoint.startsWith(`${d.runDir}/`)) problems.push(`leftover mount ${mountPoint}`);
  }
  // Loop devices: the pool image's and none backed by a file in the pool or the run dir.
  const loops = await execa('losetup', ['--list', '--noheadings', '--output', 'NAME,BACK-FILE'], { reject: false });
  for (const line of String(loops.stdout).split('\n')) {
    const [name, file] = line.trim().split(/\s+/, 2);
    if (file && (file.startsWith(`${poolDir}/`) || file.startsWith(`${d.runDir}/`))) problems.push(`leftover loop device ${name} on ${file}`);
  }
  // Namespaces (each holds its sandbox's tap) and host-side veths: only for live sandboxes.
  for (const ns of await readdir('/run/netns').catch(() => [] as string[])) {
    if (!ns.startsWith(d.netnsPrefix)) continue;
    const id = ns.slice(d.netnsPrefix.length);
    if (!live.has(id)) problems.push(`orphan network namespace ${ns} (${byId.get(id)?.state ?? 'no row'})`);
  }
  const links = await d.inNetns(['ip', '-o', 'link', 'show']);
  for (const m of String(links.stdout).matchAll(/^\d+: hv-([a-z0-9]+)[@:]/gm)) {
    if (!live.has(m[1]!)) problems.push(`orphan veth hv-${m[1]} in hobd's namespace`);
  }

  // Subvolumes vs rows.
  const subvols = await execa('btrfs', ['subvolume', 'list', '-o', poolDir], { reject: false });
  const paths = subvols.exitCode === 0
    ? String(subvols.stdout).split('\n').map((l) => /path (.*)$/.exec(l)?.[1] ?? '').filter(Boolean).map((p) => p.replace(/^.*?(?=(sandboxes|checkpoints|images|trash)\/)/, ''))
    : [];
  if (subvols.exitCode !== 0) problems.push(`btrfs subvolume list failed: ${subvols.stderr}`);
  const sandboxSubvols = new Set(paths.filter((p) => p.startsWith('sandboxes/')).map((p) => p.slice('sandboxes/'.length)));
  const checkpointSubvols = new Set(paths.filter((p) => p.startsWith('checkpoints/')).map((p) => p.slice('checkpoints/'.length)));
  for (const name of sandboxSubvols) if (!byId.has(name)) problems.push(`subvolume sandboxes/${name} has no row`);
  for (const r of rows) if (!sandboxSubvols.has(r.id)) problems.push(`sandbox ${r.name} has no subvolume`);
  const cpKeys = new Set(cps.map((c) => `${c.sandbox_id}/${c.id}`));
  for (const key of checkpointSubvols) if (!cpKeys.has(key)) problems.push(`subvolume checkpoints/${key} has no row`);
  for (const key of cpKeys) if (!checkpointSubvols.has(key)) problems.push(`checkpoint ${key} has no subvolume`);
  // Memory images in sandbox subvolumes only for hibernated rows.
  for (const r of rows) {
    const has = await stat(join(poolDir, 'sandboxes', r.id, 'memory')).then(() => true, () => false);
    if (has && r.state !== 'hibernated') problems.push(`sandbox ${r.name} (${r.state}) has a leftover memory image`);
  }

  // Every checkpoint the API reported is listed, with its files.
  for (const cp of reported) {
    const listed = await d.request({ path: `/v1/sandboxes/${cp.sandbox}/checkpoints/${cp.id}` }).catch((err: Error) => err);
    if (listed instanceof Error || listed.status !== 200) {
      problems.push(`checkpoint ${cp.sandbox} ${cp.id} reported as created is not listed (${listed instanceof Error ? listed.message : listed.status})`);
      continue;
    }
    if (listed.json<{ kind: string }>().kind !== cp.kind) problems.push(`checkpoint ${cp.sandbox} ${cp.id} is listed as ${listed.json<{ kind: string }>().kind}, was ${cp.kind}`);
    const row = cps.find((c) => byId.get(c.sandbox_id)?.name === cp.sandbox && `v${c.seq}` === cp.id);
    if (!row) {
      problems.push(`checkpoint ${cp.sandbox} ${cp.id} is listed but has no row`);
      continue;
    }
    // Restorable: its disk (and, for a live one, a complete memory image) is there.
    const dir = join(poolDir, 'checkpoints', row.sandbox_id, row.id);
    const need = cp.kind === 'live' ? ['disk.img', 'memory/vmm.json'] : ['disk.img'];
    for (const f of need) {
      if (!(await stat(join(dir, f)).then(() => true, () => false))) problems.push(`checkpoint ${cp.sandbox} ${cp.id} lacks ${f}`);
    }
  }

  // Usable: a write in the guest succeeds (not frozen); an `error` sandbox must come back with start.
  for (const name of usable) {
    const problem = await probeUsable(d, name);
    if (problem) problems.push(problem);
  }
  return problems;
}

async function probeUsable(d: TestDaemon, name: string): Promise<string | undefined> {
  let info = await d.request({ path: `/v1/sandboxes/${name}` });
  if (info.status !== 200) return `${name}: GET answers ${info.status}`;
  // `error` must come back with `hob start`; stopped and hibernated ones start or wake on the exec below.
  if (info.json<{ state: string }>().state === 'error') {
    const started = await d.request({ method: 'POST', path: `/v1/sandboxes/${name}/start` });
    if (started.status !== 200) return `${name}: start after a crash answers ${started.status} ${started.text()}`;
    info = started;
  }
  const probe = await Promise.race<HttpResult | string>([
    d.request({ method: 'POST', path: `/v1/sandboxes/${name}/exec`, body: { command: ['sh', '-c', 'echo crash-probe > /root/.crash-probe && sync && cat /root/.crash-probe'] } }),
    new Promise<string>((r) => setTimeout(() => r('timed out (frozen filesystem?)'), PROBE_TIMEOUT_MS).unref()),
  ]).catch((err: Error) => err.message);
  if (typeof probe === 'string') return `${name}: a write in the guest ${probe}`;
  if (probe.status !== 200) return `${name}: exec answers ${probe.status} ${probe.text()}`;
  const out = probe.json<{ stdout: string; exit_code: number }>();
  if (out.exit_code !== 0 || !out.stdout.includes('crash-probe')) return `${name}: the probe write failed: ${JSON.stringify(out)}`;
  return undefined;
}
