/** @jsxImportSource hono/jsx */
/**
 * A sandbox's page: its facts and actions, the web terminal with its
 * sessions, the checkpoint timeline with diffs, files, egress policy and URL
 * settings. The parts that change are components also served alone as
 * fragments (routes.tsx), which the client swaps in.
 */
import type { CheckpointObject, DiffResponse } from '../../wire/checkpoints.js';
import type { SessionListing } from '../../wire/exec.js';
import type { EventObject } from '../../wire/events.js';
import type { FsEntry } from '../../wire/fs.js';
import type { SpriteObject } from '../../wire/sprite.js';
import type { Assets } from '../assets.js';
import { formatBytes, formatSince } from '../format.js';
import { EventTable } from './events.js';
import { Layout } from './layout.js';
import { ConsoleLogSection } from './sandbox-console.js';
import { ServicesSection } from './sandbox-services.js';

export function CheckpointList(props: { name: string; checkpoints: readonly CheckpointObject[] }) {
  const newestFirst = [...props.checkpoints].reverse();
  return (
    <ol id="checkpoint-list" class="timeline" aria-label="Checkpoints, newest first">
      <li class="now">
        <strong>now</strong> (the running state)
      </li>
      {newestFirst.length === 0 && <li class="empty">No checkpoints yet: create one above, before an experiment.</li>}
      {newestFirst.map((cp) => (
        <li data-id={cp.id}>
          <strong>{cp.id}</strong> <span class="kind">{cp.kind === 'live' ? 'disk + memory' : 'disk'}</span>
          {cp.is_auto && <span class="kind">automatic</span>}{' '}
          <time datetime={cp.create_time} class="since">
            {formatSince(cp.create_time)}
          </time>{' '}
          <span class="size">{formatBytes(cp.size_bytes)}</span>
          {cp.comment !== '' && <q class="comment">{cp.comment}</q>}
          <span class="actions">
            <button type="button" data-cp-action="diff" data-id={cp.id} aria-label={`changes since ${cp.id}`}>
              diff vs now
            </button>
            <button type="button" data-cp-action="restore" data-id={cp.id} aria-label={`restore ${cp.id}`}>
              restore
            </button>
            <button type="button" data-cp-action="fork" data-id={cp.id} aria-label={`fork from ${cp.id}`}>
              fork
            </button>
          </span>
        </li>
      ))}
    </ol>
  );
}

export function DiffView(props: { diff: DiffResponse }) {
  const { diff } = props;
  const mark: Record<string, string> = { added: 'A', modified: 'M', deleted: 'D' };
  return (
    <div id="diff-view">
      <h3>
        Changes from {diff.from} to {diff.to}: {diff.entries.length}
        {diff.truncated ? '+ (truncated)' : ''}
      </h3>
      {diff.entries.length === 0 ? (
        <p>No changes.</p>
      ) : (
        <ul class="diff-entries">
          {diff.entries.map((e) => (
            <li class={`change-${e.change}`}>
              <span class="mark" role="img" aria-label={e.change}>
                {mark[e.change] ?? '?'}
              </span>{' '}
              {e.type === 'file' ? (
                <button type="button" class="link path" data-file={e.path} data-from={diff.from} data-to={diff.to}>
                  {e.path}
                </button>
              ) : (
                <span class="path">{e.path}</span>
              )}{' '}
              <span class="size">
                {formatBytes(e.sizeBefore)} → {formatBytes(e.sizeAfter)}
              </span>
            </li>
          ))}
        </ul>
      )}
      <div id="file-diff"></div>
    </div>
  );
}

export function FileDiff(props: { path: string; text: string }) {
  const lines = props.text === '' ? [] : props.text.replace(/\n$/, '').split('\n');
  const cls = (line: string) => (line.startsWith('+++') || line.startsWith('---') ? 'meta' : line.startsWith('+') ? 'add' : line.startsWith('-') ? 'del' : line.startsWith('@@') ? 'hunk' : '');
  return (
    <figure class="file-diff">
      <figcaption>{props.path}</figcaption>
      {lines.length === 0 ? (
        <p>The file is the same.</p>
      ) : (
        <pre>
          {lines.map((l) => (
            <span class={cls(l)}>{`${l}\n`}</span>
          ))}
        </pre>
      )}
    </figure>
  );
}

