/**
 * `hob doctor` on this machine: every check against the facts the daemon's
 * own code (vmm/kvm.ts, vmm/select.ts) and the tools report here, never
 * against fixed values (another machine may have KVM, cloud-hypervisor...).
 * Pools are real: small btrfs images on loop devices (a full one, a
 * read-only one) and a real hobd (test/helpers/daemon.ts).
 *
 * Root-only parts (loop mounts, hobd, the non-root run through setpriv) skip
 * with a message when not root.
 */
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../daemon/cli/program.js';
import { formatDoctorReport } from '../../daemon/cli/commands/doctor.js';
import { CH_PINNED_VERSION, runDoctor, type Check, type DoctorReport } from '../../daemon/cli/doctor/index.js';
import { mountOf, parseMountInfo, readMounts } from '../../daemon/cli/doctor/mounts.js';
import { CH_INSTALL_PATH, chBinarySearchDescription, findChBinary } from '../../daemon/vmm/cloud-hypervisor/binary.js';
import { detectKvm } from '../../daemon/vmm/kvm.js';
import { chooseVmm } from '../../daemon/vmm/select.js';
import { bundleCli } from '../helpers/cli-bundle.js';
import { capturedIo } from '../helpers/cli-io.js';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { imageBuildUnavailable } from '../helpers/image.js';

const REPO = resolve(import.meta.dirname, '../..');
const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('doctor tests with loop-mounted pools, hobd and a non-root run skipped: not root');

function byName(report: DoctorReport): Map<string, Check> {
  return new Map(report.checks.map((c) => [c.name, c]));
}

/** First line of `program --version`, or null. */
async function versionLine(program: string, flag = '--version'): Promise<string | null> {
  const r = await execa(program, [flag], { reject: false });
  return r.exitCode === 0 ? (r.stdout.split('\n').find((l) => l.trim() !== '')?.trim() ?? null) : null;
}

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'hob-doctor-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** A config in `work` whose state dir is fresh and whose socket nobody serves. */
async function idleConfig(name: string, extra = ''): Promise<string> {
  const dir = join(work, name);
  await mkdir(dir, { recursive: true });
  const path = join(dir, 'config.yaml');
  await writeFile(path, `stateDir: ${join(dir, 'state')}\nrunDir: ${join(dir, 'run')}\napi: { socketPath: ${join(dir, 'run', 'hob.sock')} }\n${extra}`);
  return path;
}

