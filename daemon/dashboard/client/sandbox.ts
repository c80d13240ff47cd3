/**
 * A sandbox's page: state kept current, the terminal and its sessions, the
 * checkpoint timeline (create, restore, fork, diffs), files, egress policy
 * and URL access.
 */
import { api, apiProgress, coalesced, followEvents, load, say, sayError, swap, tickSince } from './common.js';
import { startCharts } from './charts.js';
import { askText, confirmAction } from './dialog.js';
import { createTerminal } from './terminal.js';
import './sandbox-sections.js';

const name = document.getElementById('sandbox')!.dataset.name!;
const base = `/v1/sandboxes/${encodeURIComponent(name)}`;
const fragments = `/fragments/sandboxes/${encodeURIComponent(name)}`;
tickSince();

// The sandbox's own events keep its state, history and timeline current; a slow poll catches the rest.
const refreshState = coalesced(() => Promise.all([swap(`${fragments}/state`), swap(`${fragments}/events`)]));
const refreshTimeline = coalesced(() => swap(`${fragments}/checkpoints`));
followEvents(`${base}/events?follow=1`, (event) => {
  refreshState();
  if (event.type === 'checkpoint' || event.type === 'restore') refreshTimeline();
});
window.setInterval(() => {
  if (!document.hidden) refreshState();
}, 5000);

startCharts(document.getElementById('charts')!, `${base}/stats`);

// ---------------------------------------------------------------- terminal
const refreshSessions = () => swap(`${fragments}/sessions`).catch(sayError);
const terminal = createTerminal(document.getElementById('terminal')!, name, () => void refreshSessions());
document.getElementById('term-new')!.addEventListener('click', () => terminal.connect());
document.getElementById('term-sessions-refresh')!.addEventListener('click', () => void refreshSessions());
void refreshSessions();

// ---------------------------------------------------------------- checkpoints
const refreshCheckpoints = () => swap(`${fragments}/checkpoints`).catch(sayError);
const cpForm = document.getElementById('checkpoint-create') as HTMLFormElement;
const cpProgress = document.getElementById('checkpoint-progress') as HTMLPreElement;
cpForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const data = new FormData(cpForm);
  const body = { comment: String(data.get('comment') ?? ''), memory: data.get('memory') === 'on' };
  cpProgress.hidden = false;
  cpProgress.textContent = '';
  apiProgress('POST', `${base}/checkpoint`, body, (line) => {
    if (line.data) cpProgress.textContent += `${line.data}\n`;
  }).then(
    () => {
      cpForm.reset();
      void refreshCheckpoints();
    },
    (err: unknown) => {
      cpProgress.textContent += `failed: ${err instanceof Error ? err.message : String(err)}\n`;
      sayError(err);
    },
  );
});

const diffOutput = document.getElementById('diff-output')!;
const showDiff = (from: string, to: string, path = '') => {
  const query = new URLSearchParams({ from, to });
  if (path !== '') query.set('path', path);
  return load(diffOutput, `${fragments}/diff?${query}`).catch(sayError);
};
const diffForm = document.getElementById('diff-form') as HTMLFormElement;
diffForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const data = new FormData(diffForm);
  void showDiff(String(data.get('from') ?? ''), String(data.get('to') ?? '') || 'current', String(data.get('path') ?? '').trim());
});

document.addEventListener('click', (event) => {
  const target = event.target as HTMLElement;
  const cp = target.closest<HTMLButtonElement>('button[data-cp-action]');
  if (cp) return void checkpointAction(cp.dataset.cpAction!, cp.dataset.id!);
  const file = target.closest<HTMLButtonElement>('button[data-file]');
  if (file) {
    const query = new URLSearchParams({ from: file.dataset.from!, to: file.dataset.to!, file: file.dataset.file! });
    void load(document.getElementById('file-diff')!, `${fragments}/diff-file?${query}`).catch(sayError);
    return;
  }
  const dir = target.closest<HTMLButtonElement>('button[data-dir]');
  if (dir) return void listFiles(dir.dataset.dir!);
  const del = target.closest<HTMLButtonElement>('button[data-delete]');
  if (del) return void deleteFile(del.dataset.delete!);
  const attach = target.closest<HTMLButtonElement>('button[data-session-attach]');
  if (attach) return terminal.connect(attach.dataset.sessionAttach!);
  const kill = target.closest<HTMLButtonElement>('button[data-session-kill]')?.dataset.sessionKill;
  if (kill !== undefined) void killSession(kill);
});

async function killSession(id: string): Promise<void> {
  if (!(await confirmAction(`Kill session ${id}? Its processes end.`, 'Kill'))) return;
  api('POST', `${base}/exec/${encodeURIComponent(id)}/kill`).then(() => refreshSessions(), sayError);
}

