/**
 * fs.freeze / fs.thaw of the root filesystem, for consistent checkpoints.
 *
 * While frozen, every write to / blocks in the kernel, so the agent itself must
 * not write there: it only logs to the console and runs `fsfreeze` (reading a
 * binary is fine; atime updates are skipped on a frozen fs). fsfreeze runs as a
 * child process, so the event loop never blocks. An auto-thaw timer undoes a
 * freeze whose host vanished; a second freeze while frozen only re-arms it.
 * Thawing a filesystem that is not frozen is not an error.
 */
import { execa } from 'execa';
import type { RequestOf, ResultOf } from '../../../daemon/protocol/index.js';
import { codeFromMessage, OpError } from '../errors.js';
import { log } from '../log.js';

const ROOT = '/';
let frozen = false;
let autoThaw: NodeJS.Timeout | undefined;
/** Freeze and thaw run one at a time. */
let queue: Promise<unknown> = Promise.resolve();

function serialized<T>(fn: () => Promise<T>): Promise<T> {
  const run = queue.then(fn, fn);
  queue = run.catch(() => undefined);
  return run;
}

async function fsfreeze(flag: '-f' | '-u'): Promise<void> {
  const result = await execa('fsfreeze', [flag, ROOT], { reject: false, stdin: 'ignore' });
  if (result.exitCode === 0) return;
  const text = `${result.stderr ?? ''}`.trim() || (result.shortMessage ?? `exit status ${String(result.exitCode)}`);
  throw new OpError(codeFromMessage(text), `fsfreeze ${flag} ${ROOT}: ${text}`);
}

async function thawNow(reason: string): Promise<void> {
  clearTimeout(autoThaw);
  autoThaw = undefined;
  try {
    await fsfreeze('-u');
    log(`thawed ${ROOT} (${reason})`);
  } catch (err) {
    // EINVAL: it was not frozen, which is what the caller wants.
    if (!(err instanceof OpError && err.code === 'EINVAL')) throw err;
  }
  frozen = false;
}

export function fsFreeze(req: RequestOf<'fs.freeze'>): Promise<ResultOf<'fs.freeze'>> {
  return serialized(async () => {
    if (!frozen) {
      await fsfreeze('-f');
      frozen = true;
      log(`froze ${ROOT} (auto-thaw in ${req.autoThawMs} ms)`);
    }
    clearTimeout(autoThaw);
    autoThaw = setTimeout(() => {
      serialized(() => thawNow('auto-thaw: the host did not thaw in time')).catch((err: unknown) => log(`auto-thaw failed: ${String(err)}`));
    }, req.autoThawMs);
    return {};
  });
}

export function fsThaw(_req: RequestOf<'fs.thaw'>): Promise<ResultOf<'fs.thaw'>> {
  return serialized(async () => {
    await thawNow('host request');
    return {};
  });
}
