/**
 * HTTP client for cloud-hypervisor's REST API on its unix socket (`--api-socket`).
 *
 * Facts of CH's server (micro_http) this works around: it does not decode chunked bodies,
 * so every request carries an explicit Content-Length (also 0); bodies are limited to
 * 50 KiB; errors come back as a JSON array of strings (outermost error first). Requests are
 * serialised by CH anyway (one call blocks the others), so each one uses its own connection.
 */
import http from 'node:http';
import * as z from 'zod';
import { VmmError } from '../../errors.js';

/** CH's request body limit. */
export const CH_MAX_BODY_BYTES = 50 * 1024;

const API_PREFIX = '/api/v1/';

/** Endpoints hob calls, with the HTTP method CH expects for each. */
export const chEndpoints = {
  'vmm.ping': 'GET',
  'vmm.shutdown': 'PUT',
  'vm.info': 'GET',
  'vm.create': 'PUT',
  'vm.boot': 'PUT',
  'vm.pause': 'PUT',
  'vm.resume': 'PUT',
  'vm.power-button': 'PUT',
  'vm.shutdown': 'PUT',
  'vm.snapshot': 'PUT',
  'vm.restore': 'PUT',
} as const;
export type ChEndpoint = keyof typeof chEndpoints;

/** Turns an error response into a message: CH's JSON array of strings joined, else the raw text. */
export function parseChError(status: number, body: string): string {
  const text = body.trim();
  try {
    const parsed = z.array(z.string()).safeParse(JSON.parse(text));
    if (parsed.success && parsed.data.length > 0) return parsed.data.join(': ');
  } catch {
    // not JSON
  }
  return text ? `HTTP ${status}: ${text.slice(0, 500)}` : `HTTP ${status}`;
}

/** cloud-hypervisor answered with an HTTP error status. */
export class ChApiError extends VmmError {
  constructor(
    readonly endpoint: ChEndpoint,
    readonly status: number,
    /** CH's error chain, joined. */
    readonly detail: string,
  ) {
    super(`cloud-hypervisor ${endpoint} failed: ${detail}`);
  }
}

export interface ChResponse {
  readonly status: number;
  /** Parsed JSON body, or undefined for an empty body (204). */
  readonly json: unknown;
}

export class ChApiClient {
  constructor(
    /** Path of the API unix socket. */
    readonly socketPath: string,
  ) {}

  /**
   * Calls one endpoint. Resolves on 2xx with the parsed body; rejects with ChApiError on an
   * HTTP error, VmmError on a connection failure, timeout, oversize body or non-JSON reply.
   */
  async call(endpoint: ChEndpoint, body?: unknown, timeoutMs = 30_000): Promise<ChResponse> {
    const method = chEndpoints[endpoint];
    const payload = body === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(body));
    if (payload.length > CH_MAX_BODY_BYTES) {
      throw new VmmError(`cloud-hypervisor ${endpoint}: body of ${payload.length} bytes exceeds ${CH_MAX_BODY_BYTES}`);
    }
    const headers: http.OutgoingHttpHeaders = { 'Content-Length': payload.length, Accept: 'application/json' };
    if (payload.length > 0) headers['Content-Type'] = 'application/json';
    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = http.request(
        { socketPath: this.socketPath, path: API_PREFIX + endpoint, method, headers, agent: false, timeout: timeoutMs },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new VmmError(`cloud-hypervisor ${endpoint}: no answer within ${timeoutMs} ms`)));
      req.on('error', (err) =>
        reject(err instanceof VmmError ? err : new VmmError(`cloud-hypervisor ${endpoint}: ${err.message}`, { cause: err })),
      );
      req.end(payload);
    });
    if (status < 200 || status >= 300) throw new ChApiError(endpoint, status, parseChError(status, text));
    if (!text.trim()) return { status, json: undefined };
    try {
      return { status, json: JSON.parse(text) };
    } catch (err) {
      throw new VmmError(`cloud-hypervisor ${endpoint}: reply is not JSON: ${text.slice(0, 200)}`, { cause: err });
    }
  }
}

/** Relevant part of `GET /vm.info`. */
export const chVmInfoSchema = z.object({
  state: z.enum(['Created', 'Running', 'Shutdown', 'Paused']),
  config: z.record(z.string(), z.unknown()),
});
export type ChVmInfo = z.infer<typeof chVmInfoSchema>;

/** `GET /vmm.ping`. */
export const chPingSchema = z.object({ version: z.string(), pid: z.number().optional() }).loose();
