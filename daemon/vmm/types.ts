import type { Duplex } from 'node:stream';

/** Which VMM program runs the guest. */
export type VmmKind = 'qemu' | 'cloud-hypervisor';

/** Guest CPU architecture; always the host's own. */
export type GuestArch = 'x86_64' | 'aarch64';

/** A block device handed to the guest as virtio-blk (discard enabled, raw format). */
export interface DiskSpec {
  /**
   * Stable device id, e.g. "root": [A-Za-z0-9_-], at most 32 characters. Used as the VMM's
   * device id and, on restore, to match the snapshot's disks to new paths.
   */
  readonly id: string;
  /** Absolute path of a raw image file. The guest sees the first disk as /dev/vda, the next /dev/vdb, ... */
  readonly path: string;
  /** Read-only to the guest (and opened read-only by the VMM). Default false. */
  readonly readOnly?: boolean;
}

/** A virtio-net device backed by a tap that already exists (owned by the net module). */
export interface NetSpec {
  /** Name of the tap device (at most 15 characters), inside `netns` when that is given. */
  readonly tap: string;
  /** Locally administered unicast MAC, "02:xx:xx:xx:xx:xx". */
  readonly mac: string;
  /**
   * Network namespace (a name under /run/netns) the tap lives in; the VMM process is
   * started inside it with `ip netns exec`. Absent: the VMM runs in hobd's namespace.
   */
  readonly netns?: string;
}

/** Everything a driver needs to boot one VM. Paths are absolute. */
export interface VmSpec {
  /** Sandbox id; used in process names, log lines and error messages. */
  readonly id: string;
  /**
   * Directory owned by this VM while it exists: API/QMP socket, agent socket, pid file,
   * console log, VMM stdout/stderr. Created by the caller. start() empties it; restore()
   * removes stale sockets and pid files but appends to the existing console log. Socket
   * paths must fit in 107 bytes, so keep this path short (start() fails otherwise).
   */
  readonly runDir: string;
  /** Kernel image: x86_64 bzImage (or PVH vmlinux); aarch64 uncompressed `Image` for cloud-hypervisor. */
  readonly kernelPath: string;
  /** Initramfs (the Debian cloud kernel needs it to load its virtio modules). Optional. */
  readonly initramfsPath?: string;
  /** Kernel command line without the console settings; the driver adds its own console= args. */
  readonly cmdline: string;
  /** At least one disk; the first is the guest's /dev/vda. */
  readonly disks: readonly DiskSpec[];
  /** vCPUs, >= 1. */
  readonly cpus: number;
  /** Guest RAM in MiB, >= 64. */
  readonly memoryMiB: number;
  readonly net?: NetSpec;
  /**
   * Keep guest RAM in this file, mapped shared, instead of anonymous memory (only drivers
   * with `mappedMemory`; the file is created, mode 0600). A snapshot of such a VM must be
   * taken into the file's directory: it then holds device state only and refers to the file,
   * and a restore maps the file privately, so its pages are read as the guest touches them
   * (docs/architecture.md §26). Warm templates use it.
   */
  readonly memoryFile?: string;
}

/**
 * What the VMM reports about the guest. `paused` covers every state in which the vCPUs do
 * not run but the VM can continue (user pause, finished snapshot, restored-and-waiting, and
 * for qemu a guest stopped on a host I/O error such as ENOSPC, which `resume` retries).
 * `stopped` means the guest shut down or crashed and cannot continue.
 */
export type VmRunState = 'running' | 'paused' | 'stopped';

export interface VmExit {
  /** Exit status, or null when killed by a signal or when the process was adopted (not our child). */
  readonly code: number | null;
  /** Signal name such as "SIGKILL", or null. */
  readonly signal: string | null;
}

/**
 * A live VMM process driving one guest. Every method rejects with VmmError when the VMM
 * does not answer or refuses, unless stated otherwise. Methods other than stop/kill/release
 * reject with VmmError once the process has exited.
 */
export interface VmHandle {
  readonly kind: VmmKind;
  readonly spec: VmSpec;
  /** Pid of the VMM process. */
  readonly pid: number;
  /**
   * Resolves once the VMM process has exited, for any reason (guest power-off, crash,
   * stop/kill, someone else's SIGKILL), also for adopted processes. Never rejects. By then
   * the driver has removed the sockets and the pid file from runDir.
   */
  readonly exited: Promise<VmExit>;
  /** Path of the file receiving the guest's serial console output (runDir/console.log). */
  readonly consoleLogPath: string;

