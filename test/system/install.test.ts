/**
 * install.sh on a fresh Debian 12 (mmdebstrap minbase + ca-certificates, in a
 * chroot inside a private mount namespace: see chroot.ts for what is copied
 * in from this host and which caches are reused between runs).
 *
 * One sequence, as a user would go: install (no systemd in a chroot, so the
 * daemon is not started; no image build: --no-image keeps the time bounded;
 * --no-ch: this test must not download from github.com), install again
 * (nothing changes), a cloud-hypervisor binary with the wrong sha256
 * (refused), hobd started by hand, `hob doctor --json` as root and the socket
 * as a member of the hob group and as a stranger, --uninstall (data kept),
 * --purge (data gone).
 *
 * Needs root, mmdebstrap, unshare/nsenter, and the npm registry and Debian's
 * archive; skips with a message without the tools. Durations are printed, not
 * asserted.
 */
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detectKvm } from '../../daemon/vmm/kvm.js';
import type { DoctorReport } from '../../daemon/cli/doctor/index.js';
import { CHECKOUT, REPO, baseTarball, chrootUnavailable, createFreshRoot, mtimeOf, type FreshRoot } from './chroot.js';

const unavailable = chrootUnavailable();
if (unavailable) console.warn(`install.sh system test skipped: ${unavailable}`);

const timings: Array<[string, number]> = [];
async function timed<T>(what: string, fn: () => Promise<T>): Promise<T> {
  const start = Date.now();
  try {
    return await fn();
  } finally {
    timings.push([what, (Date.now() - start) / 1000]);
    process.stderr.write(`[install test] ${what}: ${((Date.now() - start) / 1000).toFixed(1)} s\n`);
  }
}

const INSTALL = `${CHECKOUT}/install.sh`;
/** Where install.sh puts hob. */
const APP = '/usr/local/lib/hob/app';
const HOB = '/usr/local/bin/hob';
/** The hob group's gid inside the root (read after the install). */
async function hobGid(root: FreshRoot): Promise<number | undefined> {
  const line = (await readFile(root.path('/etc/group'), 'utf8')).split('\n').find((l) => l.startsWith('hob:'));
  return line ? Number(line.split(':')[2]) : undefined;
}

