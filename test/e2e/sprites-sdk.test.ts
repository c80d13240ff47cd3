/**
 * The official Sprites SDK (@fly/sprites) against hob's TCP listener, run as a
 * separate program inside hobd's network namespace (Node 20 needs
 * --experimental-websocket for the SDK's WebSocket).
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.js';

describe('official Sprites SDK against hob', () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startTestDaemon();
  });
  afterAll(async () => {
    await d?.stop();
  });

  it('creates, lists, gets, execs (pipes and TTY), writes and reads a file, checkpoints and restores, sets the network policy, deletes', async () => {
    const script = join(import.meta.dirname, 'sdk/sprites-client.mjs');
    const r = await d.inNetns([process.execPath, '--experimental-websocket', '--no-warnings', script], {
      env: { HOB_URL: d.baseUrl, HOB_TOKEN: d.token, SANDBOX: 'sdk-box' },
    });
    expect(r.exitCode, `${String(r.stderr)}\n${d.logs().slice(-3000)}`).toBe(0);
    const seen = JSON.parse(String(r.stdout)) as Record<string, unknown>;
    expect(seen.createdName).toBe('sdk-box');
    expect(seen.listed).toContain('sdk-box');
    expect(seen.got).toBe('sdk-box');
    expect(seen.execStdout).toBe('hello-from-sdk\n');
    expect(seen.execExitCode).toBe(0);
    expect(seen.failingExit).toBe(3);
    expect(seen.ttyExit).toBe(0);
    expect(seen.ttyOutput).toContain('is-a-tty');
    expect(seen.ttyOutput).toContain('33 101');
    expect(seen.readBack).toBe('written by the sdk\n');
    expect(seen.checkpointLast).toMatchObject({ type: 'complete', data: 'Checkpoint v1 created' });
    expect(seen.checkpoints).toEqual([{ id: 'v1', comment: 'from the sdk', isDate: true }]);
    expect(seen.checkpointGot).toBe('v1');
    expect(seen.restoreLast).toMatchObject({ type: 'complete' });
    expect(seen.afterRestore).toBe('written by the sdk\n');
    expect(seen.policy).toEqual({ rules: [{ domain: 'github.com', action: 'allow' }, { include: 'defaults' }] });
    expect(seen.badPolicy).toMatch(/^Invalid policy: .*rules\.0\.domain/);
    expect(seen.afterDelete).not.toContain('sdk-box');
  });
});
