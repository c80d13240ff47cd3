/**
 * What every page's module shares: API calls with the session's CSRF token,
 * NDJSON progress streams, fragments swapped in by element id, messages,
 * confirmation, logout.
 */

export const csrf = document.querySelector<HTMLMetaElement>('meta[name="hob-csrf"]')?.content ?? '';

export class ApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

async function errorOf(response: Response): Promise<ApiError> {
  const text = await response.text();
  try {
    const body = JSON.parse(text) as { message?: unknown };
    if (typeof body.message === 'string') return new ApiError(response.status, body.message);
  } catch {
    // not JSON
  }
  return new ApiError(response.status, `HTTP ${response.status}`);
}

/** A call to the API; throws ApiError with the API's message on failure. */
export async function api(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
  const init: RequestInit = { method, headers: { 'X-Hob-Csrf': csrf, ...headers }, credentials: 'same-origin' };
  if (body !== undefined) {
    (init.headers as Record<string, string>)['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (!response.ok) throw await errorOf(response);
  return response;
}

export interface ProgressLine {
  readonly type?: string;
  readonly data?: string;
  readonly message?: string;
  readonly error?: string;
}

/**
 * Runs a long operation that answers NDJSON progress, handing each line to
 * `onLine`; resolves with the last line, rejects on an error line.
 */
export async function apiProgress(method: string, path: string, body: unknown, onLine: (line: ProgressLine) => void): Promise<ProgressLine> {
  const response = await api(method, path, body, { Accept: 'application/x-ndjson' });
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  let last: ProgressLine = {};
  for (;;) {
    const { value, done } = await reader.read();
    if (value) buffer += value;
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const text = buffer.slice(0, nl).trim();
      buffer = buffer.slice(nl + 1);
      if (text === '') continue;
      last = JSON.parse(text) as ProgressLine;
      if (last.type === 'error') throw new ApiError(500, last.message ?? last.error ?? 'the operation failed');
      onLine(last);
    }
    if (done) return last;
  }
}

/** Fetches a fragment and replaces each element of this page that has the id of one in it; returns whether anything changed. */
export async function swap(url: string): Promise<boolean> {
  const response = await fetch(url, { credentials: 'same-origin' });
  const html = await response.text();
  if (!response.ok) {
    const doc = new DOMParser().parseFromString(html, 'text/html');
    throw new ApiError(response.status, doc.body.textContent?.trim() || `HTTP ${response.status}`);
  }
  const doc = new DOMParser().parseFromString(html, 'text/html');
  let changed = false;
  for (const fresh of Array.from(doc.body.querySelectorAll<HTMLElement>('[id]'))) {
    if (fresh.parentElement?.closest('[id]')) continue; // only the outermost ones
    const current = document.getElementById(fresh.id);
    if (!current || current.outerHTML === fresh.outerHTML) continue;
    current.replaceWith(document.importNode(fresh, true));
    changed = true;
  }
  return changed;
}

/** Fetches a fragment into a container. */
export async function load(container: HTMLElement, url: string): Promise<void> {
  const response = await fetch(url, { credentials: 'same-origin' });
  container.innerHTML = '';
  const doc = new DOMParser().parseFromString(await response.text(), 'text/html');
  for (const node of Array.from(doc.body.childNodes)) container.append(document.importNode(node, true));
}

let toastTimer: number | undefined;
/** A short message in the live region. */
export function say(message: string, isError = false): void {
  const toast = document.getElementById('toast');
  if (!toast) return;
  toast.textContent = message;
  toast.className = isError ? 'error shown' : 'shown';
  window.clearTimeout(toastTimer);
  toastTimer = window.setTimeout(() => (toast.className = ''), isError ? 8000 : 4000);
}

export function sayError(err: unknown): void {
  say(err instanceof Error ? err.message : String(err), true);
}

/** Relative times ("12s ago") of every `time.since`, kept current. */
export function tickSince(): void {
  const update = () => {
    for (const el of Array.from(document.querySelectorAll<HTMLTimeElement>('time.since'))) {
      const seconds = Math.max(0, Math.round((Date.now() - Date.parse(el.dateTime)) / 1000));
      el.textContent =
        seconds < 60 ? `${seconds}s ago` : seconds < 3600 ? `${Math.floor(seconds / 60)}m ago` : seconds < 86400 ? `${Math.floor(seconds / 3600)}h ago` : `${Math.floor(seconds / 86400)}d ago`;
    }
  };
  window.setInterval(update, 1000);
}

document.getElementById('logout')?.addEventListener('click', () => {
  api('POST', '/logout').then(
    () => location.assign('/'),
    (err: unknown) => sayError(err),
  );
});

/**
 * Follows the event log (`GET .../events?follow=1`, server-sent events; the
 * browser reconnects and resumes by itself) and calls `onEvent` for each
 * event, at most once per animation frame burst (changes come in groups).
 */
export function followEvents(url: string, onEvent: (event: { type: string; sandbox: string | null }) => void): void {
  const source = new EventSource(url);
  source.onmessage = (message) => {
    try {
      onEvent(JSON.parse(message.data as string) as { type: string; sandbox: string | null });
    } catch {
      // not an event: ignore
    }
  };
}

/** Runs `fn` at most once at a time; a call while it runs makes it run once more afterwards. */
export function coalesced(fn: () => Promise<unknown>): () => void {
  let running = false;
  let again = false;
  const run = (): void => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    void fn()
      .catch(() => undefined)
      .finally(() => {
        running = false;
        if (again) {
          again = false;
          run();
        }
      });
  };
  return run;
}
