/**
 * The VmSpec that boots a sandbox, and where its VMM process keeps its
 * volatile files. The disk, kernel and initramfs come from the sandbox's
 * volume (SandboxVolumes.bootFiles), so deleting or rebuilding its image
 * never breaks a sandbox.
 */
import { join } from 'node:path';
import type { HobConfig } from '../config.js';
import type { Sandbox as SandboxRow } from '../db/index.js';
import type { SandboxVolumes } from '../storage/index.js';
import type { NetSpec, VmSpec } from '../vmm/types.js';
import { machineIdFor } from './identity.js';

/** `<runDir>/vms/<id>`: the VMM's sockets, pid file and console log. Short on purpose: unix socket paths are limited to 107 bytes. */
export function vmRunDir(config: Pick<HobConfig, 'runDir'>, id: string): string {
  return join(config.runDir, 'vms', id);
}

/** A sandbox VM's network device and the guest's addresses (from SandboxNetwork.setup). */
export interface VmNet {
  readonly netSpec: NetSpec;
  /** Kernel command line arguments telling the guest's init its address, gateway and DNS. */
  readonly cmdlineArgs: string;
}

/**
 * The VmSpec of a sandbox. Without `net` the VM has no network device (hobd runs
 * without sandbox networking). A VM resumed from a memory snapshot must get the
 * same devices it was saved with, so every start of a sandbox passes the same kind.
 */
export function vmSpecFor(volumes: SandboxVolumes, config: HobConfig, row: SandboxRow, net?: VmNet): VmSpec {
  const files = volumes.bootFiles(row.id);
  const cmdline = `root=/dev/vda rw hob.hostname=${row.name} hob.machine_id=${machineIdFor(row.id)}`;
  return {
    id: row.id,
    runDir: vmRunDir(config, row.id),
    kernelPath: files.kernel,
    initramfsPath: files.initramfs,
    cmdline: net ? `${cmdline} ${net.cmdlineArgs}` : cmdline,
    disks: [{ id: 'root', path: files.disk }],
    cpus: row.cpus,
    memoryMiB: row.memoryMiB,
    ...(net ? { net: net.netSpec } : {}),
  };
}
