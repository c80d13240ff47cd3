/**
 * Load (issue 12, "Load"): several running sandboxes and a few hundred
 * concurrent clients for a couple of minutes, each looping over exec, file
 * and URL requests to a random sandbox:
 * - exec: `POST /exec` of `true`;
 * - fs: a 4 KiB file written (`PUT /fs/write`) and read back (`GET /fs/read`, compared);
 * - url: a GET through the sandbox URL (TCP listener, Host `<name>.localhost`)
 *   to a web server in the guest.
 * Reported: requests made, failures other than 429 (statuses, transport
 * errors, timeouts, wrong content), 429s, p50/p99 latency per kind, and
 * hobd's RSS at the start, at the end and at its peak. URL requests reach
 * hobd's TCP listener (inside the harness's namespace) through the harness's
 * socat bridge, a process per connection: a transport error there may be the
 * bridge's.
 *
 * `npm run bench -- load`. HOB_BENCH_LOAD_SECONDS (default 120),
 * HOB_BENCH_LOAD_CLIENTS (default 240) and HOB_BENCH_LOAD_SANDBOXES (default 3,
 * what TCG manages on two cores) scale it.
 */
import { randomBytes } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestDaemon } from '../test/helpers/daemon.js';
import type { HttpResult } from '../test/helpers/http.js';
import type { Record } from './measure.js';

const SECONDS = Number(process.env.HOB_BENCH_LOAD_SECONDS ?? 120);
const CLIENTS = Number(process.env.HOB_BENCH_LOAD_CLIENTS ?? 240);
const SANDBOXES = Number(process.env.HOB_BENCH_LOAD_SANDBOXES ?? 3);
const MEMORY_MIB = 256;
/** A request that has not answered after this long counts as failed (hob's own deadlines are shorter). */
const REQUEST_TIMEOUT_MS = 60_000;
/** A web server that answers every request at once. */
const GUEST_SERVER = "require('http').createServer((q, s) => s.end('ok')).listen(8080)";

type Kind = 'exec' | 'fs write' | 'fs read' | 'url';
const KINDS: readonly Kind[] = ['exec', 'fs write', 'fs read', 'url'];

interface Tally {
  readonly latencies: Map<Kind, number[]>;
  requests: number;
  throttled: number;
  /** Failures other than 429, by kind and cause ("exec 500", "url timeout", "fs read content"). */
  readonly failures: Map<string, number>;
  /** The first few failures, in words. */
  readonly samples: string[];
}

const percentile = (values: readonly number[], p: number): number => {
  const s = [...values].sort((a, b) => a - b);
  return s.length === 0 ? NaN : (s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number);
};

async function hobdRssMiB(d: TestDaemon): Promise<number> {
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes('daemon/hobd.ts') && cmdline.includes(join(d.stateDir, '..')) && !cmdline.startsWith('ip\0') && !cmdline.startsWith('nsenter\0')) {
      const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
      const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
      if (Number.isFinite(kb)) return kb / 1024;
    }
  }
  return NaN;
}

