/**
 * The sandbox list: kept current (each event of the live event log makes the
 * table fragment be fetched and swapped in where it changed; a slow poll
 * catches what no event announces), the row actions (confirmed where they
 * lose state), and the create form with its progress.
 */
import { api, apiProgress, coalesced, followEvents, say, sayError, swap, tickSince } from './common.js';
import { confirmAction } from './dialog.js';

/** The fallback poll. */
const POLL_MS = 5000;

const refresh = coalesced(() => swap('/fragments/sandboxes'));
followEvents('/v1/events?follow=1', () => refresh());
window.setInterval(() => {
  if (!document.hidden) refresh();
}, POLL_MS);
tickSince();

const CONFIRM: Record<string, string> = {
  stop: 'Stop %s? Its processes end (the disk stays).',
  remove: 'Remove %s? Its disk and every checkpoint are deleted. This cannot be undone.',
};

document.addEventListener('click', async (event) => {
  const button = (event.target as HTMLElement).closest<HTMLButtonElement>('button[data-action]');
  if (!button) return;
  const action = button.dataset.action!;
  const name = button.dataset.name!;
  const question = CONFIRM[action];
  if (question && !(await confirmAction(question.replace('%s', name), `${action[0]!.toUpperCase()}${action.slice(1)}`))) return;
  button.disabled = true;
  const path = `/v1/sandboxes/${encodeURIComponent(name)}`;
  const call = action === 'remove' ? api('DELETE', path) : api('POST', `${path}/${action}`, action === 'sleep' ? {} : undefined);
  say(`${action} ${name}...`);
  call.then(
    () => {
      say(`${action} ${name}: done`);
      refresh();
    },
    (err: unknown) => {
      button.disabled = false;
      sayError(err);
    },
  );
});

const form = document.getElementById('create') as HTMLFormElement | null;
const progress = document.getElementById('create-progress') as HTMLPreElement | null;
form?.addEventListener('submit', (event) => {
  event.preventDefault();
  const data = new FormData(form);
  const text = (key: string) => String(data.get(key) ?? '').trim();
  const config: Record<string, number> = {};
  if (text('cpus')) config.cpus = Number(text('cpus'));
  if (text('memory')) config.ram_mb = Number(text('memory'));
  if (text('disk')) config.storage_gb = Number(text('disk'));
  const body: Record<string, unknown> = { name: text('name') };
  if (text('from')) body.from = text('from');
  else if (text('image')) body.image = text('image');
  if (Object.keys(config).length > 0) body.config = config;
  const submit = form.querySelector<HTMLButtonElement>('button[type="submit"]')!;
  submit.disabled = true;
  progress!.hidden = false;
  progress!.textContent = '';
  const started = Date.now();
  refresh();
  apiProgress('POST', '/v1/sandboxes', body, (line) => {
    if (line.data) progress!.textContent += `[${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s] ${line.data}\n`;
    refresh();
  }).then(
    () => {
      progress!.textContent += `created ${String(body.name)}\n`;
      form.reset();
      refresh();
    },
    (err: unknown) => {
      progress!.textContent += `failed: ${err instanceof Error ? err.message : String(err)}\n`;
      sayError(err);
      refresh();
    },
  ).finally(() => (submit.disabled = false));
});
