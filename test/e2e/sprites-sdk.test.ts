/**
 * The official Sprites SDK (@fly/sprites) against hob's TCP listener, run as a
 * separate program inside hobd's network namespace (Node 20 needs
 * --experimental-websocket for the SDK's WebSocket).
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.js';

/** Methods sprites-client.mjs exercises that sprites-parity.mjs leaves to it (a restore costs a boot). */
const CHECKPOINT_METHODS = ['Sprite.createCheckpoint', 'Sprite.listCheckpoints', 'Sprite.getCheckpoint', 'Sprite.restoreCheckpoint'];

/** What hob refuses, and how the SDK reports it (everything else must work). */
const REFUSED: Record<string, RegExp> = {
  'SpritesClient.upgradeSprite': /^error: 501 hob has no platform version to upgrade sdk-parity to/,
  'Sprite.upgrade': /^error: 501 hob has no platform version to upgrade sdk-parity to/,
  'SpriteFilesystem.watch': /^error: hob cannot watch files in a sandbox yet/,
  'SpritesClient.createToken': /^not applicable: /,
};

describe('official Sprites SDK against hob', () => {
  let d: TestDaemon;
  let checkpointsWork = false;
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
    checkpointsWork = true;
  });

  it('every public method of SpritesClient, Sprite and SpriteFilesystem works against hob or fails with a clear error', async () => {
    const script = join(import.meta.dirname, 'sdk/sprites-parity.mjs');
    const r = await d.inNetns([process.execPath, '--experimental-websocket', '--no-warnings', script], {
      env: { HOB_URL: d.baseUrl, HOB_TOKEN: d.token, SANDBOX: 'sdk-parity', ...(process.env.PARITY_LOG ? { PARITY_LOG: process.env.PARITY_LOG } : {}) },
      timeoutMs: 600_000,
    });
    expect(r.exitCode, `${String(r.stderr)}\n${d.logs().slice(-3000)}`).toBe(0);
    const result = JSON.parse(String(r.stdout)) as { methods: Record<string, string>; seen: Record<string, any>; surface: string[] };
    const { methods, seen } = result;
    for (const m of CHECKPOINT_METHODS) methods[m] = checkpointsWork ? 'works' : 'not run';

    // The table covers the SDK's whole public surface, and nothing else.
    expect.soft(Object.keys(methods).sort()).toEqual(result.surface);
    const unexpected = Object.entries(methods).filter(([method, outcome]) => (REFUSED[method] ? !REFUSED[method]!.test(outcome) : outcome !== 'works'));
    expect.soft(unexpected).toEqual([]);
    const working = Object.values(methods).filter((o) => o === 'works').length;
    console.log(`Sprites JS SDK methods that work against hob: ${working}/${result.surface.length}`);

    // What the calls did.
    expect.soft(seen.got).toBe('sdk-parity');
    expect.soft(seen.listed).toEqual(['sdk-parity']);
    expect.soft(seen.listedAll).toEqual(['sdk-parity']);
    // The watch began before the create: the sandbox comes in as created.
    expect.soft(seen.watchFirst).toMatchObject({ type: 'created', name: 'sdk-parity', organization: { name: 'local' } });
    expect.soft(seen.updatedLabels).toEqual(['parity']);
    expect.soft(seen.spriteUpdatedLabels).toEqual(['parity', 'two']);
    expect.soft(seen.urlAuth).toBe('sprite');
    expect.soft(seen.check).toMatchObject({ spriteName: 'sdk-parity', status: 'healthy' });
    expect.soft(seen.spriteCheck).toBe('healthy');
    expect.soft(seen.exec).toBe('parity-exec\n');
    expect.soft(seen.execFile).toBe('42\n');
    expect.soft(seen.execFileHTTP).toBe('in-http\n');
    expect.soft(seen.spawn).toEqual({ code: 0, text: 'spawned-stdin' });
    expect.soft(seen.sessionListed).toBe(true);
    expect.soft(seen.attachReplayed).toBe(true);
    expect.soft(seen.killTypes).toContain('signal');
    expect.soft(seen.killTypes.at(-1)).toBe('complete');
    expect.soft(seen.useControlMode).toBe(true);
    expect.soft(seen.controlExec).toBe('via-control\n');
    expect.soft(seen.hasControlAfterExec).toBe(true);
    expect.soft(seen.controlOp).toEqual({ code: 5, text: 'op-out\n' });
    expect.soft(seen.hasControlAfterClose).toBe(false);
    expect.soft(seen.readFile).toBe('alpha\nbeta\n');
    expect.soft(seen.readJSON).toEqual({ x: 1 });
    expect.soft(seen.readdir).toEqual(['a.txt', 'k.json', 'sub']);
    expect.soft(seen.stat).toEqual({ size: 11, isFile: true });
    expect.soft(seen.exists).toEqual([true, false]);
    expect.soft(seen.copied).toBe('alpha\nbeta\n');
    expect.soft(seen.copiedTree).toEqual(['b.txt']);
    expect.soft(seen.copyDirError).toMatch(/^EISDIR: .*recursive/);
    expect.soft(seen.copyMissing).toBe('ENOENT');
    expect.soft(seen.mode).toBe(0o600);
    expect.soft(seen.owner).toBe('nobody:65534');
    expect.soft(seen.chownBadUser).toBe('EINVAL');
    expect.soft(seen.removed).toBe(true);
    expect.soft(seen.portList).toBe('port_list');
    expect.soft(seen.portOpened).toMatchObject({ type: 'port_opened', port: 3000 });
    expect.soft(seen.serviceCreate.at(-1)).toBe('complete');
    expect.soft(seen.services).toEqual(['echo']);
    expect.soft(seen.service).toBe('running');
    expect.soft(seen.logs).toBe(true);
    expect.soft(seen.proxyPort).toBe('through-the-proxy');
    expect.soft(seen.proxyPorts).toBe('through-the-proxy');
    expect.soft(seen.serviceRestart.at(-1)).toBe('complete');
    expect.soft(seen.serviceStop).toContain('stopped');
    expect.soft(seen.serviceStart.at(-1)).toBe('complete');
    expect.soft(seen.servicesAfter).toEqual([]);
    expect.soft(seen.network).toEqual({ rules: [] });
    expect.soft(seen.privileges).toEqual({ profile: 'privileged', devices: [], noNewPrivileges: false });
    expect.soft(seen.privilegesRefused).toMatch(/status 501.*does not restrict processes/);
    expect.soft(seen.resources).toEqual({ memory: { limitMB: 512, autoscale: false } });
    expect.soft(seen.resizeRunning).toMatch(/status 409.*stop it first/);
    expect.soft(seen.stoppedStatus).toBe('cold');
    expect.soft(seen.resized).toBe(384);
    expect.soft(seen.resetTo).toBe(512);
    expect.soft(seen.restart).toMatchObject({ spriteName: 'sdk-parity' });
    // The guest's total is its RAM less what the kernel keeps: below 384 MiB, well above 256.
    expect.soft(seen.memTotalKiB).toBeLessThanOrEqual(384 * 1024);
    expect.soft(seen.memTotalKiB).toBeGreaterThan(256 * 1024);
    expect.soft(seen.checkAfterRestart).toBe('healthy');
    expect.soft(seen.deleteAgain).toBe(404);
    expect.soft(seen.watchDeleted).toBe('deleted');
  }, 900_000);
});
