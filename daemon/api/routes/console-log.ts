/**
 * A sandbox's serial console log (hob extension; shapes in daemon/wire/console-log.ts, the
 * file in core/console-log.ts): `GET /{name}/console-log?tail=BYTES` (default 64 KiB, at
 * most 1 MiB) → the last bytes as the guest wrote them, `text/plain` (served with nosniff:
 * a browser never renders them), or a ConsoleLogObject with `Accept: application/json`.
 * No log yet (never booted since the host started) is an empty answer, not an error.
 * `&follow=1` keeps the text/plain answer open with new output (rotations and reboots
 * included) until the client disconnects.
 * Never wakes or boots the sandbox.
 *
 * Failures: 400 bad query or name, 404 unknown sandbox.
 */
import { Hono } from 'hono';
import type { ConsoleLogService } from '../../core/console-log.js';
import { CONSOLE_TAIL_DEFAULT, ConsoleLogQuery, type ConsoleLogObject } from '../../wire/console-log.js';
import { queryObject } from '../../wire/request-primitives.js';
import type { ApiEnv } from '../context.js';
import { textStream } from '../text-stream.js';
import { parseInput } from '../validate.js';
import { nameParam } from './sandboxes.js';

export function consoleLogRoutes(logs: ConsoleLogService): Hono<ApiEnv> {
  const router = new Hono<ApiEnv>();
  router.get('/:name/console-log', async (c) => {
    const name = nameParam(c.req.param('name'));
    const q = parseInput(ConsoleLogQuery, queryObject(new URL(c.req.url).searchParams), 'query');
    const tail = await logs.tail(name, q.tail ?? CONSOLE_TAIL_DEFAULT);
    if (q.follow === true) {
      const aborted = new AbortController();
      const chunks = logs.follow(name, tail.cursor, aborted.signal);
      return textStream(
        async (out) => {
          out.aborted.addEventListener('abort', () => aborted.abort(), { once: true });
          // One decoder for the whole stream: a UTF-8 sequence may be split between two reads.
          const decoder = new TextDecoder();
          out.write(decoder.decode(tail.bytes, { stream: true }));
          for await (const chunk of chunks) {
            out.write(decoder.decode(chunk, { stream: true }));
            await out.room(); // a client that does not read holds the follow back, not hobd's memory
          }
        },
        { signal: c.req.raw.signal, headers: { 'content-type': 'text/plain; charset=utf-8' } },
      );
    }
    if (/\bapplication\/json\b/.test(c.req.header('accept') ?? '')) {
      const body: ConsoleLogObject = {
        name: tail.name,
        text: tail.bytes.toString('utf8'),
        bytes: tail.bytes.length,
        available_bytes: tail.availableBytes,
        exists: tail.exists,
      };
      return c.json(body);
    }
    return c.body(new Uint8Array(tail.bytes), 200, { 'Content-Type': 'text/plain; charset=utf-8' });
  });
  return router;
}
