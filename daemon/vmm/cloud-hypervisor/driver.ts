import { lstat, rm } from 'node:fs/promises';
import { basename } from 'node:path';
import { execa } from 'execa';
import { ConflictError, VmmError } from '../../errors.js';
import { hostArch } from '../arch.js';
import { kernelArch, requireRunnableArch } from '../guest-arch.js';
import { ConsoleReader } from '../console-log.js';
import { ExitWatch, killAndWait, processIdentity, readCmdline, readPidFile, signalProcess, spawnDetached } from '../process.js';
import { emptyDir, removeEntries, tailFile } from '../run-dir.js';
import { checkSnapshotFits, readSnapshotMeta, writeFileDurable } from '../snapshot-meta.js';
import { validateSpec } from '../spec.js';
import type { GuestArch, VmHandle, VmmDriver, VmSpec } from '../types.js';
import { connectUnixWhenReady } from '../unix.js';
import { ChApiClient, chPingSchema } from './api.js';
import { chBinarySearchDescription, findChBinary } from './binary.js';
import { buildRestoreConfig, buildVmConfig, type ChMemoryRestoreMode } from './bodies.js';
import { CH_SOCKET_NAMES, CH_TRANSIENT_FILES, ChVm, chPaths, type ChPaths } from './handle.js';
import { prepareRestoreSource } from './restore-source.js';

/*
 * Randomness after a restore (docs/architecture.md §18): cloud-hypervisor v53 has no VM
 * generation ID device (its OpenAPI has none; QEMU's `vmgenid` is ACPI + fw_cfg, which CH
 * does not emulate), so a guest restored by CH learns that it is a copy only from the agent's
 * `random.reseed`, which LiveVm.resume sends before anything else.
 */
export interface ChDriverOptions {
  /** Binary path; default: findChBinary() ($HOB_CH_BINARY, `configuredBinary`, /usr/local/lib/hob/cloud-hypervisor, PATH). */
  readonly binary?: string;
  /** hobd's `vmm.chBinary` setting, for the search when `binary` is not given. */
  readonly configuredBinary?: string;
  readonly arch?: GuestArch;
  /** How restore brings guest memory in. Default Copy (OnDemand needs userfaultfd). */
  readonly memoryRestoreMode?: ChMemoryRestoreMode;
  /** How long start() waits for the API socket. Default 10 s. */
  readonly startTimeoutMs?: number;
}

/** `cloud-hypervisor --version` prints e.g. "cloud-hypervisor v53.0"; returns "v53.0". */
export function parseChVersion(output: string): string {
  const m = /cloud-hypervisor\s+(\S+)/.exec(output.trim());
  if (!m?.[1]) throw new VmmError(`cannot parse cloud-hypervisor version from: ${output.slice(0, 200)}`);
  return m[1];
}

/** True when a /proc cmdline is a cloud-hypervisor process serving `apiSocket` (pid-reuse guard). */
export function isChCmdlineFor(cmdline: readonly string[], apiSocket: string): boolean {
  const exe = cmdline[0];
  if (!exe || !basename(exe).startsWith('cloud-hypervisor')) return false;
  const i = cmdline.indexOf('--api-socket');
  const v = i >= 0 ? cmdline[i + 1] : undefined;
  return v === `path=${apiSocket}` || v === apiSocket;
}

/** argv of one CH process: only the API socket; the VM comes through vm.create or vm.restore. */
export function chArgv(binary: string, paths: Pick<ChPaths, 'apiSocket'>): string[] {
  return [binary, '--api-socket', `path=${paths.apiSocket}`];
}

export class ChDriver implements VmmDriver {
  readonly kind = 'cloud-hypervisor' as const;
  /** VmSpec.memoryFile is QEMU's (docs/architecture.md §26); a restore here may fault memory in on demand instead (memoryRestoreMode). */
  readonly mappedMemory = false;
  readonly arch: GuestArch;
  private readonly memoryRestoreMode: ChMemoryRestoreMode;
  private readonly startTimeoutMs: number;
  private binaryPath: string | undefined;
  private versionCache: string | undefined;

  constructor(private readonly opts: ChDriverOptions = {}) {
    this.arch = opts.arch ?? hostArch();
    this.memoryRestoreMode = opts.memoryRestoreMode ?? 'Copy';
    this.startTimeoutMs = opts.startTimeoutMs ?? 10_000;
    this.binaryPath = opts.binary;
  }

