/**
 * The images, tokens and events pages: build and remove images, create (shown
 * once) and revoke tokens; the event log kept current from its live follow.
 */
import { api, apiProgress, coalesced, followEvents, say, sayError, swap, tickSince } from './common.js';
import { confirmAction } from './dialog.js';

tickSince();

if (document.getElementById('event-filter') && !document.querySelector('main .error')) {
  const filter = new URLSearchParams(location.search);
  const follow = new URLSearchParams({ follow: '1' });
  for (const key of ['sandbox', 'type']) if (filter.get(key)) follow.set(key, filter.get(key)!);
  const refresh = coalesced(() => swap(`/fragments/events${location.search}`));
  followEvents(`/v1/events?${follow}`, () => refresh());
}

document.addEventListener('click', async (event) => {
  const target = event.target as HTMLElement;
  const image = target.closest<HTMLButtonElement>('button[data-remove-image]')?.dataset.removeImage;
  if (image !== undefined && (await confirmAction(`Remove image ${image}? Sandboxes made from it keep working.`, 'Remove'))) {
    api('DELETE', `/v1/images/${encodeURIComponent(image)}`).then(() => swap('/fragments/images'), sayError);
  }
  const token = target.closest<HTMLButtonElement>('button[data-revoke-token]')?.dataset.revokeToken;
  if (token !== undefined && (await confirmAction('Revoke this token? Clients using it are refused from now on.', 'Revoke'))) {
    api('DELETE', `/v1/tokens/${encodeURIComponent(token)}`).then(() => swap('/fragments/tokens'), sayError);
  }
});

const build = document.getElementById('image-build') as HTMLFormElement | null;
build?.addEventListener('submit', (event) => {
  event.preventDefault();
  const data = new FormData(build);
  const body: Record<string, unknown> = { variant: String(data.get('variant')), replace: data.get('replace') === 'on' };
  const name = String(data.get('name') ?? '').trim();
  if (name !== '') body.name = name;
  const progress = document.getElementById('image-progress')!;
  progress.hidden = false;
  progress.textContent = '';
  apiProgress('POST', '/v1/images', body, (line) => {
    if (line.data) progress.textContent += `${line.data}\n`;
  }).then(
    () => {
      say('image built');
      void swap('/fragments/images');
    },
    (err: unknown) => {
      progress.textContent += `failed: ${err instanceof Error ? err.message : String(err)}\n`;
      sayError(err);
    },
  );
});

const create = document.getElementById('token-create') as HTMLFormElement | null;
create?.addEventListener('submit', (event) => {
  event.preventDefault();
  const name = String(new FormData(create).get('name') ?? '').trim();
  api('POST', '/v1/tokens', { name })
    .then((r) => r.json() as Promise<{ token: string }>)
    .then((created) => {
      document.getElementById('token-value')!.textContent = created.token;
      document.getElementById('token-new')!.hidden = false;
      create.reset();
      return swap('/fragments/tokens');
    }, sayError);
});
