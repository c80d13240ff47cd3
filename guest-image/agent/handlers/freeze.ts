/**
 * fs.freeze / fs.thaw of the root filesystem, for consistent checkpoints.
 *
 * While frozen, every write to / blocks in the kernel, so the agent itself must
 * not write there: it only logs to the console and asks a helper process to
 * freeze or thaw (kernel-helper.ts: one started once and kept, so a
 * checkpoint starts no process in the guest), or, where the helper cannot run,
 * runs `fsfreeze` (reading a binary is fine; atime updates are skipped on a
 * frozen fs). Either way the ioctl runs in another process, so the event loop
 * never blocks. An auto-thaw timer undoes a freeze whose host vanished; a
 * second freeze while frozen only re-arms it. Thawing a filesystem that is not
 * frozen is not an error.
 */
import { execa } from 'execa';
import type { RequestOf, ResultOf } from '../../../daemon/protocol/index.js';
import { codeFromMessage, OpError } from '../errors.js';
import { log } from '../log.js';
import { HelperUnavailableError, kernelHelper as helper } from './kernel-helper.js';

const ROOT = '/';
let helperFailureLogged = false;
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
  try {
    await (flag === '-f' ? helper.freeze() : helper.thaw());
    return;
  } catch (err) {
    if (!(err instanceof HelperUnavailableError)) throw err;
    if (!helperFailureLogged) log(`freeze helper: ${err.message}; using the fsfreeze command`);
    helperFailureLogged = true;
  }
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
      try {
        await fsfreeze('-f');
      } catch (err) {
        // EBUSY: frozen already (by a helper that died before answering, say), which is what was asked; the thaw undoes it.
        if (!(err instanceof OpError && err.code === 'EBUSY')) throw err;
      }
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
