/**
 * kill -9 of hobd during a template build (docs/architecture.md §17, §21), part of
 * `npm run bench -- crash`: for each of the build's crash points (VM booted, memory saved,
 * committed but not renamed into place, in place) hobd dies there, starts again, and must
 * then: never use a half template (the build starts over: a ready template is only one that
 * was complete), leave no staging volume, template VMM or namespace behind, and build a
 * template that serves a warm create. The CI test (test/e2e/templates.test.ts) runs one point.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CrashPoint } from '../daemon/core/crash-point.js';
import { startCrashHarness, type CrashHarness } from '../test/helpers/crash.js';
import type { Record } from './measure.js';

const POINTS: readonly CrashPoint[] = ['template.booted', 'template.saved', 'template.committing', 'template.committed'];

export async function benchTemplateBuildCrashes(record: Record): Promise<void> {
  const h = await startCrashHarness({ templates: true });
  const failures: string[] = [];
  try {
    await waitTemplate(h);
    for (const [i, point] of POINTS.entries()) {
      try {
        const removed = await h.d.request({ method: 'DELETE', path: '/v1/templates/minimal' });
        if (removed.status >= 300) throw new Error(`removing the template: ${removed.status} ${removed.text()}`);
        // The build runs in the background: the operation lasts until the template is ready (or hobd died).
        await h.crashAt(point, async () => {
          await h.d.request({ method: 'POST', path: '/v1/templates/minimal' });
          await waitTemplate(h);
        });
        // The restarted hobd builds again by itself (at start-up, for an image without a current template).
        await waitTemplate(h);
        const problems = [...(await strays(h)), ...(await h.problems([]))];
        const created = await h.d.request({ method: 'POST', path: '/v1/sandboxes', body: { name: `tc-${i}` }, headers: { accept: 'application/x-ndjson' } });
        if (!created.text().includes('Resuming the template VM')) problems.push(`the create after the rebuild did not resume the template: ${created.text().slice(-500)}`);
        await h.d.request({ method: 'DELETE', path: `/v1/sandboxes/tc-${i}?force=true` });
        if (problems.length > 0) failures.push(`template build @ ${point}: ${problems.join('; ')}`);
        process.stderr.write(`  ${problems.length === 0 ? 'pass' : 'FAIL'} template build @ ${point}\n`);
      } catch (err) {
        failures.push(`template build @ ${point}: ${(err as Error).message}`);
        process.stderr.write(`  FAIL template build @ ${point}: ${(err as Error).message}\n`);
        if ((await h.d.request({ path: '/healthz' }).catch(() => undefined))?.status !== 200) await h.d.restart();
      }
    }
  } finally {
    await h.stop();
  }
  record('crash matrix: template build runs passed', POINTS.length - failures.length, `of ${POINTS.length}`);
  for (const f of failures) process.stderr.write(`crash matrix failure: ${f}\n`);
}

async function waitTemplate(h: CrashHarness): Promise<void> {
  for (let i = 0; i < 900; i++) {
    const r = await h.d.request({ path: '/v1/templates' });
    const t = r.json<{ templates: { image: string; state: string; detail: string | null }[] }>().templates.find((x) => x.image === 'minimal');
    if (t?.state === 'ready') return;
    if (t?.state === 'failed') throw new Error(`the template build failed: ${t.detail}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new Error('no template after 15 minutes');
}

/** What an interrupted build may not leave once a build has finished since. */
async function strays(h: CrashHarness): Promise<string[]> {
  const out: string[] = [];
  const building = (await readdir(join(h.d.stateDir, 'pool', 'templates'))).filter((n) => n.startsWith('_build_'));
  if (building.length > 0) out.push(`staging volumes left: ${building.join(', ')}`);
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(`${h.d.runDir}/vms/tpl`) && !cmdline.includes('daemon/hobd.ts')) out.push(`template VMM ${pid} left running`);
  }
  const netns = (await readdir('/run/netns').catch(() => [] as string[])).filter((n) => n.startsWith(`${h.d.netnsPrefix}tpl`));
  if (netns.length > 0) out.push(`template namespaces left: ${netns.join(', ')}`);
  return out;
}
