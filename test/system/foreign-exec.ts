/**
 * binfmt_misc's qemu-user handler held for as long as a test needs to run a
 * foreign root's programs (mmdebstrap's maintainer scripts, then every command
 * in the chroot): guest-image/build/binfmt.ts registers it and, at release,
 * leaves the host as it found it.
 */
import { withForeignExec } from '../../guest-image/build/binfmt.js';
import { archInfo, hostArch } from '../../guest-image/build/host.js';
import type { GuestArch } from '../../guest-image/build/types.js';

/** Makes `arch`'s binaries runnable here until the returned release function is awaited. */
export async function holdForeignExec(arch: GuestArch, log: (line: string) => void): Promise<() => Promise<void>> {
  let release: () => void = () => undefined;
  const released = new Promise<void>((r) => (release = r));
  let held: () => void = () => undefined;
  const ready = new Promise<void>((r) => (held = r));
  const done = withForeignExec(
    archInfo(arch),
    hostArch(),
    async () => {
      held();
      await released;
    },
    log,
  );
  // A refused registration rejects `done` before `ready` resolves.
  await Promise.race([ready, done]);
  return async () => {
    release();
    await done;
  };
}
