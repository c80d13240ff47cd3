/**
 * What a secret's name, hosts, guest variable and value may be
 * (docs/architecture.md §11). Every rule here is also why the proxy can
 * substitute safely: a value without control characters cannot split a header.
 */
import * as z from 'zod';
import { matchDomain, normalizeName } from '../net/policy.js';
import { InvalidSecretInputError } from './errors.js';

/** Longest value, in UTF-8 bytes. API keys and tokens are far shorter. */
export const MAX_SECRET_VALUE_BYTES = 8192;
/** Most host patterns per secret. */
export const MAX_SECRET_HOSTS = 32;

/** Letters, digits, '_' and '-', starting with a letter, 1-64 characters (the database checks the same). */
export const secretNameSchema = z.string().regex(/^[A-Za-z][A-Za-z0-9_-]{0,63}$/, 'must be 1-64 letters, digits, "_" or "-", starting with a letter');

/** A POSIX-portable environment variable name, 1-128 characters. */
export const envNameSchema = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'must be 1-128 letters, digits or "_", not starting with a digit');

const LABEL = '[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?';
const HOST_RE = new RegExp(`^${LABEL}(\\.${LABEL})+$`);
const IPV4_RE = /^\d{1,3}(\.\d{1,3}){3}$/;

/**
 * An exact host ("api.example.com") or all names below a domain
 * ("*.example.com", not example.com itself). At least two labels, no bare "*",
 * no IP addresses (substitution needs a name the TLS certificate is checked
 * against), normalized to lowercase without a trailing dot.
 */
export const hostPatternSchema = z
  .string()
  .max(256)
  .transform(normalizeName)
  .refine((p) => {
    const name = p.startsWith('*.') ? p.slice(2) : p;
    return name.length <= 253 && HOST_RE.test(name) && !IPV4_RE.test(name);
  }, 'must be a host name such as "api.example.com" or a wildcard such as "*.example.com"');

export const hostPatternsSchema = z.array(hostPatternSchema).min(1, 'at least one host is needed').max(MAX_SECRET_HOSTS)
  .transform((hosts) => [...new Set(hosts)]);

/** Printable text without control characters (so never CR, LF or NUL), 1 to MAX_SECRET_VALUE_BYTES bytes. */
export const secretValueSchema = z.string()
  .min(1, 'must not be empty')
  .refine((v) => Buffer.byteLength(v, 'utf8') <= MAX_SECRET_VALUE_BYTES, `must be at most ${MAX_SECRET_VALUE_BYTES} bytes`)
  // eslint-disable-next-line no-control-regex
  .refine((v) => !/[\u0000-\u001f\u007f]/.test(v), 'must not contain control characters (newlines, tabs, NUL)');

/** Parses `value` with `schema` or throws InvalidSecretInputError naming `field` (the message never echoes the input). */
export function parseField<T extends z.core.$ZodType>(schema: T, field: string, value: unknown): z.output<T> {
  const r = z.safeParse(schema, value);
  if (r.success) return r.data;
  const why = r.error.issues.map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message)).join('; ');
  throw new InvalidSecretInputError(field, `invalid ${field}: ${why}`);
}

/** Whether a normalized host name matches one of the patterns. */
export function hostMatches(patterns: readonly string[], host: string): boolean {
  const h = normalizeName(host);
  return patterns.some((p) => matchDomain(p, h));
}
