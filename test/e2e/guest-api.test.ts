/**
 * The API inside the guest on real VMs (issue 14 item 2, docs/architecture.md
 * §14): `sprite-env` in a sandbox reaches /.sprite/api.sock, the agent relays
 * to hobd, and hobd answers for that sandbox only. Two sandboxes: `ga1`
 * carries the cases in order (info, a checkpoint the host sees, tasks, a
 * restore asked from inside), `ga2` tries to reach `ga1`'s resources.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { sandboxShell } from '../helpers/sandbox-exec.js';

const A = 'ga1';
const B = 'ga2';

interface CheckpointJson {
  id: string;
  comment: string;
  is_auto: boolean;
}

describe('the API inside the guest', () => {
  let d: TestDaemon;
  const { exec, ok } = sandboxShell(() => d);
  const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  const spriteEnv = (name: string, args: string[]) => exec(name, `sprite-env ${args.map(q).join(' ')}`);
  const hostCheckpoints = async (name: string, all = false): Promise<CheckpointJson[]> => {
    const r = await d.cli(['checkpoint', 'ls', ...(all ? ['--all'] : []), name, '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as CheckpointJson[];
  };

  beforeAll(async () => {
    d = await startTestDaemon();
    const created = await Promise.all([A, B].map((name) => d.request({ method: 'POST', path: '/v1/sandboxes', body: { name } })));
    for (const r of created) expect(r.status, r.text()).toBe(201);
    // hobd opens the relay on its next idle tick after the boot (about a second).
    for (const name of [A, B]) {
      for (let i = 0; i < 60; i++) {
        if ((await spriteEnv(name, ['info'])).exit_code === 0) break;
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  });
  afterAll(async () => {
    await d?.stop();
  });

  it('tells each sandbox its own name, and hob-env is the same command', async () => {
    expect(JSON.parse(await ok(A, 'sprite-env info'))).toMatchObject({ name: A });
    expect(JSON.parse(await ok(B, 'hob-env info'))).toMatchObject({ name: B });
    // Any user of the sandbox may use it (the socket is 0666).
    const asNobody = await d.request({ method: 'POST', path: `/v1/sandboxes/${B}/exec?user=nobody`, body: { command: ['sh', '-c', 'id -un && ls -l /.sprite/api.sock && hob-env info'] } });
    const out = asNobody.json<{ stdout: string; stderr: string; exit_code: number }>();
    expect(out.exit_code, out.stderr).toBe(0);
    expect(out.stdout).toMatch(/^nobody\nsrw-rw-rw- /);
    expect(out.stdout).toContain(`"name": "${B}"`);
    expect(await ok(A, 'sprite-env --help')).toContain('checkpoints create');
    expect(JSON.parse(await ok(A, 'sprite-env services list'))).toEqual([]);
  });

  it('takes a checkpoint asked for inside, which the host sees', async () => {
    const out = await ok(A, `sprite-env checkpoints create --comment 'from inside'`);
    expect(out).toContain('Checkpoint v1 created');
    expect((await hostCheckpoints(A)).map((c) => [c.id, c.comment])).toEqual([['v1', 'from inside']]);
    const inside = JSON.parse(await ok(A, 'sprite-env checkpoints list')) as CheckpointJson[];
    expect(inside.map((c) => c.id)).toEqual(['v1']);
  });

  it('gives one sandbox no way to reach another', async () => {
    // One node in the guest makes every request on the raw socket (a node start costs seconds under TCG).
    const paths = [`/v1/sprites/${A}`, `/v1/sprites/${A}/checkpoints`, `/v1/sandboxes/${A}/checkpoint`, `/v1/checkpoints/../../sprites/${A}`, `/v1/checkpoints/%2e%2e%2f%2e%2e%2fsprites%2f${A}`, '/v1/sprites', `/v1/checkpoints/v1/../../../sprites/${A}/checkpoints`];
    const probe = `
      const http = require('node:http');
      const ask = (method, path, body) => new Promise((ok) => {
        const req = http.request({ socketPath: '/.sprite/api.sock', method, path, headers: { host: 'sprite', 'content-type': 'application/json' } }, (res) => { res.resume(); res.on('end', () => ok(res.statusCode)); });
        req.on('error', (e) => ok(String(e)));
        req.end(body);
      });
      (async () => {
        const out = [];
        for (const path of ${JSON.stringify(paths)}) for (const method of ['GET', 'POST', 'DELETE']) out.push(method + ' ' + path + ' ' + await ask(method, path));
        out.push('own v1 ' + await ask('GET', '/v1/checkpoints/v1'));
        out.push('restore v1 ' + await ask('POST', '/v1/checkpoints/v1/restore'));
        out.push('named ' + await ask('POST', '/v1/checkpoint', JSON.stringify({ comment: 'mine', name: '${A}', sandbox: '${A}' })));
        console.log(out.join('\\n'));
      })();`;
    const r = await d.request({ method: 'POST', path: `/v1/sandboxes/${B}/exec`, body: { command: ['/opt/hob/node', '-e', probe] } });
    expect(r.status, r.text()).toBe(200);
    const lines = r.json<{ stdout: string; stderr: string }>().stdout.trim().split('\n');
    const expected = paths.flatMap((path) => ['GET', 'POST', 'DELETE'].map((method) => `${method} ${path} 404`));
    // B has no v1 of its own (A's is not found from B), and a body naming A makes a checkpoint of B.
    expect(lines).toEqual([...expected, 'own v1 404', 'restore v1 404', 'named 200']);
    expect((await hostCheckpoints(B)).map((c) => c.comment)).toEqual(['mine']);
    expect((await hostCheckpoints(A)).map((c) => c.comment)).toEqual(['from inside']);
  });

  it('holds the sandbox awake with a task, and lets go when the last one goes', async () => {
    const task = JSON.parse(await ok(A, 'sprite-env tasks create work --expire 10m')) as { name: string; expires_at: string };
    expect(task.name).toBe('work');
    const held = (await d.request({ path: `/v1/sandboxes/${A}` })).json<{ keep_awake_until: string | null }>();
    expect(held.keep_awake_until).not.toBeNull();
    expect(Math.abs(Date.parse(held.keep_awake_until!) - Date.parse(task.expires_at))).toBeLessThan(2000);
    expect((JSON.parse(await ok(A, 'sprite-env tasks list')) as { tasks: unknown[] }).tasks).toHaveLength(1);
    expect((await spriteEnv(A, ['tasks', 'create', 'work'])).stderr).toMatch(/409/);
    await ok(A, 'sprite-env tasks delete work');
    expect((await d.request({ path: `/v1/sandboxes/${A}` })).json<{ keep_awake_until: string | null }>().keep_awake_until).toBeNull();
    expect((await spriteEnv(A, ['tasks', 'create', 'long', '--expire', '2h'])).exit_code).toBe(1);
  });

  it('restores itself after answering the request', async () => {
    await ok(A, 'echo after > /root/after.txt && sync');
    const answer = await spriteEnv(A, ['checkpoints', 'restore', 'v1']);
    // The request came back, answered, from a guest still running: the restore comes after.
    expect(answer.exit_code, answer.stderr).toBe(0);
    expect(JSON.parse(answer.stdout)).toMatchObject({ status: 'scheduled', checkpoint: 'v1' });
    let restored = false;
    for (let i = 0; i < 240 && !restored; i++) {
      await new Promise((r) => setTimeout(r, 1000));
      const autos = (await hostCheckpoints(A, true)).filter((c) => c.is_auto);
      if (autos.length === 0) continue;
      const r = await d.request({ method: 'POST', path: `/v1/sandboxes/${A}/exec`, body: { command: ['sh', '-c', 'test -e /root/after.txt && echo still || echo gone'] } });
      if (r.status === 200 && r.json<{ stdout: string }>().stdout.trim() === 'gone') restored = true;
    }
    expect(restored).toBe(true);
    // The state before was kept as an automatic checkpoint, as for a restore from the host.
    expect((await hostCheckpoints(A, true)).filter((c) => c.is_auto)).toHaveLength(1);
  });
});
