/**
 * A fake Anthropic Messages API for the tests that run Claude Code against it
 * (test/e2e/dev-secrets.test.ts): `POST /v1/messages` answers only a request whose
 * `x-api-key` is the expected key (else 401 with the API's error shape), with one
 * assistant text message, streamed as server-sent events in the real event
 * shapes (message_start, content_block_start, ping, content_block_delta,
 * content_block_stop, message_delta, message_stop) when the body asks for
 * `stream: true`, else as one JSON message. Nothing is buffered: each event is a
 * write of its own.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface FakeAnthropicOptions {
  /** The only key accepted in `x-api-key`. */
  readonly apiKey: string;
  /** The assistant's answer, sent in two text deltas. */
  readonly text: string;
}

/** True if `url` is a Messages API call this fake answers. */
export function isAnthropicMessages(method: string, url: string): boolean {
  return method === 'POST' && url.split('?')[0] === '/v1/messages';
}

function event(res: ServerResponse, type: string, data: object): void {
  res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
}

export function answerAnthropicMessages(req: IncomingMessage, res: ServerResponse, body: string, o: FakeAnthropicOptions): void {
  if (req.headers['x-api-key'] !== o.apiKey) {
    res.writeHead(401, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ type: 'error', error: { type: 'authentication_error', message: 'invalid x-api-key' } }));
    return;
  }
  let parsed: { model?: unknown; stream?: unknown };
  try {
    parsed = JSON.parse(body) as { model?: unknown; stream?: unknown };
  } catch {
    res.writeHead(400, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ type: 'error', error: { type: 'invalid_request_error', message: 'body is not JSON' } }));
    return;
  }
  const model = typeof parsed.model === 'string' ? parsed.model : 'claude-fake';
  const id = `msg_fake${Date.now().toString(36)}`;
  const usage = { input_tokens: 12, output_tokens: 6, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
  if (parsed.stream !== true) {
    res.writeHead(200, { 'content-type': 'application/json', 'request-id': `req_${id}` });
    res.end(JSON.stringify({ id, type: 'message', role: 'assistant', model, content: [{ type: 'text', text: o.text }], stop_reason: 'end_turn', stop_sequence: null, usage }));
    return;
  }
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'request-id': `req_${id}` });
  const half = Math.ceil(o.text.length / 2);
  event(res, 'message_start', { message: { id, type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage: { ...usage, output_tokens: 1 } } });
  event(res, 'content_block_start', { index: 0, content_block: { type: 'text', text: '' } });
  event(res, 'ping', {});
  event(res, 'content_block_delta', { index: 0, delta: { type: 'text_delta', text: o.text.slice(0, half) } });
  event(res, 'content_block_delta', { index: 0, delta: { type: 'text_delta', text: o.text.slice(half) } });
  event(res, 'content_block_stop', { index: 0 });
  event(res, 'message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: usage.output_tokens } });
  event(res, 'message_stop', {});
  res.end();
}
