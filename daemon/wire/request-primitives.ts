/**
 * Building blocks of the request schemas in daemon/wire/ (query booleans and
 * integers, durations, guest paths, environments), and how a query string
 * becomes the object those schemas parse.
 *
 * Bodies are parsed loosely (unknown keys are dropped, not refused): Sprites
 * SDKs send fields hob ignores (`wait_for_capacity`, `runtime`, `region`,
 * `asRoot`, ...), and a newer SDK may add more.
 */
import * as z from 'zod';

/** A boolean in a query string: true/false/1/0 (any case). An empty value counts as true (`?tty`). */
export const QueryBool = z
  .string()
  .regex(/^(true|false|1|0|)$/i, 'must be true or false')
  .transform((v) => v === '' || v.toLowerCase() === 'true' || v === '1');

/** A non-negative integer in a query string. */
export const QueryInt = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d{1,9}$/, 'must be an integer')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));

const DURATION_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Parses a Go-style duration ("10s", "1m30s", "250ms", "0") or a plain number
 * of seconds ("10", "1.5") into milliseconds. Undefined when it is neither.
 */
export function parseDuration(text: string): number | undefined {
  const t = text.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Math.round(Number(t) * 1000);
  if (!/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(t)) return undefined;
  let total = 0;
  for (const m of t.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) total += Number(m[1]) * (DURATION_UNITS[m[2] ?? ''] ?? NaN);
  return Number.isFinite(total) ? Math.round(total) : undefined;
}

/** Longest duration hob accepts anywhere (30 days), so timers stay in range. */
export const MAX_DURATION_MS = 30 * 24 * 3_600_000;

export const DurationSchema = z
  .string()
  .max(64)
  .transform((v, ctx) => {
    const ms = parseDuration(v);
    if (ms === undefined || ms > MAX_DURATION_MS) {
      ctx.addIssue({ code: 'custom', message: 'must be a duration such as 10s, 5m or 1h30m (at most 30 days)' });
      return z.NEVER;
    }
    return ms;
  });

/** A path inside the guest as a client writes it: absolute, or relative to a working directory. */
export const GuestPathText = z
  .string()
  .min(1, 'path is required')
  .max(4096)
  .refine((p) => !p.includes('\0'), 'path must not contain NUL');

export const AbsoluteGuestPath = GuestPathText.refine((p) => p.startsWith('/'), 'must be an absolute path');

/** A signal name as clients write it ("TERM", "sigterm", "SIGTERM"), one of `allowed` (bare names), parsed into "SIGTERM". */
export function signalName(allowed: readonly string[]) {
  return z
    .string()
    .max(16)
    .transform((v, ctx) => {
      const upper = v.trim().toUpperCase();
      const bare = upper.startsWith('SIG') ? upper.slice(3) : upper;
      if (!allowed.includes(bare)) {
        ctx.addIssue({ code: 'custom', message: `signal must be one of ${allowed.join(' ')}` });
        return z.NEVER;
      }
      return `SIG${bare}`;
    });
}

/** Environment variable names as POSIX shells accept them. */
const EnvName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,255}$/, 'environment variable names are letters, digits and _');
export const EnvMap = z
  .record(EnvName, z.string().max(32 * 1024).refine((v) => !v.includes('\0'), 'must not contain NUL'))
  .refine((env) => Object.keys(env).length <= 256, 'at most 256 environment variables');

/**
 * Turns URLSearchParams into a plain object for a zod schema: keys listed in
 * `arrays` become arrays of every value, other keys keep their first value.
 */
export function queryObject(params: URLSearchParams, arrays: readonly string[] = []): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const key of new Set(params.keys())) {
    out[key] = arrays.includes(key) ? params.getAll(key) : (params.get(key) ?? '');
  }
  return out;
}
