/**
 * The built minimal guest image: manifest, kernel, initramfs and the files in
 * rootfs.img, inspected without booting (debugfs, cpio). Booting it is the
 * e2e suites' business.
 */
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildImage, imageManifestSchema, type ImageManifest } from '../../guest-image/build/index.js';
import { openCache, resolveCacheRoot } from '../../guest-image/build/cache.js';
import { sha256File } from '../../guest-image/build/hash.js';
import { pinnedNode, pinnedNodeVersion } from '../../guest-image/build/node-runtime.js';
import { ensureTestImage, imageBuildUnavailable, type GuestImagePaths } from '../helpers/image.js';

const unavailable = imageBuildUnavailable();
const hostArch = process.arch === 'arm64' ? ('aarch64' as const) : ('x86_64' as const);

/** Runs a debugfs request against the image (read-only) and returns its output. */
async function debugfs(image: string, request: string): Promise<string> {
  const r = await execa('debugfs', ['-R', request, image], { reject: false });
  // debugfs prints its banner on stderr and errors there too.
  if (r.exitCode !== 0 || /File not found|not found by ext2_lookup/.test(r.stderr)) {
    throw new Error(`debugfs -R '${request}': ${r.stderr}`);
  }
  return r.stdout;
}

/** Mode (octal string), uid, gid and size of a path in the image. */
async function inode(image: string, p: string): Promise<{ type: string; mode: string; uid: number; size: number }> {
  const out = await debugfs(image, `stat ${p}`);
  const type = /Type: (\S+)/.exec(out)?.[1] ?? '?';
  const mode = /Mode:\s+(\d+)/.exec(out)?.[1] ?? '?';
  const uid = Number(/User:\s+(\d+)/.exec(out)?.[1]);
  const size = Number(/Size: (\d+)/.exec(out)?.[1]);
  return { type, mode, uid, size };
}

