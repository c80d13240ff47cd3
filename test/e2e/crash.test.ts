/**
 * kill -9 of hobd in the middle of every lifecycle operation (issue 12,
 * "Crashes"), reduced for CI: one crash point per operation (named points, see
 * daemon/core/crash-point.ts), one test daemon restarted after each crash, one
 * main sandbox carried through the steps in order. After every restart
 * `problems()` (test/helpers/crash.ts) checks: no orphan VMM process, mount,
 * loop device, namespace, veth or subvolume; the database matches the disk;
 * every checkpoint the API reported is listed with its files; the sandbox ends
 * usable (a write in the guest succeeds, so it is not left frozen; `error`
 * comes back with start). The full matrix is `npm run bench -- crash`.
 *
 * Also: a guest whose agent stops answering (SIGSTOPped from inside) does not
 * make `hob stop` hang, and `hob rm` works afterwards (issue 12 finding 6).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCrashHarness, type CrashHarness } from '../helpers/crash.js';

const A = 'ca';

describe('kill -9 of hobd during each operation (one point each)', () => {
  let h: CrashHarness;
  let diskCp = '';
  let liveCp = '';

  beforeAll(async () => {
    h = await startCrashHarness();
    const r = await h.d.request({ method: 'POST', path: '/v1/sandboxes', body: { name: A } });
    expect(r.status, r.text()).toBe(201);
  });
  afterAll(async () => {
    await h?.stop();
  });

  const post = (path: string, body: object = {}) => h.d.request({ method: 'POST', path, body });
  const sh = async (name: string, script: string): Promise<string> => {
    const r = await post(`/v1/sandboxes/${name}/exec`, { command: ['sh', '-c', script] });
    expect(r.status, r.text()).toBe(200);
    const out = r.json<{ stdout: string; stderr: string; exit_code: number }>();
    expect(out.exit_code, out.stderr).toBe(0);
    return out.stdout;
  };
  const state = async (name: string): Promise<string> => (await h.d.request({ path: `/v1/sandboxes/${name}` })).json<{ state: string }>().state;
  const checkpoint = async (name: string, memory: boolean): Promise<string> => {
    const r = await post(`/v1/sandboxes/${name}/checkpoint`, { memory });
    const id = /Checkpoint (v\d+) created/.exec(r.text())?.[1];
    expect(id, r.text()).toBeDefined();
    h.reported.push({ sandbox: name, id: id!, kind: memory ? 'live' : 'disk' });
    return id!;
  };
  const expectGone = async (name: string): Promise<void> => {
    const r = await h.d.request({ path: `/v1/sandboxes/${name}` });
    expect(r.status, `${r.text()}\n${h.d.logs().split('\n').slice(-40).join('\n')}`).toBe(404);
  };
  const expectClean = async (usable: readonly string[]): Promise<void> => {
    const problems = await h.problems(usable);
    expect(problems, h.d.logs().split('\n').slice(-40).join('\n')).toEqual([]);
  };

  it('create: crash after the boot, before the row says running → the create is undone', async () => {
    await h.crashAt('create.booted', () => post('/v1/sandboxes', { name: 'cb' }));
    await expectGone('cb');
    await expectClean([A]);
  });

  it('checkpoint (disk): crash with the guest frozen → no row, guest thawed', async () => {
    await sh(A, 'echo at-disk-checkpoint > /root/marker && sync');
    await h.crashAt('checkpoint.quiesced', () => post(`/v1/sandboxes/${A}/checkpoint`, {}));
    await expectClean([A]);
    diskCp = await checkpoint(A, false);
    await sh(A, 'echo after-disk-checkpoint > /root/marker && sync');
  });

  it('checkpoint (memory): crash with the memory saved → the paused VM is adopted, not killed', async () => {
    await sh(A, 'echo in-memory > /tmp/kept-in-ram');
    await h.crashAt('checkpoint-live.memory-saved', () => post(`/v1/sandboxes/${A}/checkpoint`, { memory: true }));
    expect(await state(A)).toBe('paused');
    await expectClean([A]);
    // Its memory survived: a file only in its tmpfs is still there.
    expect(await sh(A, 'cat /tmp/kept-in-ram')).toContain('in-memory');
    liveCp = await checkpoint(A, true);
  });

  it('sleep (pause): crash after the pause, before the row says paused → adopted paused', async () => {
    await h.crashAt('sleep.paused', () => post(`/v1/sandboxes/${A}/sleep`));
    expect(await state(A)).toBe('paused');
    await expectClean([A]);
  });

  it('wake (from pause): crash after the resume, before the row says running → adopted running', async () => {
    expect((await post(`/v1/sandboxes/${A}/sleep`)).status).toBe(200);
    await h.crashAt('wake.resumed', () => post(`/v1/sandboxes/${A}/wake`));
    expect(await state(A)).toBe('running');
    await expectClean([A]);
  });

  it('sleep (hibernate): crash after the row says hibernated, before the VMM is killed → hibernated', async () => {
    await h.crashAt('hibernate.row-written', () => post(`/v1/sandboxes/${A}/sleep`, { hibernate: true }));
    expect(await state(A)).toBe('hibernated');
    await expectClean([]);
  });

  it('wake (from hibernation): crash after the resume → still hibernated, wakes from its memory', async () => {
    await h.crashAt('wake.memory-resumed', () => post(`/v1/sandboxes/${A}/wake`));
    expect(await state(A)).toBe('hibernated');
    await expectClean([A]);
    expect(await sh(A, 'cat /tmp/kept-in-ram')).toContain('in-memory');
  });

  it('fork (live): crash before the fork has its identity → undone', async () => {
    await h.crashAt('fork.live-resumed', () => post(`/v1/sandboxes/${A}/fork`, { name: 'cc', from: liveCp }));
    await expectGone('cc');
    await expectClean([A]);
  });

  it('fork (disk): crash with the disk made, before the boot → undone', async () => {
    await h.crashAt('fork.disk', () => post(`/v1/sandboxes/${A}/fork`, { name: 'cd', from: diskCp }));
    await expectGone('cd');
    await expectClean([A]);
  });

  it('rm: crash after the VM is killed → the remove is finished', async () => {
    // From the disk checkpoint: a fork resumed from memory is the live fork step's business.
    const forked = await post(`/v1/sandboxes/${A}/fork`, { name: 'ce', from: diskCp });
    expect(forked.status, forked.text()).toBe(201);
    await h.crashAt('rm.vm-killed', () => h.d.request({ method: 'DELETE', path: '/v1/sandboxes/ce' }));
    await expectGone('ce');
    await expectClean([A]);
  });

  it('restore: crash with the checkpoint staged, before the disk is changed → the restore is finished at the restart, boots', async () => {
    await h.crashAt('restore.staged', () => post(`/v1/sandboxes/${A}/checkpoints/${diskCp}/restore`));
    await expectClean([A]);
    expect(await sh(A, 'cat /root/marker')).toContain('at-disk-checkpoint');
    // The live checkpoint is restorable after all of the above.
    const r = await post(`/v1/sandboxes/${A}/checkpoints/${liveCp}/restore`);
    expect(r.text()).toContain(`Restored to ${liveCp}`);
    expect(await sh(A, 'cat /tmp/kept-in-ram')).toContain('in-memory');
  });

  it('a guest whose agent stops answering: hob stop finishes, hob rm works', async () => {
    // The agent is the shell's parent; stopped a moment after the exec has answered.
    await sh(A, '(sleep 1; kill -STOP $PPID) >/dev/null 2>&1 </dev/null &');
    await new Promise((r) => setTimeout(r, 3_000));
    const started = Date.now();
    const stopped = await h.d.cli(['stop', A]);
    console.log(`hob stop with a stopped agent took ${Date.now() - started} ms`);
    expect(stopped.exitCode, stopped.stderr).toBe(0);
    expect(await state(A)).toBe('stopped');
    const removed = await h.d.cli(['rm', A]);
    expect(removed.exitCode, removed.stderr).toBe(0);
    // Its checkpoints went with it.
    h.reported.splice(0);
    await expectClean([]);
  });
});
