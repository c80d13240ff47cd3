/**
 * A writer for the "newc" cpio format the kernel unpacks as initramfs
 * (Documentation/driver-api/early-userspace/buffer-format.rst). Written here
 * instead of running cpio so the archive can hold device nodes without root,
 * and is byte-for-byte reproducible (fixed inode numbers, owners and mtimes).
 */

export type CpioEntry =
  | { readonly type: 'dir'; readonly path: string; readonly mode: number }
  | { readonly type: 'file'; readonly path: string; readonly mode: number; readonly data: Buffer }
  | { readonly type: 'symlink'; readonly path: string; readonly target: string }
  | { readonly type: 'chardev'; readonly path: string; readonly mode: number; readonly major: number; readonly minor: number };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

function hex8(n: number): string {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`cpio field out of range: ${n}`);
  return n.toString(16).padStart(8, '0');
}

function pad4(len: number): Buffer {
  return Buffer.alloc((4 - (len % 4)) % 4);
}

function record(
  ino: number,
  name: string,
  fields: { mode: number; nlink: number; rdevMajor?: number; rdevMinor?: number },
  data: Buffer,
  mtime: number,
): Buffer[] {
  const nameBuf = Buffer.from(`${name}\0`, 'utf8');
  const header =
    '070701' +
    [
      ino,
      fields.mode,
      0, // uid
      0, // gid
      fields.nlink,
      mtime,
      data.length,
      0, // devmajor
      0, // devminor
      fields.rdevMajor ?? 0,
      fields.rdevMinor ?? 0,
      nameBuf.length,
      0, // check (unused in newc)
    ]
      .map(hex8)
      .join('');
  const head = Buffer.concat([Buffer.from(header, 'ascii'), nameBuf]);
  return [head, pad4(head.length), data, pad4(data.length)];
}

/**
 * Serialises `entries` in the given order (parents must come before their
 * children), owned by root, all with mtime `mtime` (seconds since the epoch).
 * Paths are relative, without a leading slash.
 */
export function writeCpio(entries: readonly CpioEntry[], mtime = 0): Buffer {
  const parts: Buffer[] = [];
  let ino = 1;
  for (const e of entries) {
    const name = e.path.replace(/^\/+/, '');
    if (name === '' || name.split('/').includes('..')) throw new Error(`bad cpio path: ${e.path}`);
    switch (e.type) {
      case 'dir':
        parts.push(...record(ino++, name, { mode: S_IFDIR | (e.mode & 0o7777), nlink: 2 }, Buffer.alloc(0), mtime));
        break;
      case 'file':
        parts.push(...record(ino++, name, { mode: S_IFREG | (e.mode & 0o7777), nlink: 1 }, e.data, mtime));
        break;
      case 'symlink':
        parts.push(...record(ino++, name, { mode: S_IFLNK | 0o777, nlink: 1 }, Buffer.from(e.target, 'utf8'), mtime));
        break;
      case 'chardev':
        parts.push(
          ...record(
            ino++,
            name,
            { mode: S_IFCHR | (e.mode & 0o7777), nlink: 1, rdevMajor: e.major, rdevMinor: e.minor },
            Buffer.alloc(0),
            mtime,
          ),
        );
        break;
    }
  }
  parts.push(...record(0, 'TRAILER!!!', { mode: 0, nlink: 1 }, Buffer.alloc(0), 0));
  return Buffer.concat(parts);
}
