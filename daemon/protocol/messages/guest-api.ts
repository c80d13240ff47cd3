/**
 * The API inside the guest (`guest-api.serve`, capability "guest-api"):
 * requests a program in the guest makes to /.sprite/api.sock, relayed by the
 * agent to hobd and answered there (docs/architecture.md §14).
 *
 * The host opens one `guest-api.serve` channel per agent connection, as soon
 * as it is connected; the agent answers `ready {}` and then sends an
 * `api_request` message for each HTTP request it takes on the socket. The
 * host answers each with one `api_response` carrying the same id, in any
 * order. The channel stays open until either side closes it. A request with
 * no serve channel open (an old hobd, or none connected) is answered by the
 * agent itself with 503.
 *
 * Everything about the request is the guest's word and nothing more: the host
 * knows which sandbox asks from the connection the channel lives on, never
 * from the request.
 */
import * as z from 'zod';

/** Longest request path with its query string. */
export const MAX_GUEST_API_PATH = 2048;
/** Largest request body the guest may send (JSON bodies of a few fields). */
export const MAX_GUEST_API_REQUEST_BODY = 64 * 1024;
/** Largest response body (a checkpoint list, a service's last log lines); under the control frame's 1 MiB. */
export const MAX_GUEST_API_RESPONSE_BODY = 512 * 1024;
/** Requests one guest may have in flight; the agent answers 429 beyond, and so does the host. */
export const MAX_GUEST_API_IN_FLIGHT = 4;

export const GuestApiServeRequestSchema = z.object({ op: z.literal('guest-api.serve') });

export const GuestApiMethodSchema = z.enum(['GET', 'POST', 'PUT', 'DELETE']);
export type GuestApiMethod = z.infer<typeof GuestApiMethodSchema>;

/** Agent -> host: one HTTP request from the guest. */
export const GuestApiRequestMessageSchema = z.object({
  type: z.literal('api_request'),
  id: z.number().int().min(1).max(2 ** 31),
  method: GuestApiMethodSchema,
  /** Path and query as the guest sent them, e.g. "/v1/checkpoints?include_auto=true". */
  path: z.string().min(1).max(MAX_GUEST_API_PATH),
  /** The body as text (empty when none). */
  body: z.string().max(MAX_GUEST_API_REQUEST_BODY).default(''),
});
export type GuestApiRequestMessage = z.infer<typeof GuestApiRequestMessageSchema>;

/** Host -> agent: the answer to the request `id`. */
export const GuestApiResponseMessageSchema = z.object({
  type: z.literal('api_response'),
  id: z.number().int().min(1).max(2 ** 31),
  status: z.number().int().min(100).max(599),
  contentType: z.string().max(200),
  body: z.string().max(MAX_GUEST_API_RESPONSE_BODY),
});
export type GuestApiResponseMessage = z.infer<typeof GuestApiResponseMessageSchema>;
