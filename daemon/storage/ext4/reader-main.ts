/**
 * The ext4 reader process (started by run-reader.ts, never imported by
 * hobd): reads the two guest images it inherited as file descriptors 3
 * (older) and 4 (newer) and writes its answer to stdout as JSON lines (see
 * protocol.ts). It runs as an unprivileged uid without capabilities (it
 * drops to it itself, see dropPrivileges), under memory, CPU and wall-clock
 * limits, so a crafted image can at worst crash it.
 *
 * Usage: node reader-main.js '<ReaderRequest as JSON>'
 */
import { readFileSync, writeSync } from 'node:fs';
import { CorruptImageError } from './errors.js';
import { lookup, readContent } from './files.js';
import { Ext4Image } from './image.js';
import { nodeType, type Inode } from './inode.js';
import type { FileSide, ReaderLine, ReaderRequest } from './protocol.js';
import { TreeDiff } from './tree-diff.js';

const OLDER_FD = 3;
const NEWER_FD = 4;
/** Output is written in batches of about this many bytes (one write per batch; a pipe write blocks while hobd is not reading). */
const BATCH = 64 * 1024;
/** Longest error message sent (the protocol's bound). */
const MAX_MESSAGE = 4000;

let pending = '';
function out(line: ReaderLine): void {
  pending += `${JSON.stringify(line)}\n`;
  if (pending.length >= BATCH) flush();
}
/** A blocking sleep (this process has nothing else to do while hobd drains the pipe). */
const nap = (ms: number): void => { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms); };

function flush(): void {
  const buf = Buffer.from(pending, 'utf8');
  pending = '';
  let n = 0;
  while (n < buf.length) {
    try {
      n += writeSync(1, buf, n, buf.length - n);
    } catch (err) {
      // stdout may be a non-blocking pipe: a full pipe is backpressure, wait for hobd to read.
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      nap(1);
    }
  }
}

function main(): void {
  const req = JSON.parse(process.argv[2] ?? 'null') as ReaderRequest;
  if (req.dropTo !== undefined) dropPrivileges(req.dropTo);
  const older = new Ext4Image(OLDER_FD, 'older');
  const newer = new Ext4Image(NEWER_FD, 'newer');
  const raw = Buffer.from(req.path, 'utf8').toString('latin1');
  if (req.mode === 'diff') {
    let n = 0;
    let truncated = false;
    new TreeDiff(older, newer, (entry) => {
      if (n === req.maxEntries) {
        truncated = true;
        return false;
      }
      n++;
      out({ t: 'entry', ...entry });
      return true;
    }).run(raw);
    out({ t: 'end', truncated });
  } else {
    const side = (img: Ext4Image, node: Inode | undefined): FileSide | null => {
      if (!node) return null;
      const type = nodeType(node.mode);
      const small = type === 'file' && node.size <= req.maxFileBytes;
      return { type, size: node.size, ...(small ? { data: readContent(img, node, node.size).toString('base64') } : {}) };
    };
    out({ t: 'file', older: side(older, lookup(older, raw)), newer: side(newer, lookup(newer, raw)) });
  }
}

/**
 * Becomes `id` (uid and gid, no supplementary groups). The reader starts as
 * root only so that it can load its code wherever hob is installed (a
 * checkout under a 0700 home); setpriv already cleared its capability
 * bounding set and set no_new_privs, so once the uids are not 0 no capability
 * is left. Verified, not assumed: it stops unless it is now `id` with no
 * effective or permitted capability.
 */
function dropPrivileges(id: number): void {
  if (!process.setgroups || !process.setgid || !process.setuid) throw new Error('the reader cannot change its uid on this platform');
  process.setgroups([]);
  process.setgid(id);
  process.setuid(id);
  const status = readFileSync('/proc/self/status', 'utf8');
  const caps = ['CapEff', 'CapPrm'].map((k) => new RegExp(`^${k}:\\s*([0-9a-f]+)$`, 'm').exec(status)?.[1]);
  if (process.getuid?.() !== id || process.geteuid?.() !== id || process.getgid?.() !== id || caps.some((c) => c === undefined || !/^0+$/.test(c))) {
    throw new Error(`the reader could not drop its privileges (uid ${process.geteuid?.()}, capabilities ${caps.join('/')})`);
  }
}

try {
  main();
  flush();
} catch (err) {
  // A CorruptImageError is the expected answer to a crafted image; anything else is a bug or a crash of this reader.
  pending = '';
  out({ t: 'error', corrupt: err instanceof CorruptImageError, message: ((err as Error)?.message ?? String(err)).slice(0, MAX_MESSAGE) });
  flush();
  process.exitCode = 2;
}