describe('hob doctor on this machine (no hobd)', () => {
  let report: DoctorReport;
  let checks: Map<string, Check>;
  beforeAll(async () => {
    report = await runDoctor({ configPath: await idleConfig('idle'), env: { PATH: process.env.PATH } });
    checks = byName(report);
  }, 60_000);

  it('reports every check once, each with a detail, and a fix for what is not ok', () => {
    expect(report.checks.map((c) => c.name)).toEqual([
      'config', 'kvm', 'vmm', 'cloud-hypervisor', 'qemu', 'kvm-device', 'kernel-modules', 'gic', 'cpu-cores', 'btrfs-progs', 'xfsprogs', 'loop', 'pool', 'nftables', 'tun', 'forwarding', 'image-build', 'daemon', 'group', 'images',
    ]);
    for (const c of report.checks) {
      expect(['ok', 'warn', 'fail']).toContain(c.status);
      expect(c.detail.length).toBeGreaterThan(0);
      if (c.status === 'fail') expect(c.fix, c.name).toBeTruthy();
    }
  });

  it('judges KVM exactly as daemon/vmm/kvm.ts does', async () => {
    const kvm = await detectKvm();
    expect(checks.get('kvm')).toMatchObject({ status: kvm.usable ? 'ok' : 'warn', detail: kvm.reason });
    if (!kvm.usable) expect(checks.get('kvm')?.fix).toBeTruthy();
  });

  it('names the driver daemon/vmm/select.ts picks, and why', async () => {
    const kvm = await detectKvm();
    const chBinary = await findChBinary({ PATH: process.env.PATH });
    const choice = chooseVmm({ kvm, chBinary, chSearch: chBinarySearchDescription({}) });
    expect(checks.get('vmm')).toMatchObject({ status: 'ok', detail: choice.reason });
    const ch = checks.get('cloud-hypervisor');
    if (chBinary) expect(ch?.detail).toContain(chBinary);
    else expect(ch?.status).toBe(kvm.usable ? 'warn' : 'ok');
  });

  it('reports the versions the tools print here', async () => {
    const qemu = process.arch === 'arm64' ? 'qemu-system-aarch64' : 'qemu-system-x86_64';
    const qemuVersion = await versionLine(qemu);
    if (qemuVersion) expect(checks.get('qemu')).toMatchObject({ status: 'ok', detail: expect.stringContaining(qemuVersion) as string });
    else expect(checks.get('qemu')?.status).toBe('fail');
    const btrfsVersion = await versionLine('btrfs');
    if (btrfsVersion) expect(checks.get('btrfs-progs')?.detail).toContain(btrfsVersion);
    else expect(checks.get('btrfs-progs')?.status).toBe('fail');
    const xfsIo = await versionLine('xfs_io', '-V');
    if (xfsIo) expect(checks.get('xfsprogs')).toMatchObject({ status: 'ok', detail: expect.stringContaining(xfsIo) as string });
    else expect(checks.get('xfsprogs')?.status).toBe('warn');
    const mmdebstrap = await versionLine('mmdebstrap');
    if (mmdebstrap) expect(checks.get('image-build')?.detail).toContain(mmdebstrap);
    else expect(checks.get('image-build')?.status).toBe('warn');
  });

  it.skipIf(!isRoot)('sees nftables, tun and loop devices as root', async () => {
    const nft = await execa('nft', ['list', 'tables'], { reject: false });
    expect(checks.get('nftables')?.status).toBe(nft.exitCode === 0 ? 'ok' : 'fail');
    expect(checks.get('tun')?.status).toBe(existsSync('/dev/net/tun') ? 'ok' : 'fail');
    const free = await execa('losetup', ['--find'], { reject: false });
    expect(checks.get('loop')?.status).toBe(free.exitCode === 0 ? 'ok' : 'fail');
  });

  it('without a pool yet: says hobd will make it, with the free space there', () => {
    expect(checks.get('pool')).toMatchObject({ status: 'ok', detail: expect.stringMatching(/^no pool yet: hobd creates .*\/state\/pool\.img .* free on /) as string });
  });

  it('a daemon that does not answer is a failure, and the exit code says so', () => {
    expect(checks.get('daemon')).toMatchObject({ status: 'fail', detail: expect.stringContaining('hobd is not running') as string });
    expect(checks.get('daemon')?.fix).toContain('systemctl start hobd');
    expect(checks.get('images')?.status).toBe('warn');
    expect(report.status).toBe('fail');
  });

  it('hob doctor prints one line per check with the fixes, and exits 1 on a failure', async () => {
    const io = capturedIo({ env: { PATH: process.env.PATH } });
    const code = await runCli(['doctor', '--config', join(work, 'idle', 'config.yaml')], io);
    expect(code).toBe(1);
    const text = io.stdoutText();
    expect(text).toMatch(/^\[FAIL\] daemon +hobd is not running/m);
    expect(text).toMatch(/^ +fix: systemctl start hobd/m);
    expect(text).toMatch(/problems? to fix before hob can work/);
    expect(text.split('\n').filter((l) => /^\[( ok |WARN|FAIL)\] /.test(l))).toHaveLength(report.checks.length);

    const jsonIo = capturedIo({ env: { PATH: process.env.PATH } });
    expect(await runCli(['doctor', '--json', '--config', join(work, 'idle', 'config.yaml')], jsonIo)).toBe(1);
    const parsed = JSON.parse(jsonIo.stdoutText()) as DoctorReport;
    expect(parsed.status).toBe('fail');
    expect(parsed.checks.map((c) => c.name)).toEqual(report.checks.map((c) => c.name));
  });
});