  /** The binary path; VmmError naming where it was looked for when there is none. */
  async binary(): Promise<string> {
    if (this.binaryPath) return this.binaryPath;
    const found = await findChBinary(process.env, this.opts.configuredBinary);
    if (!found) throw new VmmError(`cloud-hypervisor not found (looked for ${chBinarySearchDescription(process.env, this.opts.configuredBinary)})`);
    this.binaryPath = found;
    return found;
  }

  async version(): Promise<string> {
    if (this.versionCache) return this.versionCache;
    const bin = await this.binary();
    try {
      const { stdout } = await execa(bin, ['--version'], { timeout: 10_000 });
      this.versionCache = parseChVersion(stdout);
      return this.versionCache;
    } catch (err) {
      if (err instanceof VmmError) throw err;
      throw new VmmError(`cannot run ${bin} --version`, { cause: err });
    }
  }

  async start(spec: VmSpec): Promise<VmHandle> {
    validateSpec(spec, CH_SOCKET_NAMES);
    if (spec.memoryFile !== undefined) throw new VmmError(`VM ${spec.id}: the cloud-hypervisor driver does not keep guest RAM in a file`);
    const paths = chPaths(spec.runDir);
    await this.ensureNoLiveVm(spec, paths);
    await this.checkKernel(spec);
    await emptyDir(spec.runDir);
    return this.launch(spec, paths, 'start', async (api) => {
      await api.call('vm.create', buildVmConfig(spec, this.arch, paths));
      await api.call('vm.boot');
    }, 'running');
  }

  /**
   * Refuses, before CH is started, a kernel CH cannot boot here (docs/architecture.md §4):
   * another architecture's (ForeignArchError: CH has no emulator), and on aarch64 anything
   * but an uncompressed `Image` (VmmError). A missing kernel is left to CH's own error.
   */
  private async checkKernel(spec: VmSpec): Promise<void> {
    const arch = await kernelArch(spec.kernelPath).catch(() => this.arch);
    if (arch === null && this.arch === 'aarch64') {
      throw new VmmError(`VM ${spec.id}: ${spec.kernelPath} is not an uncompressed arm64 Image, the only kernel cloud-hypervisor boots on aarch64`);
    }
    requireRunnableArch(`VM ${spec.id}`, arch ?? this.arch, { hostArch: this.arch, driver: 'cloud-hypervisor', allowForeignArch: false });
  }

  async restore(spec: VmSpec, snapshotDir: string): Promise<VmHandle> {
    validateSpec(spec, CH_SOCKET_NAMES);
    const meta = await readSnapshotMeta(snapshotDir);
    checkSnapshotFits(meta, 'cloud-hypervisor', spec);
    if (meta.arch !== this.arch) throw new VmmError(`${snapshotDir} is an ${meta.arch} snapshot, this host is ${this.arch}`);
    const version = await this.version();
    if (meta.vmmVersion !== version) {
      throw new VmmError(
        `${snapshotDir} was taken with cloud-hypervisor ${meta.vmmVersion}, this binary is ${version}: restore needs the same version`,
      );
    }
    const paths = chPaths(spec.runDir);
    await this.ensureNoLiveVm(spec, paths);
    await removeEntries(spec.runDir, CH_TRANSIENT_FILES);
    await rm(paths.restoreSource, { recursive: true, force: true });
    await prepareRestoreSource(snapshotDir, paths.restoreSource, spec, paths);
    try {
      return await this.launch(spec, paths, 'restore', async (api) => {
        await api.call('vm.restore', buildRestoreConfig(paths.restoreSource, this.memoryRestoreMode), 60_000 + spec.memoryMiB * 200);
      }, 'paused');
    } finally {
      await rm(paths.restoreSource, { recursive: true, force: true });
    }
  }

  async adopt(spec: VmSpec): Promise<VmHandle | null> {
    const paths = chPaths(spec.runDir);
    const found = await this.findLiveVm(paths);
    if (!found) {
      await removeEntries(spec.runDir, CH_TRANSIENT_FILES).catch(() => undefined);
      return null;
    }
    const api = new ChApiClient(paths.apiSocket);
    let version: string;
    try {
      version = chPingSchema.parse((await api.call('vmm.ping', undefined, 5_000)).json).version;
    } catch (err) {
      throw new VmmError(`VM ${spec.id}: cloud-hypervisor pid ${found.pid} is alive but its API does not answer`, {
        cause: err,
      });
    }
    const watch = new ExitWatch(found);
    // A CH started by an older hob writes its serial port into a file by itself: no socket to read.
    const hasSocket = await lstat(paths.consoleSocket).then((s) => s.isSocket(), () => false);
    const consoleReader = hasSocket ? consoleReaderFor(spec, paths) : undefined;
    return new ChVm({ spec, pid: found.pid, watch, api, paths, arch: this.arch, version: normalizeVersion(version), consoleReader });
  }