async function checkpointAction(action: string, id: string): Promise<void> {
  if (action === 'diff') {
    void showDiff(id, 'current');
    return;
  }
  if (action === 'restore') {
    if (!(await confirmAction(`Restore ${name} to ${id}? The sandbox restarts from ${id}; the current state is kept as an automatic checkpoint.`, 'Restore'))) return;
    cpProgress.hidden = false;
    cpProgress.textContent = '';
    apiProgress('POST', `${base}/checkpoints/${encodeURIComponent(id)}/restore`, undefined, (line) => {
      if (line.data) cpProgress.textContent += `${line.data}\n`;
    }).then(
      () => {
        say(`${name} restored to ${id}`);
        void refreshCheckpoints();
      },
      sayError,
    );
    return;
  }
  if (action === 'fork') {
    const fork = await askText(`Fork a new sandbox from ${name} at ${id}.`, 'Name of the new sandbox', 'Fork', '[a-z0-9]([a-z0-9-]*[a-z0-9])?');
    if (!fork) return;
    say(`forking ${fork}...`);
    api('POST', `${base}/fork`, { name: fork, from: id }).then(() => say(`created ${fork}`), sayError);
  }
}

// ---------------------------------------------------------------- files
const filesBox = document.getElementById('files')!;
let currentDir = '/root';
async function listFiles(path: string): Promise<void> {
  currentDir = path;
  (document.querySelector('#files-go input[name="path"]') as HTMLInputElement).value = path;
  await load(filesBox, `${fragments}/files?${new URLSearchParams({ path })}`).catch(sayError);
}
const filesGo = document.getElementById('files-go') as HTMLFormElement;
filesGo.addEventListener('submit', (event) => {
  event.preventDefault();
  void listFiles(String(new FormData(filesGo).get('path') ?? '/'));
});

async function deleteFile(path: string): Promise<void> {
  if (!(await confirmAction(`Delete ${path}? A directory goes with everything in it.`, 'Delete'))) return;
  api('DELETE', `${base}/fs/delete?${new URLSearchParams({ path, recursive: 'true' })}`).then(() => listFiles(currentDir), sayError);
}

const upload = document.getElementById('upload') as HTMLFormElement;
const uploadProgress = document.getElementById('upload-progress') as HTMLProgressElement;
upload.addEventListener('submit', (event) => {
  event.preventDefault();
  const file = (upload.querySelector('input[type="file"]') as HTMLInputElement).files?.[0];
  if (!file) return;
  const path = `${currentDir.replace(/\/$/, '')}/${file.name}`;
  // XMLHttpRequest, not fetch: only it reports upload progress.
  const xhr = new XMLHttpRequest();
  xhr.open('PUT', `${base}/fs/write?${new URLSearchParams({ path, mkdirParents: 'true' })}`);
  xhr.setRequestHeader('X-Hob-Csrf', (document.querySelector('meta[name="hob-csrf"]') as HTMLMetaElement).content);
  uploadProgress.hidden = false;
  uploadProgress.value = 0;
  xhr.upload.onprogress = (e) => {
    if (e.lengthComputable) uploadProgress.value = Math.round((100 * e.loaded) / e.total);
  };
  xhr.onload = () => {
    if (xhr.status >= 200 && xhr.status < 300) {
      uploadProgress.value = 100;
      say(`uploaded ${path}`);
      void listFiles(currentDir);
    } else {
      sayError(new Error(`upload failed: HTTP ${xhr.status} ${xhr.responseText.slice(0, 300)}`));
    }
  };
  xhr.onerror = () => sayError(new Error('upload failed'));
  xhr.send(file);
});
void listFiles(currentDir);

// ---------------------------------------------------------------- policy
const policyForm = document.getElementById('policy') as HTMLFormElement;
const policyError = document.getElementById('policy-error')!;
policyForm.addEventListener('submit', (event) => {
  event.preventDefault();
  policyError.textContent = '';
  let body: unknown;
  try {
    body = JSON.parse((document.getElementById('policy-text') as HTMLTextAreaElement).value);
  } catch (err) {
    policyError.textContent = `Not valid JSON: ${err instanceof Error ? err.message : String(err)}`;
    return;
  }
  api('POST', `${base}/policy/network`, body).then(
    () => say('policy saved'),
    (err: unknown) => (policyError.textContent = err instanceof Error ? err.message : String(err)),
  );
});

// ---------------------------------------------------------------- URL
const urlToggle = document.getElementById('url-toggle') as HTMLButtonElement;
urlToggle.addEventListener('click', () => {
  const makePublic = urlToggle.dataset.auth !== 'public';
  api('PUT', base, { url_settings: { auth: makePublic ? 'public' : 'sprite' } }).then(() => {
    urlToggle.dataset.auth = makePublic ? 'public' : 'private';
    urlToggle.textContent = makePublic ? 'Make private' : 'Make public';
    document.getElementById('url-auth')!.textContent = makePublic ? 'public' : 'private';
  }, sayError);
});
