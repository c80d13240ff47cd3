/**
 * The QMP client against a real qemu (machine `none`: no guest, no CPU load).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VmmError } from '../../daemon/errors.js';
import { QemuDriver } from '../../daemon/vmm/qemu/driver.js';
import { QmpClient, QmpCommandError, type QmpEvent } from '../../daemon/vmm/qemu/qmp.js';
import { connectUnixWhenReady } from '../../daemon/vmm/unix.js';

const binary = 'qemu-system-x86_64';
const haveQemu = await execa(binary, ['--version']).then(() => true, () => false);
if (!haveQemu) console.warn(`skipping the QMP tests: ${binary} is not installed`);

describe.skipIf(!haveQemu)('QmpClient with a real qemu', () => {
  let dir: string;
  let qemu: ResultPromise | undefined;
  let client: QmpClient;
  let greetingVersion: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hob-qmp-'));
    const sock = join(dir, 'qmp.sock');
    qemu = execa(binary, [
      '-M', 'none', '-nodefaults', '-no-user-config', '-display', 'none', '-S',
      '-chardev', `socket,id=qmp,path=${sock},server=on,wait=off`,
      '-mon', 'chardev=qmp,mode=control',
    ], { reject: false });
    const s = await connectUnixWhenReady(sock, { timeoutMs: 20_000, what: 'qmp test' });
    const opened = await QmpClient.open(s);
    client = opened.client;
    const v = opened.greeting.version.qemu;
    greetingVersion = `${v.major}.${v.minor}.${v.micro}`;
  });

  afterAll(async () => {
    client?.close();
    qemu?.kill('SIGKILL');
    await qemu;
    rmSync(dir, { recursive: true, force: true });
  });

  it('negotiates and reports the same version as the binary', async () => {
    const binVersion = await new QemuDriver({ binary }).version();
    expect(binVersion.startsWith(greetingVersion)).toBe(true);
    const qv = await client.execute('query-version', undefined);
    expect(`${qv.qemu.major}.${qv.qemu.minor}.${qv.qemu.micro}`).toBe(greetingVersion);
  });

  it('runs commands with typed replies and emits STOP/RESUME events', async () => {
    expect((await client.execute('query-status', undefined)).status).toBe('prelaunch');
    const events: QmpEvent[] = [];
    client.on('event', (e) => events.push(e));
    const resumed = client.waitForEvent('RESUME', 10_000);
    await client.execute('cont', undefined);
    await resumed;
    expect((await client.execute('query-status', undefined)).status).toBe('running');
    const stopped = client.waitForEvent('STOP', 10_000);
    await client.execute('stop', undefined);
    await stopped;
    const st = await client.execute('query-status', undefined);
    expect(st).toMatchObject({ status: 'paused', running: false });
    expect(events.map((e) => e.event)).toEqual(['RESUME', 'STOP']);
    expect(events[0]?.timestamp.seconds).toBeGreaterThan(0);
  });

  it('turns error replies into QmpCommandError and keeps the session usable', async () => {
    const err = await client.execute('migrate-incoming', { uri: 'unix:/nonexistent/x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QmpCommandError);
    expect(err).toBeInstanceOf(VmmError);
    expect((err as QmpCommandError).errorClass).toBe('GenericError');
    expect((err as QmpCommandError).desc).toMatch(/incoming/);
    // Concurrent commands are matched to their replies by id.
    const [a, b] = await Promise.all([
      client.execute('query-status', undefined),
      client.execute('query-machines', undefined),
    ]);
    expect(a.status).toBe('paused');
    expect(b.some((m) => m.alias === 'q35')).toBe(true);
  });

  it('reports SHUTDOWN and then the close when qemu quits; later commands reject', async () => {
    const shutdown = client.waitForEvent('SHUTDOWN', 10_000);
    const closed = new Promise<void>((resolve) => client.once('close', resolve));
    await client.execute('quit', undefined).catch(() => undefined); // the reply may race the close
    const e = await shutdown;
    expect(e.data?.guest).toBe(false);
    await closed;
    expect(client.closed).toBe(true);
    await expect(client.execute('query-status', undefined)).rejects.toThrow(/connection closed/);
    const result = await qemu;
    expect(result?.exitCode).toBe(0);
  });
});