describe.skipIf(unavailable !== null)(`guest image (minimal)${unavailable ? ` [skipped: ${unavailable}]` : ''}`, () => {
  let paths: GuestImagePaths;
  let manifest: ImageManifest;
  let scratch: string;

  beforeAll(async () => {
    paths = await ensureTestImage();
    manifest = imageManifestSchema.parse(JSON.parse(await readFile(paths.manifest, 'utf8')));
    scratch = await mkdtemp(path.join(tmpdir(), 'hob-image-test-'));
  });
  afterAll(async () => {
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it('has a manifest that describes this host and the files beside it', async () => {
    expect(manifest.variant).toBe('minimal');
    expect(manifest.arch).toBe(hostArch);
    // The pinned Node of the image's arch (guest-image/build/node-runtime.ts), not the host's.
    expect(manifest.node.version).toBe(`v${pinnedNodeVersion}`);
    expect(manifest.debian.suite).toBe('bookworm');
    expect(manifest.kernel.version).toMatch(/-cloud-(amd64|arm64)$/);
    expect(manifest.packages['tini']).toBeTruthy();
    expect(manifest.packages['busybox-static']).toBeTruthy();
    expect(manifest.packages[manifest.kernel.package]).toBe(manifest.kernel.packageVersion);
    for (const key of ['kernel', 'initramfs', 'rootfs'] as const) {
      const f = manifest.files[key];
      const file = paths[key];
      expect(path.basename(file)).toBe(f.name);
      expect((await stat(file)).size).toBe(f.bytes);
      expect(await sha256File(file)).toBe(f.sha256);
    }
  });

  it('ships a kernel the VMM can boot directly', async () => {
    const k = await readFile(paths.kernel);
    if (hostArch === 'x86_64') expect(k.toString('latin1', 0x202, 0x206)).toBe('HdrS');
    else expect(k.toString('latin1', 56, 60)).toBe('ARM\x64');
  });

  it('has an initramfs with busybox, /init, a console node and the virtio modules in dependency order', async () => {
    const cpio = gunzipSync(await readFile(paths.initramfs));
    const list = await execa('cpio', ['-itv', '--quiet'], { input: cpio });
    const lines = list.stdout.split('\n');
    // "mode links owner group [major, minor | size] month day time name[ -> target]"
    const names = lines.map((l) => l.replace(/ -> .*$/, '').split(/\s+/).pop());
    for (const n of ['init', 'bin/busybox', 'bin/sh', 'bin/switch_root', 'lib/modules/load-order', 'lib/modules/virtio_blk.ko']) {
      expect(names).toContain(n);
    }
    expect(lines.find((l) => l.endsWith(' dev/console'))).toMatch(/^crw-------\s+1 root\s+root\s+5,\s+1 /);

    const dir = path.join(scratch, 'initramfs');
    await execa('mkdir', ['-p', dir]);
    await execa('cpio', ['-id', '--quiet', 'init', 'lib/modules/load-order'], { input: cpio, cwd: dir });
    const order = (await readFile(path.join(dir, 'lib/modules/load-order'), 'utf8')).trim().split('\n');
    expect(order).toEqual(manifest.initramfs.modules);
    const at = (m: string): number => order.indexOf(m);
    expect(at('virtio_ring')).toBeGreaterThanOrEqual(0);
    expect(at('virtio_ring')).toBeLessThan(at('virtio'));
    expect(at('virtio')).toBeLessThan(at('virtio_pci'));
    expect(at('virtio_pci_modern_dev')).toBeLessThan(at('virtio_pci'));
    expect(at('virtio_pci')).toBeLessThan(at('virtio_blk'));
    expect(at('failover')).toBeLessThan(at('net_failover'));
    expect(at('net_failover')).toBeLessThan(at('virtio_net'));
    expect(at('vsock')).toBeLessThan(at('vmw_vsock_virtio_transport'));
    for (const m of order) expect(names).toContain(`lib/modules/${m}.ko`);
    const init = await readFile(path.join(dir, 'init'), 'utf8');
    expect(init).toContain('switch_root /newroot /usr/bin/tini -- /opt/hob/init');
  });

  it('has a rootfs with the hob runtime, owned by root', async () => {
    const img = paths.rootfs;
    const node = await inode(img, '/opt/hob/node');
    const pinned = await pinnedNode(await openCache(resolveCacheRoot()), hostArch);
    expect(pinned.sha256).toBe(manifest.node.sha256);
    expect(node).toMatchObject({ type: 'regular', mode: '0755', uid: 0, size: (await stat(pinned.path)).size });
    const init = await inode(img, '/opt/hob/init');
    expect(init).toMatchObject({ type: 'regular', mode: '0755', uid: 0 });
    expect(await debugfs(img, 'cat /opt/hob/init')).toMatch(/^#!\/bin\/sh\n/);

    const bundle = path.join(scratch, 'agent.cjs');
    await debugfs(img, `dump /opt/hob/agent/agent.cjs ${bundle}`);
    expect(await sha256File(bundle)).toBe(manifest.agent.sha256);
    // The loader the guest starts, and the code cache the build made for the bundle (host architecture).
    expect(await debugfs(img, 'cat /opt/hob/agent/agent.mjs')).toContain('cachedData');
    expect((await inode(img, '/opt/hob/agent/agent.cjs.cache')).size).toBeGreaterThan(100_000);

    const ptyDir = '/opt/hob/agent/node_modules/node-pty';
    expect((await inode(img, `${ptyDir}/package.json`)).type).toBe('regular');
    expect((await inode(img, `${ptyDir}/lib/index.js`)).type).toBe('regular');
    expect((await inode(img, `${ptyDir}/build/Release/pty.node`)).type).toBe('regular');
    const ptyTop = await debugfs(img, `ls ${ptyDir}`);
    expect(ptyTop).not.toMatch(/\b(src|deps|prebuilds|binding\.gyp)\b/);
  });

  it('has the tools init and the agent rely on, no kernel in /boot, and an empty machine-id', async () => {
    const img = paths.rootfs;
    for (const p of ['/usr/bin/tini', '/usr/sbin/resize2fs', '/usr/sbin/fsfreeze', '/usr/bin/socat', '/usr/bin/ip', '/usr/bin/busybox']) {
      expect((await inode(img, p)).type, p).toBe('regular');
    }
    expect((await inode(img, `/usr/lib/modules/${manifest.kernel.version}/modules.dep`)).type).toBe('regular');
    // ls -p: one "/inode/mode/uid/gid/name/size/" line per entry.
    const boot = (await debugfs(img, 'ls -p /boot')).split('\n').filter(Boolean).map((l) => l.split('/')[5]);
    expect(boot.sort()).toEqual(['.', '..']);
    expect((await inode(img, '/etc/machine-id')).size).toBe(0);
    expect((await debugfs(img, 'cat /etc/hostname')).trim()).toBe('hob');
    expect(await debugfs(img, 'cat /etc/fstab')).not.toMatch(/^[^#\s]/m);
  });

  it('is an ext4 filesystem labelled hob-root with the manifest UUID and room to spare', async () => {
    const r = await execa('dumpe2fs', ['-h', paths.rootfs], { reject: false });
    expect(r.stdout).toMatch(/Filesystem volume name:\s+hob-root/);
    expect(r.stdout).toContain(manifest.rootfs.uuid);
    const blocks = Number(/Block count:\s+(\d+)/.exec(r.stdout)?.[1]);
    const free = Number(/Free blocks:\s+(\d+)/.exec(r.stdout)?.[1]);
    expect(blocks * 4096).toBe((await stat(paths.rootfs)).size);
    expect(free * 4096).toBeGreaterThan(64 * 2 ** 20);
  });

  it('is served from the cache on a second build', async () => {
    const again = await buildImage({ variant: 'minimal' });
    expect(again.cached).toBe(true);
    expect(again.paths.dir).toBe(paths.dir);
    expect(again.manifest.inputsHash).toBe(manifest.inputsHash);
  });
});