function withTimeout<T>(promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timeout')), REQUEST_TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export async function benchLoad(d: TestDaemon, record: Record): Promise<void> {
  const names = Array.from({ length: SANDBOXES }, (_, i) => `load-${i}`);
  const api = async (method: string, path: string, body?: object): Promise<HttpResult> => {
    const r = await d.request({ method, path, ...(body ? { body } : {}) });
    if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${r.text()}`);
    return r;
  };
  const url = (name: string): Promise<HttpResult> => d.tcpRequest({ path: '/', headers: { host: `${name}.localhost:${d.port}`, authorization: `Bearer ${d.token}` } });

  try {
    process.stderr.write(`hob bench load: booting ${SANDBOXES} sandboxes\n`);
    for (const name of names) {
      await api('POST', '/v1/sandboxes', { name, config: { ram_mb: MEMORY_MIB } });
      await api('POST', `/v1/sandboxes/${name}/exec`, { command: ['sh', '-c', `echo "${GUEST_SERVER}" > /root/web.js && setsid -f /opt/hob/node /root/web.js >/dev/null 2>&1 </dev/null`] });
    }
    for (const name of names) {
      for (let i = 0; (await url(name).catch(() => undefined))?.status !== 200; i++) {
        if (i > 240) throw new Error(`the web server in ${name} does not answer`);
        await new Promise((r) => setTimeout(r, 500));
      }
    }

    const tally: Tally = { latencies: new Map(KINDS.map((k) => [k, []])), requests: 0, throttled: 0, failures: new Map(), samples: [] };
    const fail = (kind: Kind, cause: string, what: string): void => {
      const key = `${kind} ${cause}`;
      tally.failures.set(key, (tally.failures.get(key) ?? 0) + 1);
      if (tally.samples.length < 10) tally.samples.push(`${what}: ${cause}`);
    };
    /** One request: timed, classified; returns the result when it succeeded. */
    const measure = async (kind: Kind, what: string, call: () => Promise<HttpResult>, check?: (r: HttpResult) => boolean): Promise<HttpResult | undefined> => {
      tally.requests++;
      const t0 = performance.now();
      try {
        const r = await withTimeout(call());
        const ms = performance.now() - t0;
        if (r.status === 429) {
          tally.throttled++;
          return undefined;
        }
        if (r.status < 200 || r.status >= 300) {
          fail(kind, String(r.status), `${what} (${r.text().slice(0, 200)})`);
          return undefined;
        }
        if (check && !check(r)) {
          fail(kind, 'content', what);
          return undefined;
        }
        tally.latencies.get(kind)?.push(ms);
        return r;
      } catch (err) {
        fail(kind, (err as NodeJS.ErrnoException).code ?? (err as Error).message, what);
        return undefined;
      }
    };

    const rssStart = await hobdRssMiB(d);
    let rssPeak = rssStart;
    const sampler = setInterval(() => {
      void hobdRssMiB(d).then((mib) => {
        if (mib > rssPeak) rssPeak = mib;
      });
    }, 2000);
    const deadline = Date.now() + SECONDS * 1000;
    process.stderr.write(`hob bench load: ${CLIENTS} clients for ${SECONDS} s over ${SANDBOXES} sandboxes\n`);

    const client = async (id: number): Promise<void> => {
      for (let round = 0; Date.now() < deadline; round++) {
        const name = names[Math.floor(Math.random() * names.length)] as string;
        const pick = Math.random();
        if (pick < 0.4) {
          await measure('exec', `exec in ${name}`, () => d.request({ method: 'POST', path: `/v1/sandboxes/${name}/exec`, body: { command: ['true'] } }));
        } else if (pick < 0.7) {
          const path = `/tmp/load-${id}-${round % 4}`;
          const data = randomBytes(4096);
          const wrote = await measure('fs write', `write ${name}:${path}`, () =>
            d.request({ method: 'PUT', path: `/v1/sandboxes/${name}/fs/write?path=${encodeURIComponent(path)}`, body: data, headers: { 'content-type': 'application/octet-stream' } }),
          );
          if (wrote) await measure('fs read', `read ${name}:${path}`, () => d.request({ path: `/v1/sandboxes/${name}/fs/read?path=${encodeURIComponent(path)}` }), (r) => r.body.equals(data));
        } else {
          await measure('url', `URL of ${name}`, () => url(name), (r) => r.text() === 'ok');
        }
      }
    };
    const started = performance.now();
    await Promise.all(Array.from({ length: CLIENTS }, (_, i) => client(i)));
    const elapsedS = (performance.now() - started) / 1000;
    clearInterval(sampler);
    const rssEnd = await hobdRssMiB(d);

    const failed = [...tally.failures.values()].reduce((a, b) => a + b, 0);
    const causes = [...tally.failures].map(([cause, n]) => `${cause} x${n}`).join(', ');
    record(`load: requests (${CLIENTS} clients, ${SANDBOXES} sandboxes, ${elapsedS.toFixed(0)} s)`, tally.requests, 'requests', `${(tally.requests / elapsedS).toFixed(1)}/s`);
    record('load: failures other than 429', failed, 'requests', causes || 'none');
    record('load: 429 (throttled)', tally.throttled, 'requests');
    for (const kind of KINDS) {
      const l = tally.latencies.get(kind) ?? [];
      record(`load: ${kind} p50 (${l.length} ok)`, percentile(l, 50), 'ms');
      record(`load: ${kind} p99`, percentile(l, 99), 'ms');
    }
    record('load: hobd RSS at start', rssStart, 'MiB');
    record('load: hobd RSS at end', rssEnd, 'MiB', `peak ${rssPeak.toFixed(0)} MiB`);
    for (const sample of tally.samples) process.stderr.write(`  failure: ${sample}\n`);
    const errors = d.logs().split('\n').filter((l) => /unexpected|uncaught|unhandled/i.test(l));
    record('load: unexpected errors in hobd log', errors.length, 'lines');
    for (const line of errors.slice(0, 10)) process.stderr.write(`  hobd: ${line.slice(0, 300)}\n`);
  } finally {
    for (const name of names) await d.request({ method: 'DELETE', path: `/v1/sandboxes/${name}` }).catch(() => undefined);
  }
}