export function FileList(props: { name: string; path: string; entries: readonly FsEntry[] }) {
  const parent = props.path === '/' ? undefined : props.path.replace(/\/[^/]+\/?$/, '') || '/';
  return (
    <div id="file-list" data-path={props.path}>
      <p class="path">
        <strong>{props.path}</strong>
        {parent !== undefined && (
          <button type="button" class="link" data-dir={parent}>
            (up)
          </button>
        )}
      </p>
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Size</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {props.entries.length === 0 && (
              <tr>
                <td colspan={3}>Empty directory.</td>
              </tr>
            )}
            {[...props.entries]
              .sort((a, b) => Number(b.isDir) - Number(a.isDir) || a.name.localeCompare(b.name))
              .map((e) => (
                <tr>
                  <th scope="row">
                    {e.isDir ? (
                      <button type="button" class="link" data-dir={e.path}>
                        {`${e.name}/`}
                      </button>
                    ) : (
                      <a href={`/v1/sandboxes/${props.name}/fs/read?path=${encodeURIComponent(e.path)}`} download={e.name}>
                        {e.name}
                      </a>
                    )}
                  </th>
                  <td class="num">{e.isDir ? '' : formatBytes(e.size)}</td>
                  <td>
                    <button type="button" class="danger" data-delete={e.path} aria-label={`delete ${e.path}`}>
                      delete
                    </button>
                  </td>
                </tr>
              ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}

export function SessionList(props: { sessions: readonly SessionListing[] }) {
  return (
    <ul id="session-list" aria-label="Sessions">
      {props.sessions.length === 0 && <li>No sessions.</li>}
      {props.sessions.map((s) => (
        <li>
          <code>{s.id}</code> {s.command} {s.exited ? `(exited ${s.exit_code ?? ''})` : s.attached > 0 ? '(attached)' : '(detached)'}{' '}
          {!s.exited && s.tty && (
            <button type="button" data-session-attach={s.id}>
              attach
            </button>
          )}
          {!s.exited && (
            <button type="button" class="danger" data-session-kill={s.id}>
              kill
            </button>
          )}
        </li>
      ))}
    </ul>
  );
}

export function SandboxPage(props: { assets: Assets; csrf: string; sandbox: SpriteObject; checkpoints: readonly CheckpointObject[]; policy: unknown; events: readonly EventObject[] }) {
  const s = props.sandbox;
  return (
    <Layout title={s.name} assets={props.assets} csrf={props.csrf} script="sandbox.js" current="sandboxes">
      <h1 id="sandbox" data-name={s.name}>
        {s.name}{' '}
        <span id="sandbox-state" class={`state state-${s.state}`}>
          {s.state}
        </span>
      </h1>
      <p class="facts">
        {s.cpus} {s.cpus === 1 ? 'CPU' : 'CPUs'} · {formatBytes(s.memory_mib * 1024 * 1024)} memory · {formatBytes(s.disk_bytes)} disk · image {s.image} · {s.vmm}
      </p>

      <section aria-labelledby="charts-title">
        <h2 id="charts-title">Resources, last hour</h2>
        <div id="charts" class="charts"></div>
      </section>

      <section aria-labelledby="term-title">
        <h2 id="term-title">Terminal</h2>
        <div class="toolbar">
          <button type="button" id="term-new">
            New shell
          </button>
          <button type="button" id="term-sessions-refresh">
            Refresh sessions
          </button>
        </div>
        <div id="terminal" role="application" aria-label="Terminal" aria-describedby="terminal-hint"></div>
        <p id="terminal-hint" class="hint">
          Keys, Tab included, go to the shell; F6 moves the focus out. Copy: select, then Ctrl+Shift+C. Paste: Ctrl+Shift+V.
        </p>
        <SessionList sessions={[]} />
      </section>

      <section aria-labelledby="cp-title">
        <h2 id="cp-title">Checkpoints</h2>
        <form id="checkpoint-create" class="inline-form">
          <label>
            Comment <input name="comment" maxlength={500} autocomplete="off" />
          </label>
          <label class="check">
            <input type="checkbox" name="memory" /> with memory
          </label>
          <button type="submit">Create checkpoint</button>
        </form>
        <pre id="checkpoint-progress" class="progress" aria-live="polite" hidden></pre>
        <form id="diff-form" class="inline-form">
          <label>
            From <input name="from" placeholder="v1" required size={6} />
          </label>
          <label>
            To <input name="to" placeholder="current" size={8} />
          </label>
          <label>
            Under <input name="path" placeholder="/ (optional)" size={14} />
          </label>
          <button type="submit">Show changes</button>
        </form>
        <CheckpointList name={s.name} checkpoints={props.checkpoints} />
        <div id="diff-output" aria-live="polite"></div>
      </section>

      <section aria-labelledby="files-title">
        <h2 id="files-title">Files</h2>
        <form id="files-go" class="inline-form">
          <label>
            Directory <input name="path" value="/root" />
          </label>
          <button type="submit">List</button>
        </form>
        <form id="upload" class="inline-form">
          <label>
            Upload to the directory <input type="file" name="file" required />
          </label>
          <button type="submit">Upload</button>
          <progress id="upload-progress" max={100} value={0} hidden></progress>
        </form>
        <div id="files"></div>
      </section>

      <ServicesSection />

      <section aria-labelledby="policy-title">
        <h2 id="policy-title">Egress policy</h2>
        <form id="policy" class="stack-form">
          <label for="policy-text">Rules (JSON; an empty list means unrestricted)</label>
          <textarea id="policy-text" name="policy" rows={8} spellcheck={false}>
            {JSON.stringify(props.policy, null, 2)}
          </textarea>
          <button type="submit">Save policy</button>
          <p id="policy-error" class="error" role="alert"></p>
        </form>
      </section>

      <section aria-labelledby="url-title">
        <h2 id="url-title">URL</h2>
        <p>
          <a href={s.url} rel="noreferrer">
            {s.url}
          </a>{' '}
          is <strong id="url-auth">{s.url_settings.auth === 'public' ? 'public' : 'private'}</strong>.{' '}
          <button type="button" id="url-toggle" data-auth={s.url_settings.auth === 'public' ? 'public' : 'private'}>
            {s.url_settings.auth === 'public' ? 'Make private' : 'Make public'}
          </button>
        </p>
      </section>

      <ConsoleLogSection name={s.name} />

      <section aria-labelledby="events-title">
        <h2 id="events-title">History</h2>
        <EventTable events={props.events} withSandbox={false} label={`Events of ${s.name}, newest first`} />
      </section>
    </Layout>
  );
}
