/**
 * Where hobd finds cloud-hypervisor: $HOB_CH_BINARY, then the config's
 * vmm.chBinary, then install.sh's place, then PATH; and that selectDriver
 * hands the configured binary to the driver. The "binaries" are shell scripts
 * in a temporary directory; nothing is run.
 */
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../daemon/config.js';
import { CH_INSTALL_PATH, chBinarySearchDescription, findChBinary } from '../../daemon/vmm/cloud-hypervisor/binary.js';
import { ChDriver } from '../../daemon/vmm/cloud-hypervisor/driver.js';
import { selectDriver } from '../../daemon/vmm/select.js';

describe('the cloud-hypervisor binary', () => {
  let dir: string;
  let onPath: string;
  let configured: string;
  let forced: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hob-ch-binary-'));
    await writeFile(join(dir, 'not-executable'), '#!/bin/sh\n');
    for (const name of ['cloud-hypervisor', 'my-ch', 'forced-ch']) {
      await writeFile(join(dir, name), '#!/bin/sh\necho cloud-hypervisor v53.0\n');
      await chmod(join(dir, name), 0o755);
    }
    onPath = join(dir, 'cloud-hypervisor');
    configured = join(dir, 'my-ch');
    forced = join(dir, 'forced-ch');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('is the configured one (an absolute path, or a name on PATH) rather than the one on PATH', async () => {
    const env = { PATH: dir };
    expect(await findChBinary(env, configured)).toBe(configured);
    expect(await findChBinary(env, 'my-ch')).toBe(configured);
    expect(chBinarySearchDescription(env, configured)).toBe(`vmm.chBinary=${configured}`);
    expect(chBinarySearchDescription(env, 'my-ch')).toBe('vmm.chBinary=my-ch on PATH');
  });

  it('is $HOB_CH_BINARY over the configured one', async () => {
    expect(await findChBinary({ PATH: dir, HOB_CH_BINARY: forced }, configured)).toBe(forced);
  });

  it('is not looked for elsewhere when the configured one is missing or not executable', async () => {
    const env = { PATH: dir };
    expect(await findChBinary(env, join(dir, 'missing'))).toBeNull();
    expect(await findChBinary(env, join(dir, 'not-executable'))).toBeNull();
    expect(await findChBinary(env, 'missing-ch')).toBeNull();
  });

  it('without a setting is install.sh\'s copy, else cloud-hypervisor on PATH', async () => {
    expect(await findChBinary({ PATH: dir })).toBe(existsSync(CH_INSTALL_PATH) ? CH_INSTALL_PATH : onPath);
    expect(chBinarySearchDescription({})).toBe(`${CH_INSTALL_PATH} or cloud-hypervisor on PATH`);
  });

  it('is what selectDriver gives the cloud-hypervisor driver, found or not', async () => {
    const found = await selectDriver({ configured: 'cloud-hypervisor', chBinary: configured, env: { PATH: dir } });
    expect(found.driver).toBeInstanceOf(ChDriver);
    expect(found.reason).toContain(`(${configured})`);
    expect(await (found.driver as ChDriver).binary()).toBe(configured);

    const missing = join(dir, 'missing');
    const notFound = await selectDriver({ configured: 'cloud-hypervisor', chBinary: missing, env: { PATH: dir } });
    expect(notFound.problems.join('\n')).toContain(`looked for vmm.chBinary=${missing}`);
    await expect((notFound.driver as ChDriver).binary()).rejects.toThrow(`vmm.chBinary=${missing}`);
  });

  it('is validated in the config: an absolute path or a bare program name', () => {
    expect(parseConfig('vmm: { chBinary: /opt/ch/cloud-hypervisor }', { env: {} }).vmm.chBinary).toBe('/opt/ch/cloud-hypervisor');
    expect(parseConfig('vmm: { chBinary: cloud-hypervisor-static }', { env: {} }).vmm.chBinary).toBe('cloud-hypervisor-static');
    expect(parseConfig('', { env: {} }).vmm.chBinary).toBeUndefined();
    expect(() => parseConfig('vmm: { chBinary: bin/ch }', { env: {} })).toThrow(ConfigError);
    expect(() => parseConfig('vmm: { chBinary: bin/ch }', { env: {} })).toThrow(/vmm\.chBinary: must be an absolute path or a program name/);
  });
});
