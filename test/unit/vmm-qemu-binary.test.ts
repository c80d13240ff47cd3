/** hobd's `vmm.qemuBinary` setting reaches the qemu driver (it runs that program, not the default). */
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QemuDriver } from '../../daemon/vmm/qemu/driver.js';
import { selectDriver } from '../../daemon/vmm/select.js';

describe('the qemu binary', () => {
  let dir: string;
  let fake: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hob-qemu-bin-'));
    fake = join(dir, 'qemu-system-custom');
    // A stand-in that only answers --version, as qemu does.
    await writeFile(fake, '#!/bin/sh\necho "QEMU emulator version 9.9.9 (test stand-in)"\n');
    await chmod(fake, 0o755);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('is the configured program when one is given', async () => {
    const selection = await selectDriver({ configured: 'qemu', qemuBinary: fake, env: {} });
    expect(selection.driver).toBeInstanceOf(QemuDriver);
    expect((selection.driver as QemuDriver).binary).toBe(fake);
    expect(await selection.driver.version()).toContain('9.9.9');
  });

  it('is qemu-system-<arch> otherwise', async () => {
    const selection = await selectDriver({ configured: 'qemu', env: {} });
    expect((selection.driver as QemuDriver).binary).toMatch(/^qemu-system-(x86_64|aarch64)$/);
  });
});
