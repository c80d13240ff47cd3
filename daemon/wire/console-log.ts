/**
 * A sandbox's serial console log on the wire (hob extension; daemon/api/routes/console-log.ts
 * serves it, `hob console-log` and the dashboard read it): `GET
 * /v1/sandboxes/{name}/console-log?tail=BYTES` answers the last bytes as they are
 * (`text/plain`; the guest wrote them: any bytes, escape sequences, invalid UTF-8), or with
 * `Accept: application/json` a ConsoleLogObject; `&follow=1` goes on with new output.
 */
import * as z from 'zod';
import { QueryBool, QueryInt } from './request-primitives.js';

/** Largest `tail` (the log keeps 1 MiB per VM at most). */
export const CONSOLE_TAIL_MAX = 1024 * 1024;
/** `tail` when the request gives none. */
export const CONSOLE_TAIL_DEFAULT = 64 * 1024;

/** `follow`: after the tail, new output as it comes (text/plain only), until the client disconnects. */
export const ConsoleLogQuery = z.object({ tail: QueryInt(1, CONSOLE_TAIL_MAX).optional(), follow: QueryBool.optional() });

export const ConsoleLogObject = z.looseObject({
  name: z.string(),
  /** The tail, decoded as UTF-8 (invalid sequences become U+FFFD); control characters are left in: escape them to show them. */
  text: z.string(),
  /** Bytes in the tail (before decoding). */
  bytes: z.number(),
  /** Bytes the log holds now; more than `bytes` when the tail was cut. */
  available_bytes: z.number(),
  /** False when there is no log (not booted since the host started). */
  exists: z.boolean(),
});
export type ConsoleLogObject = z.infer<typeof ConsoleLogObject>;
