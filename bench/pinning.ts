/**
 * Is pinning a VM's vCPU threads to one kind of core worth a setting
 * (docs/architecture.md §15)? On a big.LITTLE host (the DGX Spark's
 * Cortex-X925 + A725) the question is whether a vCPU that the scheduler puts
 * on a small core costs enough to pin. This machine has identical cores, so
 * what it can measure is the other half: the cost or gain of confining every
 * thread of the VMM (vCPUs, I/O, TCG's translation) to one core against
 * letting the scheduler spread them, for a CPU-bound guest workload.
 *
 * One sandbox, 2 vCPUs; the workload runs the same busy loop in 2 guest
 * processes (one per vCPU) and is timed through the exec API. Rounds
 * alternate: unpinned, pinned to the first CPU (taskset -a on the VMM's
 * pid), unpinned, pinned to the last CPU; medians per placement. Under
 * TCG each vCPU is a host thread (MTTCG), as under KVM.
 */
import { readdir, readFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { execa } from 'execa';
import { startTestDaemon } from '../test/helpers/daemon.js';
import { median, time, type Record } from './measure.js';

const ROUNDS = 5;
const LOOP = 'i=0; while [ $i -lt 150000 ]; do i=$((i+1)); done';

async function vmmPid(stateDir: string, sandboxId: string): Promise<number> {
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.startsWith('qemu-system') || cmdline.includes('/qemu-system')) {
      if (cmdline.includes(sandboxId) || cmdline.includes(stateDir)) return Number(entry);
    }
  }
  throw new Error(`no VMM process found for sandbox ${sandboxId}`);
}

export async function benchPinning(record: Record): Promise<void> {
  const last = cpus().length - 1;
  const d = await startTestDaemon({ cpus: 2 });
  try {
    const created = await d.request({ method: 'POST', path: '/v1/sandboxes', body: { name: 'pin', config: { cpus: 2, ram_mb: 512 } } });
    if (created.status !== 200 && created.status !== 201) throw new Error(`create: ${created.status} ${created.text()}`);
    const id = created.json<{ id: string }>().id;
    const pid = await vmmPid(d.stateDir, id);
    const workload = async (): Promise<number> => {
      const [ms, r] = await time(() => d.request({ method: 'POST', path: '/v1/sandboxes/pin/exec', body: { command: ['sh', '-c', `(${LOOP}) & (${LOOP}) & wait`], timeout: 600 } }));
      if (r.status !== 200) throw new Error(`exec: ${r.status} ${r.text()}`);
      return ms / 1000;
    };
    const place = (cpuList: string) => execa('taskset', ['-a', '-p', '-c', cpuList, String(pid)]);
    const all = `0-${last}`;
    await workload(); // warm: the guest's page cache and TCG's translations
    const spread: number[] = [];
    const first: number[] = [];
    const lastOnly: number[] = [];
    const load: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      load.push(loadavg()[0] ?? NaN);
      await place(all);
      spread.push(await workload());
      await place('0');
      first.push(await workload());
      await place(all);
      spread.push(await workload());
      await place(String(last));
      lastOnly.push(await workload());
    }
    await place(all);
    const note = `2 vCPUs busy, TCG, ${cpus().length} host CPUs, load average ${median(load).toFixed(1)} during the run`;
    record('pinning: workload, threads free on all CPUs', median(spread), 's', note);
    record('pinning: workload, threads pinned to cpu 0', median(first), 's', note);
    record(`pinning: workload, threads pinned to cpu ${last}`, median(lastOnly), 's', note);
    record('pinning: pinned to one cpu / free (ratio)', median([...first, ...lastOnly]) / median(spread), 'x', note);
  } finally {
    await d.stop();
  }
}
