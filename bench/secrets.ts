/**
 * The secret proxy's cost (issue 17, docs/architecture.md §11), in one run from inside one
 * guest, to one fake HTTPS upstream (test/helpers/net/https-upstream.ts) on two names:
 * web.example (a granted secret's host: intercepted, the placeholder replaced in a header)
 * and other.example (no secret: not intercepted, straight to the upstream). Both use the
 * guest's Node with the same request, so the ratios are the proxy's share:
 * - time to first byte of a request on a new connection (TLS handshake included), median;
 * - requests per second on one kept-alive connection;
 * - throughput of a 32 MiB download.
 * Under TCG the guest's own TLS dominates both sides; on KVM the ratios say more.
 * Has its own daemon (with the fake internet and the upstream's CA): `npm run bench -- secrets`.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SandboxCa } from '../daemon/net/secret-proxy/index.js';
import { startTestDaemon } from '../test/helpers/daemon.js';
import { WEB } from '../test/helpers/net/internet.js';
import { startRpc } from '../test/helpers/net/rpc.js';
import type { Record } from './measure.js';

/** Runs in the guest: prints {ttfbMs: [...], rps, mibPerS} for one host. */
const GUEST_BENCH = `
import https from 'node:https';
const [host, n, seconds, mib] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4]), Number(process.argv[5])];
const headers = { authorization: 'Bearer ' + (process.env.BENCH_TOKEN ?? 'none') };
const get = (path, agent) => new Promise((resolve, reject) => {
  const t0 = performance.now();
  let first;
  const r = https.request({ host, servername: host, path, headers, agent, rejectUnauthorized: false }, (res) => {
    res.on('data', () => { first ??= performance.now() - t0; });
    res.on('end', () => resolve({ first: first ?? performance.now() - t0, total: performance.now() - t0 }));
    res.on('error', reject);
  });
  r.on('error', reject);
  r.end();
});
const ttfbMs = [];
for (let i = 0; i < n; i++) ttfbMs.push((await get('/ttfb', false)).first);
const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
let count = 0;
const until = performance.now() + seconds * 1000;
const t0 = performance.now();
while (performance.now() < until) { await get('/rps', agent); count++; }
const rps = count / ((performance.now() - t0) / 1000);
const big = await get('/bytes/' + mib * 1024 * 1024, agent);
console.log(JSON.stringify({ ttfbMs, rps, mibPerS: mib / (big.total / 1000) }));
`;

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
};

export async function benchSecrets(record: Record): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'hob-bench-secrets-'));
  const ca = await SandboxCa.create('upstream');
  await writeFile(join(dir, 'ca.pem'), ca.certPem);
  const d = await startTestDaemon({ internet: true, configLines: [`secrets: { upstreamCaFile: ${join(dir, 'ca.pem')} }`] });
  const upstream = await startRpc(d.internet!.netns.name, 'test/helpers/net/https-upstream.ts', [JSON.stringify({ addresses: [WEB.web, WEB.other], ca: ca.material() })]);
  try {
    const must = async (what: string, p: Promise<{ status: number; text(): string }>, status: number): Promise<void> => {
      const r = await p;
      if (r.status !== status) throw new Error(`${what}: ${r.status} ${r.text()}`);
    };
    await must('secret', d.request({ method: 'PUT', path: '/v1/secrets/bench', body: { hosts: ['web.example'], value: 'bench-value-0123456789' } }), 200);
    await must('create', d.request({ method: 'POST', path: '/v1/sandboxes', body: { name: 'sb', secrets: [{ secret: 'bench', env: 'BENCH_TOKEN' }] } }), 201);
    await must('write', d.request({ method: 'PUT', path: '/v1/sandboxes/sb/fs/write?path=/root/bench.mjs', body: Buffer.from(GUEST_BENCH) }), 200);
    const run = async (host: string): Promise<{ ttfbMs: number[]; rps: number; mibPerS: number }> => {
      const r = await d.request({ method: 'POST', path: '/v1/sandboxes/sb/exec', body: { command: ['/opt/hob/node', '/root/bench.mjs', host, '15', '10', '32'] } });
      const out = r.json<{ stdout: string; stderr: string; exit_code: number }>();
      if (r.status !== 200 || out.exit_code !== 0) throw new Error(`bench in guest (${host}): ${r.status} ${out.stderr}`);
      return JSON.parse(out.stdout) as { ttfbMs: number[]; rps: number; mibPerS: number };
    };
    // Interleaved, so that a change of load on the machine hits both sides alike.
    const proxied: Array<Awaited<ReturnType<typeof run>>> = [];
    const direct: Array<Awaited<ReturnType<typeof run>>> = [];
    for (let i = 0; i < 2; i++) {
      direct.push(await run('other.example'));
      proxied.push(await run('web.example'));
    }
    const ttfb = (rs: typeof direct) => median(rs.flatMap((r) => r.ttfbMs));
    const best = (rs: typeof direct, k: 'rps' | 'mibPerS') => Math.max(...rs.map((r) => r[k]));
    record('secret proxy: time to first byte, new connection, direct (median)', ttfb(direct), 'ms');
    record('secret proxy: time to first byte, new connection, through the proxy (median)', ttfb(proxied), 'ms');
    record('secret proxy: time to first byte, proxy vs direct', ttfb(proxied) / ttfb(direct), 'ratio');
    record('secret proxy: requests per second, one kept-alive connection, direct', best(direct, 'rps'), 'req/s');
    record('secret proxy: requests per second, through the proxy', best(proxied, 'rps'), 'req/s');
    record('secret proxy: requests per second, proxy vs direct', best(proxied, 'rps') / best(direct, 'rps'), 'ratio');
    record('secret proxy: 32 MiB download, direct', best(direct, 'mibPerS'), 'MiB/s');
    record('secret proxy: 32 MiB download, through the proxy', best(proxied, 'mibPerS'), 'MiB/s');
    record('secret proxy: throughput, proxy vs direct', best(proxied, 'mibPerS') / best(direct, 'mibPerS'), 'ratio');
  } finally {
    await upstream.kill();
    await d.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
