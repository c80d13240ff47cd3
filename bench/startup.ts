/**
 * Start-up and the exec path (issue 18, items 5 and 6), side by side in one run:
 * - `hob --version` and `hob ls` (the built bundle, against the bench's hobd) against
 *   `node -e 0`, medians of interleaved runs, and their ratios (target: `hob ls` <= 1.5x);
 * - hobd: loading its modules (tsc's dist/daemon/hobd.js) against `node -e 0`, and the
 *   bench hobd's own start-up timeline (its "start-up:" log line; it runs from source
 *   under tsx, so its module figure includes compiling TypeScript);
 * - `exec true` round trip through the HTTP API against the same exec sent straight to the
 *   agent, both with the real agent run on the host (no VM): what hobd adds.
 */
import { request } from 'node:http';
import { existsSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { createApi } from '../daemon/api/app.js';
import { serveApi } from '../daemon/api/server.js';
import { TokenStore } from '../daemon/auth/tokens.js';
import { ended } from '../daemon/core/guest-process.js';
import { SessionRegistry } from '../daemon/core/sessions.js';
import { closeDatabase, openDatabase } from '../daemon/db/open.js';
import type { TestDaemon } from '../test/helpers/daemon.js';
import { oneSandboxService, startHostAgent } from '../test/helpers/host-agent.js';
import { median, time, type Record } from './measure.js';

const REPO = resolve(import.meta.dirname, '..');
const RUNS = 15;
const EXEC_SAMPLES = 30;

async function wallMs(argv: readonly string[]): Promise<number> {
  const [ms, r] = await time(() => execa(process.execPath, [...argv], { cwd: REPO, reject: false }));
  if (r.exitCode !== 0) throw new Error(`${argv.join(' ')}: exit ${r.exitCode}: ${r.stderr}`);
  return ms;
}

/** Medians of `RUNS` interleaved runs of each command line (interleaved: a load change hits all alike). */
async function medians(lines: ReadonlyArray<readonly string[]>): Promise<number[]> {
  const samples = lines.map(() => [] as number[]);
  for (const line of lines) await wallMs(line); // warm the page cache
  for (let i = 0; i < RUNS; i++) for (const [j, line] of lines.entries()) samples[j]!.push(await wallMs(line));
  return samples.map(median);
}

export async function benchStartup(d: TestDaemon, record: Record): Promise<void> {
  const outdir = join(REPO, 'dist', `cli-bench-${process.pid}`);
  const { bundleCli } = (await import(join(REPO, 'daemon/cli/bundle.mjs'))) as { bundleCli(o: { outdir: string }): Promise<void> };
  await bundleCli({ outdir });
  try {
    const hob = join(outdir, 'hob.js');
    const [node, version, ls] = await medians([['-e', '0'], [hob, '--version'], [hob, '--socket', d.socketPath, 'ls']]);
    record(`node -e 0, median of ${RUNS}`, node!, 'ms');
    record(`hob --version (bundle), median of ${RUNS}`, version!, 'ms');
    record(`hob ls (bundle), median of ${RUNS}`, ls!, 'ms');
    record('hob --version / node -e 0', version! / node!, 'ratio');
    record('hob ls / node -e 0', ls! / node!, 'ratio', 'target <= 1.5');
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }

  const hobd = join(REPO, 'dist', 'daemon', 'hobd.js');
  if (existsSync(hobd)) {
    const [node, load] = await medians([['-e', '0'], ['--input-type=module', '-e', `await import(${JSON.stringify(hobd)})`]]);
    record(`hobd: loading its modules (dist), median of ${RUNS}`, load!, 'ms');
    record('hobd module loading / node -e 0', load! / node!, 'ratio');
  } else {
    process.stderr.write('  (no dist/daemon/hobd.js: run npm run build to measure hobd module loading)\n');
  }
  const line = /start-up: modules loaded after (\d+) ms, reconcile took (\d+) ms, listening and ready after (\d+) ms/.exec(d.logs());
  if (line) {
    record('bench hobd (tsx): modules loaded after', Number(line[1]), 'ms');
    record('bench hobd (tsx): reconcile', Number(line[2]), 'ms');
    record('bench hobd (tsx): listening and ready after', Number(line[3]), 'ms');
  }

  await benchExecPath(record);
}

/** `exec true` through the API and straight to the agent, the agent on the host. */
async function benchExecPath(record: Record): Promise<void> {
  const agent = await startHostAgent();
  const db = openDatabase(join(agent.dir, 'hob.db'));
  const sessions = new SessionRegistry();
  const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
  const api = createApi({ sandboxes: oneSandboxService('dev', agent.client), sessions, tokens: new TokenStore(db), port: 0, version: '0', log: quiet });
  const socketPath = join(agent.dir, 'hob.sock');
  const servers = await serveApi(api, { socketPath });
  try {
    const viaApi = (): Promise<void> =>
      new Promise((ok, fail) => {
        const req = request({ socketPath, path: '/v1/sandboxes/dev/exec', method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', fail);
          res.on('end', () => (res.statusCode === 200 && JSON.parse(Buffer.concat(chunks).toString()).exit_code === 0 ? ok() : fail(new Error(`exec: ${res.statusCode}`))));
        });
        req.on('error', fail);
        req.end(JSON.stringify({ command: ['true'] }));
      });
    const direct = async (): Promise<void> => {
      const p = await agent.client.exec({ argv: ['true'] });
      p.stdout.resume();
      p.stderr.resume();
      const status = await p.exited;
      await Promise.all([ended(p.stdout), ended(p.stderr)]);
      if (status.code !== 0) throw new Error(`exec: ${JSON.stringify(status)}`);
    };
    for (let i = 0; i < 3; i++) await Promise.all([viaApi(), direct()]);
    const a: number[] = [];
    const g: number[] = [];
    for (let i = 0; i < EXEC_SAMPLES; i++) {
      g.push((await time(direct))[0]);
      a.push((await time(viaApi))[0]);
    }
    record(`exec true, host agent direct, median of ${EXEC_SAMPLES}`, median(g), 'ms');
    record(`exec true, HTTP API to the host agent, median of ${EXEC_SAMPLES}`, median(a), 'ms');
    record('exec round trip API / agent on the host', median(a) / median(g), 'ratio');
  } finally {
    await servers.close();
    sessions.shutdown('bench over');
    closeDatabase(db);
    await agent.stop();
  }
}
