/** sync, ping, clock.set and shutdown. */
import { existsSync } from 'node:fs';
import { uptime } from 'node:os';
import { execa } from 'execa';
import type { Channel, RequestOf, ResultOf } from '../../../daemon/protocol/index.js';
import { codeFromMessage, OpError } from '../errors.js';
import { log } from '../log.js';
import { HelperUnavailableError, kernelHelper } from './kernel-helper.js';

async function run(file: string, args: string[]): Promise<void> {
  const result = await execa(file, args, { reject: false, stdin: 'ignore' });
  if (result.exitCode === 0) return;
  const text = `${result.stderr ?? ''}`.trim() || (result.shortMessage ?? `exit status ${String(result.exitCode)}`);
  throw new OpError(codeFromMessage(text), `${file} ${args.join(' ')}: ${text}`);
}

export async function sync(_req: RequestOf<'sync'>): Promise<ResultOf<'sync'>> {
  await run('sync', []);
  return {};
}

/** Time the guest has been up, in ms. */
export async function ping(_req: RequestOf<'ping'>): Promise<ResultOf<'ping'>> {
  return { uptimeMs: Math.round(uptime() * 1000) };
}

/** Sets the system clock (after a resume or a fork the guest's clock is stale); answers the time it had before. */
export async function setClock(req: RequestOf<'clock.set'>): Promise<ResultOf<'clock.set'>> {
  const previousEpochMs = Date.now();
  try {
    // No process start: after a resume this is on the path to a running sandbox (kernel-helper.ts).
    await kernelHelper.setClock(Math.round(req.epochMs));
  } catch (err) {
    if (!(err instanceof HelperUnavailableError)) throw err;
    await run('date', ['-u', '-s', `@${(req.epochMs / 1000).toFixed(3)}`]);
  }
  return { previousEpochMs };
}

const BUSYBOX = '/bin/busybox';

/**
 * Powers the guest off (or reboots it) without an init system: sync, answer,
 * then `busybox poweroff -f` / `reboot -f` once the answer had time to leave.
 */
export async function shutdown(req: RequestOf<'shutdown'>, channel: Channel): Promise<void> {
  await run('sync', []);
  channel.send({ type: 'result', value: {} });
  channel.close();
  const verb = req.reboot ? 'reboot' : 'poweroff';
  log(`${verb} requested by the host`);
  setTimeout(() => {
    const [file, args] = existsSync(BUSYBOX) ? [BUSYBOX, [verb, '-f']] : [verb, ['-f']];
    execa(file, args, { reject: false, stdin: 'ignore' }).then(
      (r) => { if (r.exitCode !== 0) log(`${verb} failed: ${String(r.stderr)}`); },
      (err: unknown) => log(`${verb} failed: ${String(err)}`),
    );
  }, 200);
}
