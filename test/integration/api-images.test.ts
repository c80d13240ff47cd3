/**
 * `/v1/images` (daemon/api/routes/images.ts) with the real PoolImageService:
 * a real loop-mounted btrfs pool, the real image builder (the minimal image,
 * which global-setup leaves in the build cache, so a build here only hashes
 * its inputs and imports), driven through the hob CLI (`hob images ...`) and
 * plain HTTP for what the CLI never sends.
 *
 * Needs root, btrfs and loop devices, and what the image builder needs;
 * skips with a message otherwise.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi, type Api } from '../../daemon/api/app.js';
import { imageRoutes } from '../../daemon/api/routes/images.js';
import { serveApi, type ApiServers } from '../../daemon/api/server.js';
import { TokenStore } from '../../daemon/auth/tokens.js';
import { runCli } from '../../daemon/cli/program.js';
import { PoolImageService } from '../../daemon/core/images.js';
import { SessionRegistry } from '../../daemon/core/sessions.js';
import type { SandboxService } from '../../daemon/core/types.js';
import { noSandboxService } from '../helpers/no-sandboxes.js';
import { closeDatabase, openDatabase, type HobDb } from '../../daemon/db/open.js';
import { NotFoundError } from '../../daemon/errors.js';
import { Pool } from '../../daemon/storage/index.js';
import { capturedIo } from '../helpers/cli-io.js';
import { unixRequest } from '../helpers/http.js';
import { ensureTestImage, imageBuildUnavailable } from '../helpers/image.js';

function missingPrerequisite(): string | undefined {
  if (process.getuid?.() !== 0) return 'root (mount, loop devices)';
  if (!existsSync('/dev/loop-control')) return 'loop devices (/dev/loop-control)';
  if (!existsSync('/sys/fs/btrfs')) return 'btrfs support in the kernel (/sys/fs/btrfs)';
  return imageBuildUnavailable() ?? undefined;
}
const missing = missingPrerequisite();
if (missing) console.warn(`images API tests skipped: missing ${missing}`);

/** The manager's answer for a box without sandboxes (the images API does not touch sandboxes). */
const noSandboxes: SandboxService = noSandboxService();