describe.skipIf(unavailable !== null)(`install.sh on a fresh Debian 12${unavailable ? ` [skipped: ${unavailable}]` : ''}`, () => {
  let root: FreshRoot;
  let hobd: ChildProcess | undefined;
  let hobdLog = '';

  beforeAll(async () => {
    const log = (line: string): void => void process.stderr.write(`[install test] ${line}\n`);
    await timed('Debian 12 base tarball (mmdebstrap, only when not cached)', () => baseTarball(log));
    root = await timed('fresh root (extract the base tarball, copy the checkout and node)', () => createFreshRoot(log));
    // hobd's settings for this root: an 8 GiB pool (sparse); no TCP listener and no sandbox networking,
    // because the chroot shares this host's network namespace (hob's table and sysctls would land on
    // the machine running the suite).
    await root.run(['mkdir', '-p', '/etc/hob']);
    await root.run(['sh', '-c', 'printf "pool: { imageSize: 8GiB }\\napi: { tcpPort: 0 }\\nnetwork: { enabled: false }\\n" > /etc/hob/config.yaml']);
  }, 900_000);

  afterAll(async () => {
    if (hobd && hobd.exitCode === null) {
      hobd.kill('SIGKILL');
      await new Promise((r) => hobd?.once('exit', r));
    }
    await root?.destroy();
    process.stderr.write(`[install test] timings: ${timings.map(([w, s]) => `${w} ${s.toFixed(1)} s`).join('; ')}\n`);
  }, 120_000);

  it('rejects contradictory options before doing anything', async () => {
    for (const args of [['--uninstall', '--ci'], ['--purge', '--uninstall'], ['--ci', '--no-image'], ['--bogus']]) {
      const r = await root.run([INSTALL, ...args]);
      expect(r.exitCode, args.join(' ')).toBe(2);
      expect(r.stdout, args.join(' ')).toBe('');
    }
    const help = await root.run([INSTALL, '--help']);
    expect(help.exitCode).toBe(0);
    expect(help.stdout).toContain('--uninstall');
  });

  it('installs hob on a fresh system, a second run changes nothing, a bad cloud-hypervisor is refused', async () => {
    const first = await timed('install.sh --no-image --no-ch (first run)', () => root.run([INSTALL, '--no-image', '--no-ch'], { timeoutMs: 1_200_000 }));
    expect(first.exitCode, `${first.stdout}\n${first.stderr}`).toBe(0);
    // install.sh's own steps carry the elapsed time: show where the minutes went.
    process.stderr.write(`${first.stdout.split('\n').filter((l) => l.startsWith('==> ')).map((l) => `[install test]   ${l}`).join('\n')}\n`);
    expect(first.stdout).toContain('installing Debian packages');
    expect(first.stdout).toContain('systemd is not running here');
    expect(first.stdout).toContain('created the group hob');

    for (const name of ['hob', 'hobd']) {
      const wrapper = await readFile(root.path(`/usr/local/bin/${name}`), 'utf8');
      expect(wrapper).toContain("installed by hob's install.sh");
      expect(wrapper).toContain(`${APP}/dist/${name === 'hob' ? 'cli/hob.js' : 'daemon/hobd.js'}`);
    }
    const compiled = existsSync(root.path(`${APP}/node_modules/better-sqlite3/build/Release/obj.target`));
    process.stderr.write(`[install test] better-sqlite3: ${compiled ? 'compiled from source' : 'prebuilt binary'}; node-pty: compiled from source\n`);
    expect(existsSync(root.path(`${APP}/node_modules/node-pty/build/Release/pty.node`))).toBe(true);
    // hob runs from its own copy; the checkout is left as it was.
    expect(existsSync(root.path(`${CHECKOUT}/node_modules`))).toBe(false);
    expect(existsSync(root.path(`${CHECKOUT}/dist`))).toBe(false);
    expect(await readFile(root.path('/etc/systemd/system/hobd.service'), 'utf8')).toBe(await readFile(join(REPO, 'systemd/hobd.service'), 'utf8'));
    expect(await hobGid(root)).toBeTypeOf('number');
    expect(existsSync(root.path('/usr/local/lib/hob/cloud-hypervisor'))).toBe(false);

    const watched = ['/usr/local/bin/hob', '/usr/local/bin/hobd', '/etc/systemd/system/hobd.service', `${APP}/dist/daemon/hobd.js`, `${APP}/node_modules/.hob-install-stamp`, `${APP}/package.json`];
    const before = await Promise.all(watched.map((p) => mtimeOf(root.path(p))));
    const groupBefore = await readFile(root.path('/etc/group'), 'utf8');
    const second = await timed('install.sh --no-image --no-ch (second run)', () => root.run([INSTALL, '--no-image', '--no-ch']));
    expect(second.exitCode, `${second.stdout}\n${second.stderr}`).toBe(0);
    expect(second.stdout).toContain('Debian packages already installed');
    expect(second.stdout).toContain('npm dependencies up to date');
    expect(second.stdout).toContain('build up to date');
    expect(second.stdout).toContain(`the sources in ${APP} are up to date`);
    expect(second.stdout).not.toMatch(/installed \/|created the group/);
    expect(await Promise.all(watched.map((p) => mtimeOf(root.path(p))))).toEqual(before);
    expect(await readFile(root.path('/etc/group'), 'utf8')).toBe(groupBefore);

    // Not the pinned release: install.sh must refuse it and install nothing.
    await root.run(['sh', '-c', 'head -c 4096 /dev/urandom > /root/not-cloud-hypervisor']);
    const bad = await timed('install.sh with a cloud-hypervisor of the wrong sha256', () =>
      root.run([INSTALL, '--no-image'], { env: { HOB_CH_FILE: '/root/not-cloud-hypervisor' } }),
    );
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toMatch(/refusing to install cloud-hypervisor: its sha256 is [0-9a-f]{64}/);
    expect(existsSync(root.path('/usr/local/lib/hob/cloud-hypervisor'))).toBe(false);
  }, 1_500_000);

  it('hobd runs from the installed command; hob doctor --json reports this machine; the socket admits the hob group only', async () => {
    const child = root.spawn(['/usr/local/bin/hobd']);
    hobd = child;
    child.stderr?.on('data', (d: Buffer) => (hobdLog += d.toString()));
    let up = false;
    await timed('hobd start (creates the embedded pool)', async () => {
      for (let i = 0; i < 120 && !up && child.exitCode === null; i++) {
        up = (await root.run([HOB, 'images', 'ls', '--json'])).exitCode === 0;
        if (!up) await new Promise((r) => setTimeout(r, 500));
      }
    });
    try {
      await checkRunningInstall(up);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode === null ? child.once('exit', r) : r(undefined)));
    }
    expect(child.exitCode, hobdLog).toBe(0);
  }, 600_000);

  async function checkRunningInstall(up: boolean): Promise<void> {
    expect(up, `hobd did not answer:\n${hobdLog}`).toBe(true);

    const doctor = await timed('hob doctor --json', () => root.run([HOB, 'doctor', '--json']));
    const report = JSON.parse(doctor.stdout) as DoctorReport;
    const byName = new Map(report.checks.map((c) => [c.name, c]));
    for (const name of ['config', 'qemu', 'btrfs-progs', 'loop', 'pool', 'nftables', 'tun', 'image-build', 'daemon', 'group']) {
      expect(byName.get(name)?.status, `${name}: ${JSON.stringify(byName.get(name))}`).toBe('ok');
    }
    expect(byName.get('config')?.detail).toContain('/etc/hob/config.yaml');
    expect(byName.get('pool')?.detail).toMatch(/^\/var\/lib\/hob\/pool \(embedded, \/dev\/loop\d+\): .* free of 8 GiB$/);
    expect(byName.get('group')?.detail).toContain('group hob');
    // No image was built (--no-image): a warning, not a failure.
    expect(byName.get('images')).toMatchObject({ status: 'warn' });
    expect(byName.get('images')?.fix).toContain('hob images build dev');
    // The chroot sees this host's /dev/kvm and /proc/cpuinfo: the verdict must be daemon/vmm/kvm.ts's.
    const kvm = await detectKvm();
    expect(byName.get('kvm')).toMatchObject({ status: kvm.usable ? 'ok' : 'warn', detail: kvm.reason });
    // cloud-hypervisor was not installed (--no-ch), so hobd picks qemu whatever KVM says.
    expect(byName.get('vmm')?.detail).toMatch(/^qemu /);
    expect(report.status).toBe('warn');
    expect(doctor.exitCode).toBe(0);

    // The socket is root:hob 0660 (daemon/api/server.ts): a hob member gets in, a stranger does not.
    const gid = await hobGid(root);
    const asUser = (groups: string) =>
      root.run(['setpriv', '--reuid=4242', '--regid=4242', groups, HOB, 'images', 'ls', '--json'], { env: { HOME: '/tmp' } });
    const member = await asUser(`--groups=${gid}`);
    expect(member.exitCode, member.stderr).toBe(0);
    expect(JSON.parse(member.stdout)).toEqual([]);
    const stranger = await asUser('--clear-groups');
    expect(stranger.exitCode).toBe(3);
    expect(stranger.stderr).toContain('no permission');
  }

  it('--uninstall removes hob and keeps the data; --purge removes the data', async () => {
    const uninstall = await timed('install.sh --uninstall', () => root.run([INSTALL, '--uninstall']));
    expect(uninstall.exitCode, `${uninstall.stdout}\n${uninstall.stderr}`).toBe(0);
    for (const p of ['/usr/local/bin/hob', '/usr/local/bin/hobd', '/etc/systemd/system/hobd.service', '/usr/local/lib/hob']) expect(existsSync(root.path(p)), p).toBe(false);
    expect(uninstall.stdout).toContain('unmounted the pool /var/lib/hob/pool');
    expect((await root.run(['mountpoint', '-q', '/var/lib/hob/pool'])).exitCode).not.toBe(0);
    expect(existsSync(root.path('/var/lib/hob/pool.img'))).toBe(true);
    expect(existsSync(root.path('/var/lib/hob/hob.db'))).toBe(true);
    expect(existsSync(root.path('/etc/hob/config.yaml'))).toBe(true);
    expect(await hobGid(root)).toBeTypeOf('number');

    const purge = await timed('install.sh --purge', () => root.run([INSTALL, '--purge']));
    expect(purge.exitCode, `${purge.stdout}\n${purge.stderr}`).toBe(0);
    for (const p of ['/var/lib/hob', '/etc/hob', '/var/cache/hob']) expect(existsSync(root.path(p)), p).toBe(false);
    expect(await hobGid(root)).toBeUndefined();
  }, 300_000);
});

const haveSystemdAnalyze = existsSync('/usr/bin/systemd-analyze');
if (!haveSystemdAnalyze) console.warn('hobd.service check skipped: systemd-analyze is not installed');

describe.skipIf(!haveSystemdAnalyze)('systemd/hobd.service', () => {
  it('is a unit systemd accepts (systemd-analyze verify)', async () => {
    const r = await execa('systemd-analyze', ['verify', join(REPO, 'systemd/hobd.service')], { reject: false });
    // The wrapper exists only where install.sh ran; any other complaint (unknown key, bad value) fails.
    const complaints = `${r.stdout}\n${r.stderr}`
      .split('\n')
      .filter((l) => l.trim() !== '' && !l.includes('Command /usr/local/bin/hobd is not executable'));
    expect(complaints).toEqual([]);
    const unit = await readFile(join(REPO, 'systemd/hobd.service'), 'utf8');
    for (const line of ['KillMode=process', 'Restart=on-failure', 'RuntimeDirectory=hob', 'RuntimeDirectoryPreserve=yes', 'StateDirectory=hob', 'ExecStart=/usr/local/bin/hobd']) {
      expect(unit).toContain(`\n${line}\n`);
    }
  });
});