  /** Asks the VMM for the guest's state. */
  state(): Promise<VmRunState>;
  /**
   * Stops the vCPUs; memory stays resident, and the VMM has flushed the disks when this
   * resolves. A no-op when already paused (qemu only: right after a snapshot the vCPUs run
   * for an instant and stop again, which qemu needs before it can take the next snapshot).
   */
  pause(): Promise<void>;
  /** Lets the vCPUs run again. A no-op when already running; VmmError when stopped. */
  resume(): Promise<void>;
  /**
   * Writes the VM's device and memory state into `dir` (which must exist and be empty),
   * fsyncs it, and writes `vmm.json` (driver kind, VMM version, VM shape) last, so a dir
   * without `vmm.json` is an incomplete snapshot. The VM must be paused (ConflictError
   * otherwise); it stays paused and can be resumed. Disks are not included: the caller
   * snapshots them while the VM is paused (the VMM has flushed them when pause returned).
   * For several snapshots of one pause, call pause() before each (see pause).
   */
  snapshot(dir: string): Promise<void>;
  /**
   * Grows disk `diskId` of the running VM to `bytes` (never shrinks) and tells the guest, whose
   * kernel then sees the new size (its filesystem is grown from inside). Absent where the
   * driver cannot (cloud-hypervisor for now): a caller then boots instead.
   */
  growDisk?(diskId: string, bytes: number): Promise<void>;
  /**
   * Graceful stop: asks the guest to power off (ACPI power button; a paused guest is resumed
   * first so it can react) and waits up to `graceMs` (default 10 s) for the VMM to exit,
   * then kills it. Resolves when the process is gone. Never rejects.
   */
  stop(opts?: { graceMs?: number }): Promise<VmExit>;
  /** Hard stop: SIGKILL to the VMM. Resolves when the process is gone. Never rejects. */
  kill(): Promise<VmExit>;
  /**
   * Opens the byte stream to the guest agent (virtio-serial for qemu, vsock for
   * cloud-hypervisor). Only one stream is open at a time; opening a new one
   * replaces (destroys) the old. Rejects with VmmError if the channel cannot be reached
   * (for cloud-hypervisor also when nothing in the guest listens on the agent port).
   * A restore resets the channel: open a new stream afterwards.
   */
  openAgentStream(): Promise<Duplex>;
  /**
   * Drops hobd's connections to the VMM (control socket, agent stream, watchers) without
   * touching the VMM process, which keeps running and can be adopted later. The handle is
   * unusable afterwards and `exited` never resolves. Used when hobd shuts down.
   */
  release(): void;
}

/** One VMM implementation. The sandbox manager talks only to this interface. */
export interface VmmDriver {
  readonly kind: VmmKind;
  /**
   * Starts a VMM process (detached: it outlives hobd) and boots the guest. Resolves once the
   * VMM reports the guest running. Rejects with VmmError (message includes the VMM's stderr)
   * if the process fails to start or boot; nothing is left running then. Rejects with
   * ConflictError if a live VMM already owns spec.runDir.
   */
  start(spec: VmSpec): Promise<VmHandle>;
  /**
   * Starts a fresh VMM process from a snapshot written by VmHandle.snapshot. The spec must
   * have the same cpus, memory, disk ids and tap name as the snapshotted VM; disk paths and
   * runDir may differ (a fork). The guest is left paused; resume() lets it continue.
   * Rejects with VmmError if the snapshot is incomplete, was written by another driver or an
   * incompatible VMM version, or does not match the spec; nothing is left running then.
   */
  restore(spec: VmSpec, snapshotDir: string): Promise<VmHandle>;
  /**
   * Re-attaches to a VMM process started earlier (for example by a previous hobd),
   * found through the pid file and control socket in spec.runDir; the process's command line
   * is checked so a recycled pid is never mistaken for the VM. Returns null if none is alive
   * (stale sockets and pid file are removed then), and also when the VMM is a restore that
   * never received its snapshot (hobd died mid-restore; the process is killed). Rejects with
   * VmmError if the process is alive but its control socket does not answer (also while
   * another live handle still holds qemu's single QMP connection: release() it first).
   */
  adopt(spec: VmSpec): Promise<VmHandle | null>;
  /**
   * Kills the VMM process of `runDir`, if one is alive (found like adopt() finds it, but
   * without talking to it: a VMM whose control socket is dead is killed too), waits for it
   * to exit and removes the run dir's stale sockets and pid file. Resolves whether a process
   * was killed. For processes nobody can adopt (an orphan run dir, an undone create).
   */
  killInRunDir(runDir: string): Promise<boolean>;
  /** Whether VmSpec.memoryFile is supported (lazy memory restore of its snapshots). */
  readonly mappedMemory: boolean;
  /** Version string of the VMM binary, recorded with snapshots. Rejects with VmmError if the binary is missing. */
  version(): Promise<string>;
}
