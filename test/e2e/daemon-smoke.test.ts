import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.js';

describe('hobd smoke', () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startTestDaemon();
  });
  afterAll(async () => {
    await d?.stop();
  });

  it('creates a sandbox, runs a command in it, removes it', async () => {
    const created = await d.request({ method: 'POST', path: '/v1/sandboxes', body: { name: 'smoke' } });
    expect(created.status, created.text()).toBe(201);
    const ran = await d.request({ method: 'POST', path: '/v1/sandboxes/smoke/exec', body: { command: ['uname', '-a'] } });
    expect(ran.status, ran.text()).toBe(200);
    expect(ran.json<{ stdout: string; exit_code: number }>().exit_code).toBe(0);
    const removed = await d.request({ method: 'DELETE', path: '/v1/sandboxes/smoke' });
    expect(removed.status).toBe(204);
  });
});
