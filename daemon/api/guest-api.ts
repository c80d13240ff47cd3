/**
 * The API inside each guest (/.sprite/api.sock, docs/architecture.md §14),
 * answered on the host: what a sandbox may do to itself, in the Sprites shapes.
 * Paths are Sprites' in-sprite ones, without a sandbox name:
 *
 * - `GET /v1/info` (also `/v1/sprite`) → the Sprite object of this sandbox.
 * - `GET /v1/checkpoints[?include_auto=true]`, `GET /v1/checkpoints/{id}`,
 *   `POST /v1/checkpoint` (also `/v1/checkpoints`) `{comment?}` → NDJSON progress.
 * - `POST /v1/checkpoints/{id}/restore` → 202 RestoreScheduled; the restore
 *   runs RESTORE_DELAY_MS after the answer left (it stops this very guest).
 * - `/v1/services...`: list, get, create (PUT), delete, start, stop, restart,
 *   signal, logs (without `follow`), as the host API's service routes.
 * - `/v1/tasks`: Sprites' tasks (core/guest-tasks.ts).
 *
 * Everything but tasks and restore is the host API itself, called in-process
 * with the path rewritten to `/v1/sprites/<this sandbox>/...`: the same
 * validation, errors and shapes. The sandbox is the one whose agent
 * connection the request came on (core/guest-api.ts); a path may name no
 * other: segments are plain names (no `%`, no `.` or `..`), only the routes
 * above exist, and only their own query parameters pass. Anything else is a
 * 404. An answer larger than MAX_GUEST_API_RESPONSE_BODY is a 502.
 */
import type { GuestApiRequest, GuestApiResponse } from '../core/guest-api.js';
import type { GuestTasks, Task } from '../core/guest-tasks.js';
import { BadRequestError, ConflictError } from '../errors.js';
import { MAX_GUEST_API_RESPONSE_BODY } from '../protocol/index.js';
import { TaskCreateBody, TaskNameSchema, TaskRefreshBody, type RestoreScheduled, type TaskObject } from '../wire/guest-api.js';
import { errorResponse } from './errors.js';
import type { ApiLog } from './log.js';
import { parseInput } from './validate.js';

/** Time between the answer to a restore request and the restore (the guest reads its answer first). */
export const RESTORE_DELAY_MS = 1000;
/** Tries of a scheduled restore that finds another operation running (409). */
const RESTORE_TRIES = 10;

export interface GuestApiHost {
  /** The host API (hono `app.fetch` on the unix listener: no token). */
  fetch(request: Request): Promise<Response>;
  nameOf(sandboxId: string): string | undefined;
  restore(name: string, ref: string): Promise<unknown>;
  getCheckpoint(name: string, ref: string): Promise<{ readonly id: string }>;
  readonly tasks: GuestTasks;
  readonly log: ApiLog;
}

const SEGMENT = /^[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,127}$/;

/** A route: the host API path (after /v1/sprites/<name>) and the query parameters it may keep. */
interface Forward {
  readonly path: string;
  readonly query: readonly string[];
  readonly body?: string;
}

function json(status: number, value: unknown): GuestApiResponse {
  return { status, contentType: 'application/json', body: `${JSON.stringify(value)}\n` };
}

function failure(err: unknown, log: ApiLog, where: string): GuestApiResponse {
  const { status, body, unexpected } = errorResponse(err);
  if (unexpected) log.error(`unexpected error in ${where}`, { error: err instanceof Error ? err.stack : String(err) });
  return json(status, body);
}

const taskObject = (t: Task): TaskObject => ({ name: t.name, started_at: new Date(t.startedAt).toISOString(), expires_at: new Date(t.expiresAt).toISOString() });

function parseBody(text: string): unknown {
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new BadRequestError('the request body is not JSON');
  }
}

/** Which host route a guest request maps to (undefined: not served inside a guest). */
function forwardOf(method: string, seg: readonly string[], body: string): Forward | undefined {
  const [a, b, c, d] = seg;
  const n = seg.length;
  if (a === 'info' || a === 'sprite') return method === 'GET' && n === 1 ? { path: '', query: [] } : undefined;
  if (a === 'checkpoint' || (a === 'checkpoints' && n === 1 && method === 'POST')) {
    if (method !== 'POST' || n !== 1) return undefined;
    // Only a comment: a memory checkpoint of itself is not offered inside (it pauses the caller).
    const parsed = parseBody(body);
    const comment = typeof parsed === 'object' && parsed !== null ? (parsed as { comment?: unknown }).comment : undefined;
    return { path: '/checkpoint', query: [], body: JSON.stringify(comment === undefined ? {} : { comment }) };
  }
  if (a === 'checkpoints' && method === 'GET') {
    if (n === 1) return { path: '/checkpoints', query: ['include_auto', 'includeAuto'] };
    if (n === 2) return { path: `/checkpoints/${b}`, query: [] };
    return undefined;
  }
  if (a !== 'services') return undefined;
  if (n === 1) return method === 'GET' ? { path: '/services', query: [] } : undefined;
  if (n === 2 && b === 'signal') return method === 'POST' ? { path: '/services/signal', query: [], body } : undefined;
  if (n === 2) {
    if (method === 'GET' || method === 'DELETE') return { path: `/services/${b}`, query: [] };
    if (method === 'PUT') return { path: `/services/${b}`, query: ['duration'], body };
    return undefined;
  }
  if (n === 3 && method === 'POST' && (c === 'start' || c === 'restart')) return { path: `/services/${b}/${c}`, query: ['duration'] };
  if (n === 3 && method === 'POST' && c === 'stop') return { path: `/services/${b}/stop`, query: ['timeout'] };
  if (n === 3 && method === 'GET' && c === 'logs' && d === undefined) return { path: `/services/${b}/logs`, query: ['lines', 'duration'] };
  return undefined;
}

