/**
 * A sandbox's serial console log, as the API serves it (`GET .../console-log`): the tail of
 * the bounded, rotated file its VMM's console is copied into (vmm/console-log.ts). The file
 * lives in the VM's run dir, which survives a stop and is emptied at the next boot, so a
 * stopped sandbox still shows its last boot's output (a kernel panic, say); after a host
 * reboot (the run dir is tmpfs) or before a first boot there is none, and the tail is empty.
 */
import type { HobConfig } from '../config.js';
import { getSandboxByName, type DbLike } from '../db/index.js';
import { NotFoundError } from '../errors.js';
import { consoleLogPath } from '../vmm/console-log.js';
import { followConsole, readConsoleTail, type ConsoleCursor, type ConsoleTail } from '../vmm/console-tail.js';
import { vmRunDir } from './vm-spec.js';

/** The largest tail one request may ask for: the two rotated files hold 1 MiB at most. */
export const MAX_CONSOLE_TAIL_BYTES = 1024 * 1024;

export interface ConsoleLogService {
  /** The last `maxBytes` (at most MAX_CONSOLE_TAIL_BYTES) of a sandbox's console log. @throws NotFoundError */
  tail(name: string, maxBytes: number): Promise<ConsoleTail & { readonly name: string }>;
  /** Output after `from` (a tail's cursor) as it comes, until `signal` aborts. @throws NotFoundError */
  follow(name: string, from: ConsoleCursor | undefined, signal: AbortSignal): AsyncGenerator<Buffer>;
}

export class ConsoleLogs implements ConsoleLogService {
  constructor(private readonly deps: { readonly db: DbLike; readonly config: Pick<HobConfig, 'runDir'> }) {}

  async tail(name: string, maxBytes: number): Promise<ConsoleTail & { readonly name: string }> {
    const row = getSandboxByName(this.deps.db, name);
    if (!row) throw new NotFoundError(`no sandbox named "${name}"`);
    const bound = Math.max(0, Math.min(maxBytes, MAX_CONSOLE_TAIL_BYTES));
    const tail = await readConsoleTail(consoleLogPath(vmRunDir(this.deps.config, row.id)), bound);
    return { ...tail, name: row.name };
  }

  follow(name: string, from: ConsoleCursor | undefined, signal: AbortSignal): AsyncGenerator<Buffer> {
    const row = getSandboxByName(this.deps.db, name);
    if (!row) throw new NotFoundError(`no sandbox named "${name}"`);
    return followConsole(consoleLogPath(vmRunDir(this.deps.config, row.id)), { from, signal });
  }
}
