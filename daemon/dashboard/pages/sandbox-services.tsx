/** @jsxImportSource hono/jsx */
/**
 * The sandbox page's services: each one's status with start and stop, and the tail of a
 * service's log. Listed only while the sandbox runs (listing asks the guest agent, and a
 * page view must not boot a stopped sandbox). Loaded by the client as fragments
 * (`/fragments/sandboxes/<name>/services`, `.../services/<svc>/log`) through the services
 * routes; log lines are the guest's, shown through consoleDisplayText.
 */
import type { ServiceLogEvent, ServiceObject } from '../../wire/services.js';
import { consoleDisplayText } from '../console-text.js';
import { formatSince } from '../format.js';

/** How many of a service's last log entries the page shows. */
export const SERVICE_LOG_LINES = 100;

export function ServiceTable(props: { services: readonly ServiceObject[] | undefined; state: string }) {
  if (props.services === undefined) {
    return (
      <div id="services">
        <p>The sandbox is {props.state}: its services are listed while it runs.</p>
      </div>
    );
  }
  if (props.services.length === 0) {
    return (
      <div id="services">
        <p>No services. Define one with <code>hob services create</code> or the Sprites SDK.</p>
      </div>
    );
  }
  return (
    <div id="services" class="table-wrap">
      <table>
        <caption class="visually-hidden">Services</caption>
        <thead>
          <tr>
            <th scope="col">Service</th>
            <th scope="col">Status</th>
            <th scope="col">Command</th>
            <th scope="col">Actions</th>
          </tr>
        </thead>
        <tbody>
          {props.services.map((s) => {
            const running = s.state.status === 'running' || s.state.status === 'starting';
            return (
              <tr data-service={s.name} data-status={s.state.status}>
                <th scope="row">{s.name}</th>
                <td>
                  <span class={`state state-service-${s.state.status}`}>{s.state.status}</span>{' '}
                  {s.state.pid !== undefined && <span class="size">pid {s.state.pid}</span>}{' '}
                  {s.state.started_at !== undefined && running && (
                    <time class="since" datetime={s.state.started_at}>
                      {formatSince(s.state.started_at)}
                    </time>
                  )}
                  {s.state.restart_count > 0 && <span class="size"> · {s.state.restart_count} restarts</span>}
                  {s.state.error !== undefined && <span class="error"> {s.state.error}</span>}
                </td>
                <td>
                  <code>{[s.cmd, ...s.args].join(' ')}</code>
                </td>
                <td class="actions">
                  {running ? (
                    <button type="button" data-service-action="stop" data-service-name={s.name} aria-label={`stop ${s.name}`}>
                      stop
                    </button>
                  ) : (
                    <button type="button" data-service-action="start" data-service-name={s.name} aria-label={`start ${s.name}`}>
                      start
                    </button>
                  )}
                  <button type="button" data-service-action="log" data-service-name={s.name} aria-label={`log of ${s.name}`}>
                    log
                  </button>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

/** One log entry as a line: output as it is, lifecycle events in brackets. */
function entryLine(e: ServiceLogEvent): string | undefined {
  if (e.type === 'complete') return undefined;
  if (e.type === 'stdout' || e.type === 'stderr') return (e.data ?? '').replace(/\n$/, '');
  return `[${e.type}${e.data ? `: ${e.data}` : ''}${e.exit_code !== undefined ? ` (exit ${e.exit_code})` : ''}]`;
}

export function ServiceLog(props: { service: string; entries: readonly ServiceLogEvent[] }) {
  const lines = props.entries.map(entryLine).filter((l): l is string => l !== undefined);
  return (
    <figure id="service-log" class="service-log">
      <figcaption>
        Log of <strong>{props.service}</strong>, the last {SERVICE_LOG_LINES} entries
      </figcaption>
      {lines.length === 0 ? <p>Nothing logged yet.</p> : <pre class="console-log" tabindex={0}>{consoleDisplayText(lines.join('\n'))}</pre>}
    </figure>
  );
}

export function ServicesSection() {
  return (
    <section aria-labelledby="services-title">
      <h2 id="services-title">Services</h2>
      <div class="toolbar">
        <button type="button" id="services-refresh">
          Refresh
        </button>
      </div>
      <div id="services">
        <p class="size">Loading...</p>
      </div>
      <div id="service-log-box" aria-live="polite"></div>
    </section>
  );
}