/** The handler hobd installs with SandboxManager.serveGuestApi. */
export function createGuestApiHandler(host: GuestApiHost): (sandboxId: string, request: GuestApiRequest, signal: AbortSignal) => Promise<GuestApiResponse> {
  const notFound = (req: GuestApiRequest): GuestApiResponse => json(404, { error: 'not_found', message: `no route for ${req.method} ${req.path.slice(0, 200)} inside a sandbox` });

  async function forward(name: string, route: Forward, method: string, params: URLSearchParams, signal: AbortSignal): Promise<GuestApiResponse> {
    const query = new URLSearchParams();
    for (const key of route.query) {
      const value = params.get(key);
      if (value !== null) query.set(key, value);
    }
    const url = `http://localhost/v1/sprites/${name}${route.path}${query.size > 0 ? `?${query}` : ''}`;
    const response = await host.fetch(new Request(url, {
      method,
      signal,
      ...(route.body !== undefined && route.body !== '' ? { body: route.body, headers: { 'content-type': 'application/json' } } : {}),
    }));
    const text = await boundedText(response);
    if (text === undefined) return json(502, { error: 'too_large', message: `the answer exceeds ${MAX_GUEST_API_RESPONSE_BODY} bytes` });
    return { status: response.status, contentType: response.headers.get('content-type') ?? 'application/json', body: text };
  }

  function scheduleRestore(name: string, ref: string): void {
    let tries = 0;
    const attempt = (): void => {
      host.restore(name, ref).catch((err: unknown) => {
        if (err instanceof ConflictError && ++tries < RESTORE_TRIES) {
          setTimeout(attempt, RESTORE_DELAY_MS).unref();
          return;
        }
        host.log.error(`restore of ${name} to ${ref} asked from inside it failed`, { error: err instanceof Error ? err.message : String(err) });
      });
    };
    setTimeout(attempt, RESTORE_DELAY_MS).unref();
  }

  async function tasks(sandboxId: string, name: string, req: GuestApiRequest, seg: readonly string[]): Promise<GuestApiResponse | undefined> {
    const t = host.tasks;
    if (seg.length === 1) {
      if (req.method === 'GET') return json(200, { tasks: t.list(sandboxId).map(taskObject) });
      if (req.method === 'POST' || req.method === 'PUT') {
        const body = parseInput(TaskCreateBody, parseBody(req.body), 'task');
        return json(req.method === 'POST' ? 201 : 200, taskObject(await t.put(sandboxId, name, body.name, body.expire, req.method === 'PUT')));
      }
      return undefined;
    }
    if (seg.length !== 2) return undefined;
    const task = parseInput(TaskNameSchema, seg[1], 'task name');
    if (req.method === 'GET') return json(200, taskObject(t.get(sandboxId, task)));
    if (req.method === 'PUT') return json(200, taskObject(await t.put(sandboxId, name, task, parseInput(TaskRefreshBody, parseBody(req.body), 'task').expire, true)));
    if (req.method === 'DELETE') {
      await t.remove(sandboxId, name, task);
      return { status: 204, contentType: 'application/json', body: '' };
    }
    return undefined;
  }

  return async (sandboxId, req, signal) => {
    const name = host.nameOf(sandboxId);
    if (name === undefined) return json(404, { error: 'not_found', message: 'this sandbox no longer exists' });
    const q = req.path.indexOf('?');
    const pathname = q < 0 ? req.path : req.path.slice(0, q);
    const params = new URLSearchParams(q < 0 ? '' : req.path.slice(q + 1));
    const parts = pathname.split('/');
    // "/v1/a/b" (a trailing "/" allowed): every segment a plain name.
    if (parts[0] !== '' || parts[1] !== 'v1') return notFound(req);
    const seg = parts.slice(2);
    if (seg.at(-1) === '' && seg.length > 1) seg.pop();
    if (seg.length === 0 || !seg.every((s) => SEGMENT.test(s))) return notFound(req);
    try {
      if (seg[0] === 'tasks') return (await tasks(sandboxId, name, req, seg)) ?? notFound(req);
      if (seg[0] === 'checkpoints' && seg.length === 3 && seg[2] === 'restore' && req.method === 'POST') {
        const checkpoint = await host.getCheckpoint(name, seg[1] ?? '');
        scheduleRestore(name, checkpoint.id);
        const answer: RestoreScheduled = { status: 'scheduled', checkpoint: checkpoint.id, message: `restore of ${checkpoint.id} scheduled: this sandbox restarts from it in a moment` };
        return json(202, answer);
      }
      const route = forwardOf(req.method, seg, req.body);
      if (!route) return notFound(req);
      if (seg[0] === 'services' && params.get('follow') !== null && params.get('follow') !== 'false') {
        throw new BadRequestError('follow is not offered inside a sandbox: read the log file, or use duration');
      }
      return await forward(name, route, req.method, params, signal);
    } catch (err) {
      if (signal.aborted) return json(504, { error: 'timeout', message: 'the request was abandoned' });
      return failure(err, host.log, `guest API ${req.method} ${req.path.slice(0, 100)}`);
    }
  };
}

/** The response's body as text; undefined past MAX_GUEST_API_RESPONSE_BODY bytes. */
async function boundedText(response: Response): Promise<string | undefined> {
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_GUEST_API_RESPONSE_BODY) {
      await reader.cancel().catch(() => undefined);
      return undefined;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}