describe('hob doctor failures that come from the configuration', () => {
  it('a broken config file is a failure, and the pool cannot be located', async () => {
    const path = join(work, 'broken.yaml');
    await writeFile(path, 'stateDir: relative/path\nnoSuchKey: 1\n');
    const checks = byName(await runDoctor({ configPath: path, env: {} }));
    expect(checks.get('config')).toMatchObject({ status: 'fail', detail: expect.stringContaining("unknown key 'noSuchKey'") as string });
    expect(checks.get('pool')?.status).toBe('fail');
  });

  it('HOB_VMM that names no driver is a failure; a forced driver must be able to run', async () => {
    const config = await idleConfig('vmm');
    const bogus = byName(await runDoctor({ configPath: config, env: { HOB_VMM: 'firecracker' } }));
    expect(bogus.get('vmm')).toMatchObject({ status: 'fail', detail: expect.stringContaining('HOB_VMM=firecracker') as string });

    const forced = byName(await runDoctor({ configPath: config, env: { HOB_VMM: 'cloud-hypervisor', PATH: process.env.PATH } }));
    const kvm = await detectKvm();
    const chBinary = await findChBinary({ PATH: process.env.PATH });
    const canRun = kvm.usable && chBinary !== null;
    expect(forced.get('vmm')?.status).toBe(canRun ? 'ok' : 'fail');
    expect(forced.get('vmm')?.detail).toContain('forced by HOB_VMM=cloud-hypervisor');
  });

  it('pool.path that is not on btrfs is a failure', async () => {
    const checks = byName(await runDoctor({ configPath: await idleConfig('ext', `pool: { path: ${work} }\n`), env: {} }));
    const onBtrfs = (await execa('stat', ['-f', '-c', '%T', work])).stdout.trim() === 'btrfs';
    if (!onBtrfs) expect(checks.get('pool')).toMatchObject({ status: 'fail', detail: expect.stringContaining('is not on a btrfs filesystem') as string });
  });
});

describe('install.sh and the doctor agree', () => {
  it('on the cloud-hypervisor release and where it is installed', async () => {
    const script = await readFile(join(REPO, 'install.sh'), 'utf8');
    expect(/^CH_VERSION=(\S+)$/m.exec(script)?.[1]).toBe(CH_PINNED_VERSION);
    expect(/^CH_DEST=(\S+)$/m.exec(script)?.[1]).toBe(CH_INSTALL_PATH);
    for (const arch of ['X86_64', 'AARCH64']) expect(script).toMatch(new RegExp(`^CH_SHA256_${arch}=[0-9a-f]{64}$`, 'm'));
  });
});

describe('the mount table', () => {
  it('finds the mount holding / as findmnt does', async () => {
    const root = mountOf(await readMounts(), '/');
    const findmnt = await execa('findmnt', ['-n', '-o', 'FSTYPE', '/'], { reject: false });
    if (findmnt.exitCode === 0) expect(root?.fsType).toBe(findmnt.stdout.trim().split('\n').pop());
    expect(root?.mountPoint).toBe('/');
  });

  it('unescapes mount points and reads both option lists', () => {
    const [e] = parseMountInfo('36 35 98:0 / /mnt/my\\040pool rw,noatime master:1 - btrfs /dev/loop3 ro,space_cache=v2\n');
    expect(e).toEqual({ mountPoint: '/mnt/my pool', fsType: 'btrfs', source: '/dev/loop3', options: ['rw', 'noatime'], superOptions: ['ro', 'space_cache=v2'] });
    expect(mountOf([e!], '/mnt/my pool/images')).toBe(e);
    expect(mountOf([e!], '/mnt/my poolx')).toBeUndefined();
  });
});

