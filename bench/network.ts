/**
 * Sandbox networking (issue 5, docs/architecture.md §6), measured side by side in one run: HTTP
 * from a guest to the fake internet's web server (through the guest's NIC, its namespace's
 * NAT, the host's forwarding and masquerade) vs from hobd's own namespace to the same
 * server. Both sides run the same Node script, so the ratio is the cost of the path:
 * - latency: median of 30 sequential GETs, each on a new connection;
 * - throughput: one GET of 64 MiB.
 * Needs the daemon started with the fake internet (bench/run.ts does that for this suite).
 * In the guest the script runs under the agent's Node (/opt/hob/node; the minimal image has no other).
 */
import type { TestDaemon } from '../test/helpers/daemon.js';
import { WEB } from '../test/helpers/net/internet.js';
import type { Record } from './measure.js';

const BYTES = 64 * 1024 * 1024;

/** Prints {latencyMs, throughputMiBs} as JSON. Runs in the guest and in hobd's namespace. */
const SCRIPT = `
const http = require('node:http');
const get = (path) => new Promise((resolve, reject) => {
  const t0 = process.hrtime.bigint();
  http.get({ host: '${WEB.web}', port: 80, path, agent: false }, (res) => {
    let n = 0;
    res.on('data', (c) => { n += c.length; });
    res.on('end', () => resolve({ ms: Number(process.hrtime.bigint() - t0) / 1e6, bytes: n }));
  }).on('error', reject);
});
(async () => {
  const samples = [];
  for (let i = 0; i < 30; i++) samples.push((await get('/')).ms);
  samples.sort((a, b) => a - b);
  const big = await get('/bytes/${BYTES}');
  if (big.bytes !== ${BYTES}) throw new Error('short read: ' + big.bytes);
  console.log(JSON.stringify({ latencyMs: samples[15], throughputMiBs: ${BYTES} / 1048576 / (big.ms / 1000) }));
})().catch((e) => { console.error(e.message); process.exit(1); });
`;

interface PathFigures {
  readonly latencyMs: number;
  readonly throughputMiBs: number;
}

export async function benchNetwork(d: TestDaemon, record: Record): Promise<void> {
  if (!d.internet) throw new Error('the network bench needs a daemon started with { internet: true }');
  const created = await d.request({ method: 'POST', path: '/v1/sandboxes', body: { name: 'netbench' } });
  if (created.status !== 201) throw new Error(`create: ${created.status} ${created.text()}`);
  try {
    const r = await d.request({ method: 'POST', path: '/v1/sandboxes/netbench/exec', body: { command: ['/opt/hob/node', '-e', SCRIPT] } });
    const out = r.json<{ stdout: string; stderr: string; exit_code: number }>();
    if (r.status !== 200 || out.exit_code !== 0) throw new Error(`guest run: ${r.status} ${out.stderr}`);
    const guest = JSON.parse(out.stdout) as PathFigures;
    const host = await d.inNetns(['node', '-e', SCRIPT], { timeoutMs: 300_000 });
    if (host.exitCode !== 0) throw new Error(`host run: ${String(host.stderr)}`);
    const local = JSON.parse(String(host.stdout)) as PathFigures;

    record('HTTP latency, guest -> fake internet (median of 30, new connection each)', guest.latencyMs, 'ms');
    record('HTTP latency, host namespace -> fake internet', local.latencyMs, 'ms');
    record('HTTP latency guest vs host', guest.latencyMs / local.latencyMs, 'ratio', 'QEMU under TCG here: the guest side runs emulated');
    record('HTTP throughput, guest <- fake internet (64 MiB)', guest.throughputMiBs, 'MiB/s');
    record('HTTP throughput, host namespace <- fake internet', local.throughputMiBs, 'MiB/s');
    record('HTTP throughput host vs guest', local.throughputMiBs / guest.throughputMiBs, 'ratio');
  } finally {
    await d.request({ method: 'DELETE', path: '/v1/sandboxes/netbench' });
  }
}
