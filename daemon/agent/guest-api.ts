/**
 * The host end of the API inside the guest (protocol `guest-api.serve`,
 * daemon/protocol/messages/guest-api.ts): one channel per agent connection on
 * which the agent relays the guest's HTTP requests and the host answers them.
 *
 * The guest is hostile. What it can make the host hold is bounded:
 * - at most MAX_GUEST_API_IN_FLIGHT requests are handed to the handler at
 *   once; one more is answered 429 at once, without reaching the handler;
 * - past GUEST_API_BURST requests, at most GUEST_API_RATE_PER_S a second are
 *   taken (answered or refused); a guest sending more has the channel closed
 *   (`close` with an AgentError), the agent connection stays up;
 * - a response body is cut to MAX_GUEST_API_RESPONSE_BODY (the handler is
 *   told to keep under it; this is the last line of defence);
 * - an answer is one control frame: a guest that never reads them fills the
 *   connection's unsent bytes and the Mux drops the connection (mux.ts).
 * Duplicate ids in flight are refused (400): an id names one request.
 */
import { EventEmitter } from 'node:events';
import { AgentError } from '../errors.js';
import {
  MAX_GUEST_API_IN_FLIGHT,
  MAX_GUEST_API_RESPONSE_BODY,
  type Channel,
  type GuestApiMethod,
} from '../protocol/index.js';
import { TokenBucket } from './token-bucket.js';

/** Requests accepted back to back. sprite-env makes one per command; a script looping over it makes a few a second. */
export const GUEST_API_BURST = 200;
/** Requests per second after the burst. */
export const GUEST_API_RATE_PER_S = 20;

/** A request from the guest, as the handler gets it. */
export interface GuestApiRequest {
  readonly method: GuestApiMethod;
  /** Path and query, as the guest sent them (untrusted). */
  readonly path: string;
  /** Body text (untrusted; at most MAX_GUEST_API_REQUEST_BODY). */
  readonly body: string;
}

export interface GuestApiResponse {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
}

/**
 * Answers one request. `signal` aborts when the channel closes (the answer
 * would go nowhere). It should not throw; a throw is answered 500.
 */
export type GuestApiHandler = (request: GuestApiRequest, signal: AbortSignal) => Promise<GuestApiResponse>;

export interface GuestApiChannelEvents {
  /** The channel ended: close() (error undefined), the connection was lost, or the guest flooded it (AgentError). */
  close: [error: Error | undefined];
}

export class GuestApiChannel extends EventEmitter<GuestApiChannelEvents> {
  private readonly inFlight = new Map<number, AbortController>();
  private readonly bucket = new TokenBucket(GUEST_API_BURST, GUEST_API_RATE_PER_S);
  private flooded: AgentError | undefined;
  constructor(
    private readonly channel: Channel,
    private readonly handler: GuestApiHandler,
  ) {
    super();
    channel.on('control', (message) => {
      if (message.type !== 'api_request' || this.flooded) return;
      if (!this.bucket.take()) {
        this.flooded = new AgentError(`guest-api.serve: the guest sent more than ${GUEST_API_BURST} requests at over ${GUEST_API_RATE_PER_S}/s; channel closed`);
        channel.close();
        return;
      }
      const { id } = message;
      if (this.inFlight.has(id)) {
        this.answer(id, jsonError(400, 'bad_request', `request id ${id} is already in flight`));
        return;
      }
      if (this.inFlight.size >= MAX_GUEST_API_IN_FLIGHT) {
        this.answer(id, jsonError(429, 'too_many_requests', `at most ${MAX_GUEST_API_IN_FLIGHT} requests at once`));
        return;
      }
      this.run(this.handler, { method: message.method, path: message.path, body: message.body }, id);
    });
    channel.once('close', (error) => {
      for (const controller of this.inFlight.values()) controller.abort();
      this.inFlight.clear();
      this.emit('close', this.flooded ?? error);
    });
  }

  get isClosed(): boolean {
    return this.channel.isClosed;
  }

  /** Requests being handled now. */
  get pending(): number {
    return this.inFlight.size;
  }

  /** Set when the channel was closed because the guest sent requests too fast. */
  get floodError(): AgentError | undefined {
    return this.flooded;
  }

  close(): void {
    this.channel.close();
  }

  private run(handler: GuestApiHandler, request: GuestApiRequest, id: number): void {
    const controller = new AbortController();
    this.inFlight.set(id, controller);
    let answer: Promise<GuestApiResponse>;
    try {
      answer = handler(request, controller.signal);
    } catch (err) {
      answer = Promise.reject(err);
    }
    answer
      .catch((err: unknown) => jsonError(500, 'internal', `the request failed: ${err instanceof Error ? err.message : String(err)}`))
      .then((response) => {
        if (this.inFlight.get(id) !== controller) return; // the channel closed meanwhile
        this.inFlight.delete(id);
        this.answer(id, response);
      });
  }

  private answer(id: number, response: GuestApiResponse): void {
    const body = response.body.length > MAX_GUEST_API_RESPONSE_BODY ? response.body.slice(0, MAX_GUEST_API_RESPONSE_BODY) : response.body;
    this.channel.send({ type: 'api_response', id, status: response.status, contentType: response.contentType.slice(0, 200), body });
  }
}

/** A JSON error in the API's shape `{error, message}`. */
export function jsonError(status: number, error: string, message: string): GuestApiResponse {
  return { status, contentType: 'application/json', body: JSON.stringify({ error, message }) };
}
