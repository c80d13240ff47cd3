/**
 * Sleep and wake measurements (issue 6, docs/architecture.md §7 and §10), as ratios
 * measured side by side in one run:
 * - first byte of an HTTP request through the sandbox URL to a paused sandbox
 *   vs to a running one (the paused one is resumed by the request);
 * - a hibernated sandbox woken by an exec (memory image restored) vs a cold
 *   boot of the same sandbox, both to the exec's answer;
 * - host memory (PSS and RSS of the VMM processes, plus hobd) of 6 sandboxes
 *   running, paused and hibernated.
 *
 * Sandboxes get 256 MiB of guest memory so that six fit anywhere. Under TCG
 * every boot takes tens of seconds: the suite boots 6 sandboxes plus 2 cold
 * boots, and takes roughly 5 to 15 minutes.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import type { TestDaemon } from '../test/helpers/daemon.js';
import { median, time, type Record } from './measure.js';

const MEMORY_MIB = 256;
const SANDBOXES = 6;
const WEB = 'idle-0';
/** A web server that answers every request at once. */
const GUEST_SERVER = "require('http').createServer((q, s) => s.end('ok')).listen(8080)";

/** Memory of one process, from /proc/PID/smaps_rollup, in MiB. */
interface ProcessMemory {
  readonly rssMiB: number;
  readonly pssMiB: number;
}

async function processMemory(pid: number): Promise<ProcessMemory> {
  const text = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8').catch(() => '');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0);
  return { rssMiB: kb('Rss') / 1024, pssMiB: kb('Pss') / 1024 };
}

/** Pids of processes whose command line contains `needle` (and, if given, `also`), leaving out `ip netns exec` wrappers. */
async function pidsWith(needle: string, also?: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(needle) && (also === undefined || cmdline.includes(also)) && !cmdline.startsWith('ip\0')) pids.push(Number(entry));
  }
  return pids;
}

