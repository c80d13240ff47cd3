/**
 * The guest's own view of its memory, for stats: `/proc/meminfo` read through
 * the agent's `fs.read`, which every agent has had since protocol v1 (so
 * guests frozen in old checkpoints answer too, and no capability is needed).
 *
 * The answer comes from the guest, so it is hostile: at most MAX_MEMINFO_BYTES
 * are read, the whole read has a deadline, and numbers that cannot be true
 * (negative, not numbers, more than the VM was given, available above total)
 * make the reading null rather than a lie on a graph.
 */
import type { AgentClient } from '../agent/index.js';
import { withDeadline } from './deadline.js';

/** Enough for any real /proc/meminfo (about 1.5 KiB); a guest sending more is cut off. */
export const MAX_MEMINFO_BYTES = 16 * 1024;
/** A stats read is worth little: a guest slower than this is skipped for this sample. */
export const MEMINFO_DEADLINE_MS = 2_000;
/** What the guest kernel may report beyond the VM's memory (MemTotal is a little below it in practice). */
const SLACK_BYTES = 64 * 1024 * 1024;

export interface GuestMemory {
  /** MemTotal. */
  readonly totalBytes: number;
  /** MemAvailable: what programs could still get without swapping. */
  readonly availableBytes: number;
  /** totalBytes - availableBytes. */
  readonly usedBytes: number;
}

/**
 * Parses /proc/meminfo text. Null when MemTotal or MemAvailable is missing or
 * implausible for a VM of `vmBytes`.
 */
export function parseMeminfo(text: string, vmBytes: number): GuestMemory | null {
  const field = (name: string): number | undefined => {
    const m = new RegExp(`^${name}:[ \\t]*(\\d{1,15})[ \\t]*kB[ \\t]*$`, 'm').exec(text);
    return m?.[1] === undefined ? undefined : Number(m[1]) * 1024;
  };
  const total = field('MemTotal');
  const available = field('MemAvailable');
  if (total === undefined || available === undefined) return null;
  if (total <= 0 || total > vmBytes + SLACK_BYTES || available > total) return null;
  return { totalBytes: total, availableBytes: available, usedBytes: total - available };
}

/** Reads the guest's memory figures, or null (no answer in time, too long, implausible). Never throws. */
export async function readGuestMemory(agent: AgentClient, vmBytes: number, deadlineMs = MEMINFO_DEADLINE_MS): Promise<GuestMemory | null> {
  let stream: NodeJS.ReadableStream & { destroy(): void } | undefined;
  const read = (async () => {
    const reader = await agent.readFile('/proc/meminfo', { length: MAX_MEMINFO_BYTES });
    stream = reader.stream;
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of reader.stream) {
      const buf = chunk as Buffer;
      size += buf.length;
      if (size > MAX_MEMINFO_BYTES) {
        reader.stream.destroy();
        return null;
      }
      chunks.push(buf);
    }
    return parseMeminfo(Buffer.concat(chunks).toString('latin1'), vmBytes);
  })();
  try {
    return await withDeadline(read, deadlineMs, 'the guest agent (fs.read /proc/meminfo)');
  } catch {
    stream?.destroy();
    return null;
  }
}