  async killInRunDir(runDir: string): Promise<boolean> {
    const found = await this.findLiveVm(chPaths(runDir));
    if (found) await killAndWait(found);
    await removeEntries(runDir, CH_TRANSIENT_FILES).catch(() => undefined);
    return found !== null;
  }

  private async findLiveVm(paths: ChPaths) {
    const pid = await readPidFile(paths.pidFile);
    if (pid === null) return null;
    const identity = await processIdentity(pid);
    if (!identity) return null;
    const cmdline = await readCmdline(pid);
    if (!cmdline || !isChCmdlineFor(cmdline, paths.apiSocket)) return null;
    return identity;
  }

  private async ensureNoLiveVm(spec: VmSpec, paths: ChPaths): Promise<void> {
    const live = await this.findLiveVm(paths);
    if (live) throw new ConflictError(`VM ${spec.id}: cloud-hypervisor pid ${live.pid} still runs in ${spec.runDir}`);
  }

  /**
   * Spawns CH with only --api-socket, records its pid, waits for the API, runs `setup`
   * (create+boot or restore) and checks the VM reached `want`. On failure kills the process,
   * removes transient files and throws VmmError with CH's stderr.
   */
  private async launch(
    spec: VmSpec,
    paths: ChPaths,
    what: 'start' | 'restore',
    setup: (api: ChApiClient) => Promise<void>,
    want: 'running' | 'paused',
  ): Promise<ChVm> {
    const binary = await this.binary();
    const version = await this.version();
    const child = spawnDetached({
      argv: chArgv(binary, paths),
      netns: spec.net?.netns,
      stdoutPath: paths.stdoutLog,
      stderrPath: paths.stderrLog,
    });
    const pid = child.pid;
    const identity = pid === undefined ? null : await processIdentity(pid);
    if (pid === undefined || identity === null) {
      throw new VmmError(`VM ${spec.id}: cloud-hypervisor did not start: ${(await tailFile(paths.stderrLog)).trim()}`);
    }
    const watch = new ExitWatch(identity, child);
    const api = new ChApiClient(paths.apiSocket);
    // Retries until CH creates the serial socket (at vm.create or vm.restore).
    const consoleReader = consoleReaderFor(spec, paths);
    try {
      await writeFileDurable(paths.pidFile, `${pid}\n`);
      (await connectUnixWhenReady(paths.apiSocket, {
        timeoutMs: this.startTimeoutMs,
        gone: () => watch.hasExited,
        what: `${what} of ${spec.id}`,
      })).destroy();
      await setup(api);
      consoleReader.kick();
      const vm = new ChVm({ spec, pid, watch, api, paths, arch: this.arch, version, consoleReader });
      const state = await vm.state();
      if (state !== want) throw new VmmError(`VM ${spec.id}: cloud-hypervisor reports ${state} after ${what}, not ${want}`);
      return vm;
    } catch (err) {
      if (!watch.hasExited) signalProcess(pid, 'SIGKILL');
      await watch.waitFor(10_000);
      await consoleReader.stop();
      await removeEntries(spec.runDir, CH_TRANSIENT_FILES).catch(() => undefined);
      const stderr = (await tailFile(paths.stderrLog)).trim();
      const msg = err instanceof Error ? err.message : String(err);
      throw new VmmError(`VM ${spec.id}: ${what} failed: ${msg}${stderr ? `\ncloud-hypervisor stderr: ${stderr}` : ''}`, {
        cause: err,
      });
    }
  }
}

/** Starts copying the VM's serial socket into its bounded console log. */
function consoleReaderFor(spec: VmSpec, paths: ChPaths): ConsoleReader {
  return new ConsoleReader(paths.consoleSocket, paths.consoleLog, {
    onError: (err) => console.error(`hob: console log of VM ${spec.id}: ${err.message}`),
  }).start();
}

/** vmm.ping reports "v53.0" or "53.0" depending on build; --version's form is kept. */
function normalizeVersion(v: string): string {
  return v.startsWith('v') ? v : `v${v}`;
}