export async function benchIdle(d: TestDaemon, record: Record): Promise<void> {
  const api = async (method: string, path: string, body?: object) => {
    const r = await d.request({ method, path, ...(body ? { body } : {}) });
    if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${r.text()}`);
    return r;
  };
  const exec = (name: string, script: string) => api('POST', `/v1/sandboxes/${name}/exec`, { command: ['sh', '-c', script] });
  const sleep = (name: string, hibernate: boolean) => api('POST', `/v1/sandboxes/${name}/sleep`, { hibernate });
  const idOf = async (name: string) => (await api('GET', `/v1/sandboxes/${name}`)).json<{ id: string }>().id;
  const names = Array.from({ length: SANDBOXES }, (_, i) => `idle-${i}`);

  // hobd's TCP listener (the URLs) is inside its namespace: a unix-socket bridge into it.
  const bridgeSocket = join(d.runDir, 'bench-url-bridge.sock');
  const [cmd, ...args] = [...d.netns.exec, 'socat', `UNIX-LISTEN:${bridgeSocket},fork,backlog=1024`, `TCP:127.0.0.1:${d.port}`];
  const bridge: ChildProcess = spawn(cmd!, args, { stdio: 'ignore' });
  try {
    await api('POST', '/v1/sandboxes', { name: WEB, config: { ram_mb: MEMORY_MIB } });
    await exec(WEB, `echo "${GUEST_SERVER}" > /root/web.js && setsid -f /opt/hob/node /root/web.js >/dev/null 2>&1 </dev/null`);

    /** Milliseconds to the response head of a GET through the URL (a fresh connection; the bridge adds the same to each). */
    const firstByte = (): Promise<number> =>
      new Promise((resolve, reject) => {
        const t0 = performance.now();
        const req = httpRequest(
          { socketPath: bridgeSocket, agent: false, path: '/', headers: { host: `${WEB}.localhost:${d.port}`, authorization: `Bearer ${d.token}` } },
          (res) => {
            const ms = performance.now() - t0;
            res.resume();
            res.on('end', () => (res.statusCode === 200 ? resolve(ms) : reject(new Error(`URL request: ${res.statusCode}`))));
          },
        );
        req.on('error', reject);
        req.end();
      });
    // The server needs a moment to listen (502 until then), the bridge to appear.
    for (let i = 0; ; i++) {
      try {
        await firstByte();
        break;
      } catch (err) {
        if (i > 240) throw err;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    const running: number[] = [];
    for (let i = 0; i < 10; i++) running.push(await firstByte());
    const paused: number[] = [];
    for (let i = 0; i < 5; i++) {
      await sleep(WEB, false);
      paused.push(await firstByte());
    }
    record('URL first byte, running sandbox (median of 10)', median(running), 'ms');
    record('URL first byte, paused sandbox (median of 5)', median(paused), 'ms', 'includes the resume; target warm wake <= 5 ms on KVM');
    record('URL first byte paused vs running', median(paused) / median(running), 'ratio');

    const wakes: number[] = [];
    for (let i = 0; i < 3; i++) {
      await sleep(WEB, true);
      wakes.push((await time(() => exec(WEB, 'true')))[0]);
    }
    const colds: number[] = [];
    for (let i = 0; i < 2; i++) {
      await api('POST', `/v1/sandboxes/${WEB}/stop`);
      colds.push((await time(() => exec(WEB, 'true')))[0]);
    }
    const coldMean = (colds[0]! + colds[1]!) / 2;
    record('hibernated -> exec done (median of 3)', median(wakes), 'ms', 'target cold wake <= 300 ms on KVM');
    record('cold boot -> exec done (mean of 2)', coldMean, 'ms');
    record('wake from hibernation vs cold boot', median(wakes) / coldMean, 'ratio');

    for (const name of names.slice(1)) await api('POST', '/v1/sandboxes', { name, config: { ram_mb: MEMORY_MIB } });
    const ids = await Promise.all(names.map(idOf));
    const hobdPid = (await pidsWith('daemon/hobd.ts', join(d.stateDir, '..')))[0];
    const memory = async (): Promise<{ vmm: ProcessMemory; hobd: ProcessMemory; processes: number }> => {
      let rss = 0;
      let pss = 0;
      let processes = 0;
      for (const id of ids) {
        for (const pid of await pidsWith(`${d.runDir}/vms/${id}`)) {
          const m = await processMemory(pid);
          rss += m.rssMiB;
          pss += m.pssMiB;
          processes++;
        }
      }
      const hobd = hobdPid ? await processMemory(hobdPid) : { rssMiB: NaN, pssMiB: NaN };
      return { vmm: { rssMiB: rss, pssMiB: pss }, hobd, processes };
    };
    // Every guest idle at a prompt-less steady state: each has answered an exec.
    for (const name of names) await exec(name, 'sync');
    await new Promise((r) => setTimeout(r, 5000));
    const up = await memory();
    for (const name of names) await sleep(name, false);
    const warm = await memory();
    for (const name of names) await sleep(name, true);
    const cold = await memory();
    const du = await execa('du', ['-sbc', ...ids.map((id) => join(d.stateDir, 'pool', 'sandboxes', id, 'memory'))], { reject: false });
    const imageBytes = Number(/^(\d+)\s+total$/m.exec(String(du.stdout))?.[1] ?? NaN);

    const total = (m: { vmm: ProcessMemory; hobd: ProcessMemory }) => m.vmm.pssMiB + m.hobd.pssMiB;
    record(`${SANDBOXES} running (${MEMORY_MIB} MiB guests): VMM PSS sum (${up.processes} processes)`, up.vmm.pssMiB, 'MiB', `RSS sum ${up.vmm.rssMiB.toFixed(0)} MiB`);
    record(`${SANDBOXES} running: VMM PSS + hobd PSS`, total(up), 'MiB', `hobd ${up.hobd.pssMiB.toFixed(0)} MiB`);
    record(`${SANDBOXES} paused: VMM PSS + hobd PSS`, total(warm), 'MiB', 'paused keeps the memory resident');
    record(`${SANDBOXES} hibernated: VMM PSS + hobd PSS (${cold.processes} VMM processes)`, total(cold), 'MiB', `hobd ${cold.hobd.pssMiB.toFixed(0)} MiB`);
    record(`${SANDBOXES} hibernated: memory images on disk`, imageBytes / 1024 ** 2, 'MiB');
    record(`host memory, ${SANDBOXES} hibernated vs ${SANDBOXES} running`, total(cold) / total(up), 'ratio');
  } finally {
    bridge.kill('SIGKILL');
    for (const name of names) await d.request({ method: 'DELETE', path: `/v1/sandboxes/${name}` }).catch(() => undefined);
  }
}
