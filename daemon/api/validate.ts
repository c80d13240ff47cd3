/**
 * Input validation helpers: zod parsing that fails with BadRequestError, and
 * JSON bodies read with a size limit.
 */
import * as z from 'zod';
import { BadRequestError } from '../errors.js';
import { PayloadTooLargeError } from './errors.js';

/** Largest JSON body hob reads (file uploads and exec stdin are streamed and not limited by this). */
export const MAX_JSON_BODY = 1024 * 1024;

/** One line per zod issue: `field: message`. */
export function describeIssues(error: z.core.$ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => (issue.path.length > 0 ? `${issue.path.join('.')}: ${issue.message}` : issue.message))
    .join('; ');
}

/** Parses `value` with `schema`; a failure is a 400 naming `what` ("body", "query", "name"). */
export function parseInput<S extends z.core.$ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const result = z.safeParse(schema, value);
  if (!result.success) throw new BadRequestError(`invalid ${what}: ${describeIssues(result.error)}`);
  return result.data;
}

/**
 * Reads a request body of at most `limit` bytes. Fails with 413 when the
 * Content-Length announces more, or when more arrives (chunked bodies), and
 * stops reading at that point.
 */
export async function readLimitedBody(request: Request, limit = MAX_JSON_BODY): Promise<Buffer> {
  const declared = request.headers.get('content-length');
  if (declared !== null && /^\d+$/.test(declared) && Number(declared) > limit) {
    throw new PayloadTooLargeError(`request body over ${limit} bytes`);
  }
  if (!request.body) return Buffer.alloc(0);
  const reader = request.body.getReader();
  const chunks: Buffer[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => undefined);
      throw new PayloadTooLargeError(`request body over ${limit} bytes`);
    }
    chunks.push(Buffer.from(value.buffer, value.byteOffset, value.byteLength));
  }
  return Buffer.concat(chunks, size);
}

/**
 * Reads and validates a JSON body. An empty body is treated as `{}` when
 * `emptyAsObject` is set (POST endpoints whose fields are all optional).
 */
export async function readJsonBody<S extends z.core.$ZodType>(request: Request, schema: S, options: { emptyAsObject?: boolean } = {}): Promise<z.output<S>> {
  const raw = await readLimitedBody(request);
  const text = raw.toString('utf8');
  if (text.trim() === '') {
    if (options.emptyAsObject) return parseInput(schema, {}, 'body');
    throw new BadRequestError('a JSON body is required');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new BadRequestError('the body is not valid JSON');
  }
  return parseInput(schema, value, 'body');
}
