/**
 * The sandbox page's services and serial console log sections: loaded after the page,
 * again on "Refresh" and when the sandbox's state changes; start and stop a service, show
 * a service's log.
 */
import { apiProgress, load, say, sayError, swap } from './common.js';
import { confirmAction } from './dialog.js';

const name = document.getElementById('sandbox')!.dataset.name!;
const base = `/v1/sandboxes/${encodeURIComponent(name)}`;
const fragments = `/fragments/sandboxes/${encodeURIComponent(name)}`;

/** Newest output is at the end: the log opens scrolled to the bottom, as a terminal would. */
const refreshConsole = () =>
  swap(`${fragments}/console-log`).then(() => {
    const pre = document.querySelector<HTMLElement>('#console-log pre');
    if (pre) pre.scrollTop = pre.scrollHeight;
  }, sayError);
const refreshServices = () => swap(`${fragments}/services`).catch(sayError);
document.getElementById('console-refresh')?.addEventListener('click', () => void refreshConsole());
document.getElementById('services-refresh')?.addEventListener('click', () => void refreshServices());
void refreshConsole();
void refreshServices();

// The state badge is swapped in when the state changes: the services come and go with it.
let lastState = document.getElementById('sandbox-state')?.textContent;
new MutationObserver(() => {
  const state = document.getElementById('sandbox-state')?.textContent;
  if (state === lastState) return;
  lastState = state;
  void refreshServices();
  void refreshConsole();
}).observe(document.getElementById('sandbox')!, { childList: true, subtree: true, characterData: true });

document.addEventListener('click', (event) => void onServiceClick(event));

async function onServiceClick(event: MouseEvent): Promise<void> {
  const button = (event.target as HTMLElement).closest<HTMLButtonElement>('button[data-service-action]');
  if (!button) return;
  const action = button.dataset.serviceAction!;
  const svc = button.dataset.serviceName!;
  const path = `${base}/services/${encodeURIComponent(svc)}`;
  if (action === 'log') {
    void load(document.getElementById('service-log-box')!, `${fragments}/services/${encodeURIComponent(svc)}/log`).catch(sayError);
    return;
  }
  if (action === 'stop' && !(await confirmAction(`Stop the service ${svc}? It stays stopped until started again (also across boots).`, 'Stop'))) return;
  button.disabled = true;
  say(`${action} ${svc}...`);
  apiProgress('POST', `${path}/${action}${action === 'start' ? '?duration=0' : ''}`, undefined, () => undefined).then(
    () => {
      say(`${action} ${svc}: done`);
      void refreshServices();
    },
    (err: unknown) => {
      button.disabled = false;
      sayError(err);
    },
  );
}