/** Mountpoints under `dir`, deepest first. */
async function mountsUnder(dir: string): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  return text
    .split('\n')
    .map((l) => (l.split(' ')[4] ?? '').replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((m) => m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

describe.skipIf(missing !== undefined)('images API and hob images', () => {
  let tmp: string;
  let pool: Pool;
  let db: HobDb;
  let sessions: SessionRegistry;
  let api: Api;
  let servers: ApiServers;
  let socketPath: string;

  beforeAll(async () => {
    await ensureTestImage();
    tmp = await mkdtemp(join(tmpdir(), 'hob-images-api-'));
    pool = await Pool.open({ stateDir: join(tmp, 'state'), imageSize: 4 * 1024 ** 3 });
    db = openDatabase(join(tmp, 'hob.db'));
    sessions = new SessionRegistry();
    api = createApi({ sandboxes: noSandboxes, sessions, tokens: new TokenStore(db), port: 7707, version: '0.1.0', log: { info: () => undefined, warn: () => undefined, error: () => undefined } });
    api.app.route('/v1/images', imageRoutes({ images: new PoolImageService(pool) }));
    socketPath = join(tmp, 'hob.sock');
    servers = await serveApi(api, { socketPath });
  });

  afterAll(async () => {
    await servers?.close();
    sessions?.shutdown('test over');
    if (db) closeDatabase(db);
    if (!tmp) return;
    await pool?.close().catch(() => undefined);
    for (const m of await mountsUnder(tmp)) await execa('umount', [m]).catch(() => execa('umount', ['-l', m]));
    await rm(tmp, { recursive: true, force: true });
  });

  async function hob(args: string[]) {
    const io = capturedIo({ cwd: tmp, env: { HOB_SOCKET: socketPath } });
    io.stdin.end();
    const code = await runCli(args, io);
    return { code, stdout: io.stdoutText(), stderr: io.stderrText() };
  }

  it('builds, lists, refuses a duplicate, replaces and removes an image', async () => {
    expect(JSON.parse((await hob(['images', 'ls', '--json'])).stdout)).toEqual([]);

    const built = await hob(['images', 'build', '--variant', 'minimal', 'base']);
    expect(built.code).toBe(0);
    expect(built.stdout).toMatch(/^image base ready \(minimal, kernel \S+-cloud-(amd64|arm64)\)\n$/);
    // Progress as plain lines (stderr is not a terminal here).
    expect(built.stderr).toMatch(/^\[\s*\d+\.\ds\] Building the minimal image\.\.\.$/m);
    expect(built.stderr).toMatch(/^\[\s*\d+\.\ds\] Importing .* as image base\.\.\.$/m);
    expect(await pool.isSubvolume(pool.imagePath('base'))).toBe(true);

    const list = JSON.parse((await hob(['images', 'ls', '--json'])).stdout) as Array<Record<string, unknown>>;
    expect(list).toEqual([expect.objectContaining({ name: 'base', variant: 'minimal', arch: process.arch === 'arm64' ? 'aarch64' : 'x86_64' })]);
    expect((await hob(['images', 'ls'])).stdout).toMatch(/^NAME\s+VARIANT\s+ARCH\s+KERNEL\s+ROOTFS\s+BUILT\nbase\s+minimal\s+\S+\s+\S+\s+\d+(\.\d)? [MG]iB\s+\S+ ago\n$/);

    const again = await hob(['images', 'build', '--variant', 'minimal', 'base']);
    expect(again).toMatchObject({ code: 1, stdout: '' });
    expect(again.stderr).toBe('hob: an image named "base" exists (remove it first, or build with replace)\n');

    const replaced = await hob(['images', 'build', '--variant', 'minimal', '--replace', '--json', 'base']);
    expect(replaced.code).toBe(0);
    expect(JSON.parse(replaced.stdout)).toMatchObject({ name: 'base', variant: 'minimal' });

    expect(await hob(['images', 'rm', 'base'])).toMatchObject({ code: 0, stdout: 'removed image base\n' });
    expect(await hob(['images', 'rm', 'base'])).toMatchObject({ code: 1, stderr: 'hob: no image named "base"\n' });
    expect(JSON.parse((await hob(['images', 'ls', '--json'])).stdout)).toEqual([]);
  });

  it('streams NDJSON: info lines, then a complete line with the image', async () => {
    const res = await unixRequest(socketPath, { method: 'POST', path: '/v1/images', body: { name: 'streamed', variant: 'minimal' } });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/application\/x-ndjson/);
    const lines = res.text().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.length).toBeGreaterThanOrEqual(3);
    for (const line of lines.slice(0, -1)) expect(line).toMatchObject({ type: 'info', data: expect.any(String), time: expect.any(String) });
    expect(lines[lines.length - 1]).toMatchObject({ type: 'complete', data: 'Image streamed ready', image: { name: 'streamed', variant: 'minimal' } });
    expect((await unixRequest(socketPath, { method: 'DELETE', path: '/v1/images/streamed' })).status).toBe(204);
  });

  it('answers bad requests with 400 before building anything', async () => {
    const badVariant = await unixRequest(socketPath, { method: 'POST', path: '/v1/images', body: { name: 'x', variant: 'huge' } });
    expect(badVariant.status).toBe(400);
    expect(badVariant.json<{ error: string }>().error).toBe('bad_request');
    const badName = await unixRequest(socketPath, { method: 'POST', path: '/v1/images', body: { name: 'Not_A_Name', variant: 'minimal' } });
    expect(badName.status).toBe(400);
    const badDelete = await unixRequest(socketPath, { method: 'DELETE', path: '/v1/images/Bad_Name' });
    expect(badDelete.status).toBe(400);
    expect(await pool.list('images')).toEqual([]);
  });
});
