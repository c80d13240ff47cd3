/**
 * File operations the agent has no request for, done by the guest's own
 * coreutils (docs/architecture.md §20): copy (`cp`) and change of owner
 * (`chown`), run as root with argument arrays (`--` before the paths, so a
 * path never reads as an option), under a deadline, their output capped. The
 * paths are checked first through the agent's stat, so the common failures
 * come back as the filesystem errors every other file operation gives
 * (ENOENT, EISDIR); anything else the tool reports is EIO with its first line.
 * The guest's answer is hostile input like any other: only the exit status and
 * at most STDERR_SHOWN bytes of its stderr, escaped by the JSON response, reach
 * the client.
 */
import { posix } from 'node:path';
import { GuestError } from '../errors.js';
import { withDeadline } from './deadline.js';
import type { GuestConnection } from './guest.js';

/** Longest a copy or chown may run; a big recursive copy under TCG takes a while. */
export const FILE_TOOL_DEADLINE_MS = 10 * 60_000;
/** Output kept from the tool (it prints nothing when it works). */
const OUTPUT_LIMIT = 64 * 1024;
/** Bytes of the tool's complaint put into the error message. */
const STDERR_SHOWN = 300;

export interface CopyOptions {
  readonly recursive?: boolean;
  /** Keep mode, ownership and times. */
  readonly preserveAttrs?: boolean;
}

/** Copies `source` to `dest` in the guest. A directory needs `recursive` (EISDIR otherwise). */
export async function copyInGuest(agent: GuestConnection, source: string, dest: string, options: CopyOptions = {}): Promise<void> {
  const stat = await agent.stat(source);
  if (stat.type === 'directory' && !options.recursive) throw new GuestError('EISDIR', `${source} is a directory: copy it with recursive`);
  await agent.stat(posix.dirname(dest)); // ENOENT for a missing parent, as a write without mkdirParents gives
  const flags = options.preserveAttrs ? ['-a'] : options.recursive ? ['-R', '--no-dereference'] : [];
  await runTool(agent, ['cp', ...flags, '--', source, dest], 'copy');
}

export interface ChownOptions {
  readonly uid?: number | string;
  readonly gid?: number | string;
  readonly recursive?: boolean;
}

/** Changes the owner and/or group of `path` in the guest (names are the guest's users and groups). */
export async function chownInGuest(agent: GuestConnection, path: string, options: ChownOptions): Promise<void> {
  await agent.stat(path);
  const owner = `${options.uid ?? ''}${options.gid === undefined ? '' : `:${options.gid}`}`;
  await runTool(agent, ['chown', ...(options.recursive ? ['-R'] : []), '-h', '--', owner, path], 'chown');
}

async function runTool(agent: GuestConnection, argv: string[], what: string): Promise<void> {
  const result = await withDeadline(
    agent.run(argv, { user: 'root', env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' }, maxOutputBytes: OUTPUT_LIMIT }),
    FILE_TOOL_DEADLINE_MS,
    `${what} in the guest`,
  );
  if (result.code === 0) return;
  const said = result.stderr.subarray(0, STDERR_SHOWN).toString('utf8').split('\n')[0]?.trim() ?? '';
  const how = result.code === null ? `was killed (${result.signal ?? 'unknown signal'})` : `failed (exit ${result.code})`;
  throw new GuestError(/invalid (user|group)/.test(said) ? 'EINVAL' : 'EIO', `${what} ${how}${said ? `: ${said}` : ''}`);
}
