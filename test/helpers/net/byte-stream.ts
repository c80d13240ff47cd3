/** `GET /bytes/N` of the fake servers: N bytes in 64 KiB writes that honour backpressure (throughput benches). */
import type { ServerResponse } from 'node:http';

const CHUNK = Buffer.alloc(64 * 1024, 0x61);

export function sendBytes(res: ServerResponse, count: number): void {
  let left = count;
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(left) });
  const pump = (): void => {
    while (left > 0) {
      const n = Math.min(left, CHUNK.length);
      left -= n;
      if (!res.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) return void res.once('drain', pump);
    }
    res.end();
  };
  pump();
}
