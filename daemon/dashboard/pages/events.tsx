/** @jsxImportSource hono/jsx */
/**
 * The event log (the audit log): every event, filterable by sandbox, type and
 * time, newest first, kept current from the live follow; and a sandbox's
 * history on its own page. The rows are a fragment the client swaps in.
 */
import type { EventObject } from '../../wire/events.js';
import { EVENT_TYPES } from '../../wire/events.js';
import type { Assets } from '../assets.js';
import { Layout } from './layout.js';

/** An event's details as one line: `from=running to=stopped`. */
function details(data: Record<string, unknown>): string {
  return Object.entries(data)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
}

export function EventRows(props: { events: readonly EventObject[]; withSandbox?: boolean }) {
  const columns = props.withSandbox === false ? 3 : 4;
  return (
    <tbody id="event-rows">
      {props.events.length === 0 && (
        <tr>
          <td colspan={columns}>No events.</td>
        </tr>
      )}
      {props.events.map((e) => (
        <tr data-id={e.id}>
          <td>
            <time datetime={e.at}>{e.at.replace('T', ' ').replace(/\.\d+Z$/, 'Z')}</time>
          </td>
          {props.withSandbox !== false && <td class="sandbox">{e.sandbox === null ? '–' : <a href={`/sandboxes/${e.sandbox}`}>{e.sandbox}</a>}</td>}
          <td>
            <span class="kind">{e.type}</span>
          </td>
          <td class="details">{details(e.data)}</td>
        </tr>
      ))}
    </tbody>
  );
}

export function EventTable(props: { events: readonly EventObject[]; withSandbox?: boolean; label: string }) {
  return (
    <div class="table-wrap">
      <table class="events">
        <caption class="visually-hidden">{props.label}</caption>
        <thead>
          <tr>
            <th scope="col">Time (UTC)</th>
            {props.withSandbox !== false && <th scope="col">Sandbox</th>}
            <th scope="col">Type</th>
            <th scope="col">Details</th>
          </tr>
        </thead>
        <EventRows events={props.events} withSandbox={props.withSandbox ?? true} />
      </table>
    </div>
  );
}

export interface EventFilterForm {
  readonly sandbox: string;
  readonly type: string;
  readonly since: string;
}

export function EventsPage(props: { assets: Assets; csrf: string; filter: EventFilterForm; events: readonly EventObject[]; error?: string }) {
  return (
    <Layout title="Events" assets={props.assets} csrf={props.csrf} script="page.js" current="events">
      <h1>Events</h1>
      <form id="event-filter" class="inline-form" method="get" action="/events">
        <label>
          Sandbox <input name="sandbox" value={props.filter.sandbox} autocomplete="off" />
        </label>
        <label>
          Type
          <select name="type">
            <option value="">any</option>
            {EVENT_TYPES.map((t) => (
              <option value={t} selected={props.filter.type === t}>
                {t}
              </option>
            ))}
          </select>
        </label>
        <label>
          Since <input name="since" value={props.filter.since} placeholder="1h, or 2026-01-02T15:04:05Z" autocomplete="off" />
        </label>
        <button type="submit">Filter</button>
      </form>
      {props.error !== undefined && (
        <p class="error" role="alert">
          {props.error}
        </p>
      )}
      <EventTable events={props.events} label="Events, newest first" />
    </Layout>
  );
}
