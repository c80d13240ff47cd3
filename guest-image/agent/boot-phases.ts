/**
 * boot.timeline (docs/architecture.md §24): when each step of this boot began, in guest
 * uptime. The initramfs and /opt/hob/init append `<name> <uptime seconds>` lines to
 * BOOT_PHASES_FILE (on /run, a tmpfs: gone at the next boot); the agent adds its own steps.
 * The host places them on its clock with the uptime of the answer.
 */
import { open } from 'node:fs/promises';
import { constants, readFileSync } from 'node:fs';
import type { RequestOf, ResultOf } from '../../daemon/protocol/index.js';
import { MAX_BOOT_PHASES } from '../../daemon/protocol/index.js';

export const BOOT_PHASES_FILE = '/run/hob/boot-phases';
/** Read at most this much of the file: a boot writes a few dozen bytes. */
const MAX_FILE_BYTES = 4096;

const marks: Array<{ name: string; atMs: number }> = [];
const marked = new Set<string>();

/**
 * The guest's uptime in ms (/proc/uptime has centiseconds). Read synchronously: the libuv
 * pool's threads may all sit in blocking reads of the virtio port (transport/virtio-serial.ts)
 * until the host speaks, and a step's time must be taken when it happens.
 */
export function uptimeMs(): number {
  return Math.round(Number.parseFloat(readFileSync('/proc/uptime', 'utf8')) * 1000);
}

/** Records that an agent step began now (first call per name counts). */
export function markBootPhase(name: string): void {
  if (marked.has(name)) return;
  marked.add(name);
  try {
    marks.push({ name, atMs: uptimeMs() });
  } catch {
    // No /proc (a host-side test): no step.
  }
}

/** `name seconds` lines; anything else is skipped. */
export function parseBootPhases(text: string): Array<{ name: string; atMs: number }> {
  const out: Array<{ name: string; atMs: number }> = [];
  for (const line of text.split('\n')) {
    const m = /^([a-z][a-z0-9-]{0,31}) (\d{1,9}(?:\.\d{1,9})?)$/.exec(line.trim());
    if (m) out.push({ name: m[1]!, atMs: Math.round(Number(m[2]) * 1000) });
  }
  return out;
}

async function readPhasesFile(): Promise<string> {
  // O_NONBLOCK: a FIFO put there must not hang the agent.
  const fh = await open(BOOT_PHASES_FILE, constants.O_RDONLY | constants.O_NONBLOCK).catch(() => undefined);
  if (!fh) return '';
  try {
    const buf = Buffer.alloc(MAX_FILE_BYTES);
    const { bytesRead } = await fh.read(buf, 0, MAX_FILE_BYTES, 0);
    return buf.subarray(0, bytesRead).toString('utf8');
  } catch {
    return '';
  } finally {
    await fh.close();
  }
}

export async function bootTimeline(_req: RequestOf<'boot.timeline'>): Promise<ResultOf<'boot.timeline'>> {
  const phases = [...parseBootPhases(await readPhasesFile()), ...marks].slice(0, MAX_BOOT_PHASES);
  return { uptimeMs: uptimeMs(), phases };
}