describe.skipIf(!isRoot)('hob doctor on real pools', () => {
  const mounted: string[] = [];
  afterAll(async () => {
    for (const m of mounted) await execa('umount', [m], { reject: false });
  });

  /** A btrfs image of `size` loop-mounted under work; returns the mount point. */
  async function btrfsPool(name: string, size: string): Promise<string> {
    const img = join(work, `${name}.img`);
    const dir = join(work, name);
    await mkdir(dir);
    await execa('truncate', ['-s', size, img]);
    await execa('mkfs.btrfs', ['-q', img]);
    await execa('mount', ['-o', 'loop', img, dir]);
    mounted.unshift(dir);
    return dir;
  }

  it('a nearly full pool is a failure; a read-only one too', async () => {
    const small = await btrfsPool('small', '300M');
    const config = await idleConfig('small', `pool: { path: ${small} }\n`);
    const full = byName(await runDoctor({ configPath: config, env: { PATH: process.env.PATH } }));
    expect(full.get('pool')).toMatchObject({ status: 'fail', detail: expect.stringMatching(/: only .* free of 300 MiB: new sandboxes/) as string });
    expect(full.get('loop')?.status).toBe('ok');

    await execa('mount', ['-o', 'remount,ro', small]);
    const ro = byName(await runDoctor({ configPath: config, env: { PATH: process.env.PATH } }));
    expect(ro.get('pool')).toMatchObject({ status: 'fail', detail: expect.stringContaining('is mounted read-only') as string });
  }, 60_000);

  it('a roomy pool is fine and reports its free space', async () => {
    const big = await btrfsPool('big', '16G');
    const checks = byName(await runDoctor({ configPath: await idleConfig('big', `pool: { path: ${big} }\n`), env: { PATH: process.env.PATH } }));
    expect(checks.get('pool')).toMatchObject({ status: 'ok', detail: expect.stringMatching(/\(pool\.path\): .* free of 16 GiB$/) as string });
  }, 60_000);

  it('run as a user: what needs root says so instead of failing', async () => {
    const config = await idleConfig('user');
    await chmod(join(work, 'user'), 0o755);
    await mkdir(join(work, 'user', 'state', 'pool'), { recursive: true, mode: 0o700 });
    await chmod(join(work, 'user', 'state'), 0o700);
    await chmod(work, 0o755);
    // The CLI as one file the user can read, wherever the checkout is (it may be 0700).
    const cli = await bundleCli(join(work, 'cli'));
    const r = await execa(
      'setpriv',
      ['--reuid=4242', '--regid=4242', '--clear-groups', process.execPath, cli, 'doctor', '--json', '--config', config],
      { reject: false, cwd: '/', env: { PATH: process.env.PATH, HOME: '/tmp' } },
    );
    const report = JSON.parse(r.stdout) as DoctorReport;
    const checks = byName(report);
    expect(checks.get('pool')).toMatchObject({ status: 'warn', fix: expect.stringContaining('sudo hob doctor') as string });
    expect(checks.get('nftables')?.detail).toContain('run as root');
    expect(r.exitCode).toBe(report.status === 'fail' ? 1 : 0);
  }, 60_000);
});

const noImage = imageBuildUnavailable();
if (noImage) console.warn(`doctor tests against a running hobd skipped: ${noImage}`);

describe.skipIf(noImage !== null)('hob doctor with a running hobd', () => {
  let daemon: TestDaemon;
  beforeAll(async () => {
    daemon = await startTestDaemon({ poolSize: '8GiB' });
  }, 600_000);
  afterAll(async () => {
    await daemon?.stop();
  }, 120_000);

  it('reaches hobd, reads its pool and finds its default image', async () => {
    // startTestDaemon writes its config next to the state dir.
    const configPath = join(dirname(daemon.stateDir), 'config.yaml');
    const report = await runDoctor({ configPath, env: { PATH: process.env.PATH } });
    const checks = byName(report);
    expect(checks.get('daemon')?.detail).toContain(`answers on socket ${daemon.socketPath}`);
    expect(['ok', 'warn']).toContain(checks.get('daemon')?.status);
    expect(checks.get('pool')).toMatchObject({ status: 'ok', detail: expect.stringMatching(/\(embedded, \/dev\/loop\d+\): .* free of 8 GiB$/) as string });
    expect(checks.get('images')).toMatchObject({ status: 'ok', detail: 'images (from hobd): minimal' });
    expect(formatDoctorReport(report)).toContain('[ ok ] images');
  }, 120_000);
});
