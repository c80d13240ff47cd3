/**
 * fs.read: `ready {size}`, the bytes on Stdout, EOF, CLOSE. `size` is the number
 * of bytes that will follow for a regular file; for special files (/proc, devices)
 * it is 0 and the stream simply runs until the file's end.
 */
import { open } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { StreamId, type Channel, type RequestOf } from '../../../daemon/protocol/index.js';
import { OpError } from '../errors.js';

export async function handleFsRead(req: RequestOf<'fs.read'>, channel: Channel): Promise<void> {
  const file = await open(req.path, 'r');
  try {
    const st = await file.stat();
    if (st.isDirectory()) throw new OpError('EISDIR', `${req.path} is a directory`);
    const offset = req.offset ?? 0;
    const available = st.isFile() ? Math.max(0, st.size - offset) : 0;
    const size = req.length === undefined ? available : Math.min(available, req.length);
    channel.send({ type: 'ready', value: { size } });
    const out = channel.writable(StreamId.Stdout);
    if (req.length === 0) {
      out.end();
    } else {
      const source = file.createReadStream({
        start: offset,
        ...(req.length !== undefined ? { end: offset + req.length - 1 } : {}),
        autoClose: false,
        highWaterMark: 64 * 1024,
      });
      await pipeline(source, out);
    }
  } finally {
    await file.close().catch(() => undefined);
  }
  channel.close();
}
