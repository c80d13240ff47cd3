/**
 * The arm64 path on this host (issue 16, docs/architecture.md §4, §5), measured side by
 * side in one run:
 * - image build time (the image stage, forced; the Debian base trees come from the
 *   cache unless HOB_BENCH_FORCE_BASE=1, which rebuilds them too: the arm64 one under
 *   qemu-user took 6 min on 2 quiet cores, 25 min on busy ones) and size, arm64 (cross on x86_64) vs amd64;
 * - boot to agent-ready (create through the API until the sandbox runs, then one
 *   `exec true`) of an arm64 guest vs an amd64 guest, both under TCG, in one daemon
 *   with vmm.allowForeignArch. The ratio is what the arm64 e2e test costs over an x86 one.
 * On an aarch64 host, "cross" is the amd64 image instead. Run by name only: `npm run bench -- arm64`.
 */
import { stat } from 'node:fs/promises';
import { buildImage, type GuestArch } from '../guest-image/build/index.js';
import { startTestDaemon } from '../test/helpers/daemon.js';
import { median, time, type Record } from './measure.js';

const MiB = 1024 ** 2;

async function sizes(rootfs: string): Promise<{ apparent: number; allocated: number }> {
  const st = await stat(rootfs);
  return { apparent: st.size / MiB, allocated: (st.blocks * 512) / MiB };
}

export async function benchArm64(record: Record): Promise<void> {
  const forceBase = process.env.HOB_BENCH_FORCE_BASE === '1';
  const built: { [A in GuestArch]?: string } = {};
  const buildMs: { [A in GuestArch]?: number } = {};
  for (const arch of ['x86_64', 'aarch64'] as const) {
    const label = arch === 'aarch64' ? 'arm64' : 'amd64';
    const [ms, r] = await time(() => buildImage({ variant: 'minimal', arch, force: true, forceBase }));
    built[arch] = r.paths.dir;
    buildMs[arch] = ms;
    const s = await sizes(r.paths.rootfs);
    record(`${label} minimal image build${forceBase ? ' (base tree included)' : ' (image stage, cached base)'}`, ms / 1000, 's');
    record(`${label} minimal rootfs.img allocated (apparent ${s.apparent.toFixed(0)} MiB)`, s.allocated, 'MiB');
    record(`${label} kernel`, (await stat(r.paths.kernel)).size / MiB, 'MiB', arch === 'aarch64' ? 'uncompressed Image' : 'bzImage');
  }
  record('arm64 vs amd64 image build time', buildMs.aarch64! / buildMs.x86_64!, 'ratio');

  const d = await startTestDaemon({ images: { arm64: built.aarch64! }, allowForeignArch: true });
  try {
    const bootMs = async (image: string, name: string): Promise<number> => {
      const [ms] = await time(async () => {
        const r = await d.request({ method: 'POST', path: '/v1/sandboxes', body: { name, image } });
        if (r.status !== 201) throw new Error(`create ${name}: ${r.status} ${r.text()}`);
        const e = await d.request({ method: 'POST', path: `/v1/sandboxes/${name}/exec`, body: { command: ['true'] } });
        if (e.status !== 200) throw new Error(`exec in ${name}: ${e.status} ${e.text()}`);
      });
      const del = await d.request({ method: 'DELETE', path: `/v1/sandboxes/${name}` });
      if (del.status !== 204) throw new Error(`delete ${name}: ${del.status}`);
      return ms;
    };
    // Alternating, so that a change in the host's load hits both alike.
    const amd: number[] = [];
    const arm: number[] = [];
    for (let i = 0; i < 2; i++) {
      amd.push(await bootMs('minimal', `b-amd-${i}`));
      arm.push(await bootMs('arm64', `b-arm-${i}`));
    }
    record('amd64 boot to agent-ready under TCG, median of 2', median(amd), 'ms');
    record('arm64 boot to agent-ready under TCG, median of 2', median(arm), 'ms');
    record('arm64 vs amd64 boot under TCG', median(arm) / median(amd), 'ratio');
  } finally {
    await d.stop();
  }
}
