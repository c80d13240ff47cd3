/** @jsxImportSource hono/jsx */
/**
 * The sandbox list (the dashboard's home): an overview by state, the table
 * (its body is also served alone as a fragment the client swaps in when
 * something changes), and the create form.
 */
import type { ImageObject } from '../../wire/images.js';
import type { SpriteObject } from '../../wire/sprite.js';
import type { Assets } from '../assets.js';
import { formatBytes, formatSince } from '../format.js';
import { Layout } from './layout.js';
import { HostOverview } from './overview.js';
import type { ListExtras } from '../section-routes.js';

const ACTIONS: Record<string, readonly string[]> = {
  running: ['stop', 'sleep'],
  paused: ['wake', 'stop'],
  hibernated: ['wake', 'stop'],
  stopped: ['start'],
  error: ['start', 'stop'],
  creating: [],
  destroying: [],
};

export function SandboxRows(props: { sandboxes: readonly SpriteObject[]; diskUsed?: ReadonlyMap<string, number | null> | undefined }) {
  if (props.sandboxes.length === 0) {
    return (
      <tbody id="sandbox-rows">
        <tr>
          <td colspan={8}>No sandboxes yet: create one below.</td>
        </tr>
      </tbody>
    );
  }
  return (
    <tbody id="sandbox-rows">
      {props.sandboxes.map((s) => (
        <tr data-name={s.name} data-state={s.state}>
          <th scope="row">
            <a href={`/sandboxes/${s.name}`}>{s.name}</a>
          </th>
          <td>
            <span class={`state state-${s.state}`}>{s.state}</span>{' '}
            <time class="since" datetime={s.state_since}>
              {formatSince(s.state_since)}
            </time>
          </td>
          <td class="num">{s.cpus}</td>
          <td class="num">{formatBytes(s.memory_mib * 1024 * 1024)}</td>
          <td class="num">
            {props.diskUsed?.get(s.name) != null && <span class="disk-used">{formatBytes(props.diskUsed.get(s.name))} / </span>}
            {formatBytes(s.disk_bytes)}
          </td>
          <td>
            <a href={s.url} rel="noreferrer">
              {s.url_settings.auth === 'public' ? 'public' : 'private'}
            </a>
          </td>
          <td>{s.image}</td>
          <td>
            {/* A flex box inside the cell: a flex cell would leave the table's row layout. */}
            <div class="actions">
              {(ACTIONS[s.state] ?? []).map((action) => (
                <button type="button" data-action={action} data-name={s.name} aria-label={`${action} ${s.name}`}>
                  {action}
                </button>
              ))}
              {s.state !== 'destroying' && (
                <button type="button" class="danger" data-action="remove" data-name={s.name} aria-label={`remove ${s.name}`}>
                  remove
                </button>
              )}
            </div>
          </td>
        </tr>
      ))}
    </tbody>
  );
}

export function Overview(props: { sandboxes: readonly SpriteObject[] }) {
  const counts = new Map<string, number>();
  for (const s of props.sandboxes) counts.set(s.state, (counts.get(s.state) ?? 0) + 1);
  return (
    <ul class="overview" id="overview" aria-label="Sandboxes by state">
      <li>
        <strong>{props.sandboxes.length}</strong> sandboxes
      </li>
      {[...counts].map(([state, n]) => (
        <li>
          <strong>{n}</strong> <span class={`state state-${state}`}>{state}</span>
        </li>
      ))}
    </ul>
  );
}

export function SandboxListPage(props: { assets: Assets; csrf: string; sandboxes: readonly SpriteObject[]; images: readonly ImageObject[]; extras?: ListExtras }) {
  return (
    <Layout title="Sandboxes" assets={props.assets} csrf={props.csrf} script="list.js" current="sandboxes">
      <h1>Sandboxes</h1>
      <Overview sandboxes={props.sandboxes} />
      <HostOverview host={props.extras?.host} error={props.extras?.hostError} />
      <div class="table-wrap">
        <table id="sandboxes">
          <caption class="visually-hidden">Sandboxes</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">State</th>
              <th scope="col">CPUs</th>
              <th scope="col">Memory</th>
              <th scope="col">Disk used / size</th>
              <th scope="col">URL</th>
              <th scope="col">Image</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <SandboxRows sandboxes={props.sandboxes} diskUsed={props.extras?.diskUsed} />
        </table>
      </div>
      <section aria-labelledby="create-title">
        <h2 id="create-title">Create a sandbox</h2>
        <form id="create" class="grid-form">
          <label>
            Name <input name="name" required pattern="[a-z0-9]([a-z0-9-]*[a-z0-9])?" maxlength={63} autocomplete="off" />
          </label>
          <label>
            Image
            <select name="image">
              {props.images.map((i) => (
                <option value={i.name}>{i.name}</option>
              ))}
            </select>
          </label>
          <label>
            From checkpoint <input name="from" placeholder="sandbox:v1 (optional)" autocomplete="off" />
          </label>
          <label>
            CPUs <input name="cpus" type="number" min={1} max={64} placeholder="default" />
          </label>
          <label>
            Memory (MiB) <input name="memory" type="number" min={128} step={128} placeholder="default" />
          </label>
          <label>
            Disk (GiB) <input name="disk" type="number" min={1} placeholder="default" />
          </label>
          <button type="submit">Create</button>
        </form>
        <pre id="create-progress" class="progress" aria-live="polite" hidden></pre>
      </section>
    </Layout>
  );
}
