/** @jsxImportSource hono/jsx */
/** The images and tokens pages; their tables are also fragments the client swaps in after a change. */
import type { ImageObject } from '../../wire/images.js';
import type { TokenObject } from '../../wire/tokens.js';
import type { Assets } from '../assets.js';
import { formatBytes, formatSince } from '../format.js';
import { Layout } from './layout.js';

export function ImageRows(props: { images: readonly ImageObject[] }) {
  return (
    <tbody id="image-rows">
      {props.images.length === 0 && (
        <tr>
          <td colspan={6}>No images.</td>
        </tr>
      )}
      {props.images.map((i) => (
        <tr data-name={i.name}>
          <th scope="row">{i.name}</th>
          <td>{i.variant ?? '–'}</td>
          <td>{i.arch ?? '–'}</td>
          <td>{i.built_at === null ? '–' : <time class="since" datetime={i.built_at}>{formatSince(i.built_at)}</time>}</td>
          <td class="num">{formatBytes(i.rootfs_bytes)}</td>
          <td>
            <button type="button" class="danger" data-remove-image={i.name} aria-label={`remove image ${i.name}`}>
              remove
            </button>
          </td>
        </tr>
      ))}
    </tbody>
  );
}

export function ImagesPage(props: { assets: Assets; csrf: string; images: readonly ImageObject[] }) {
  return (
    <Layout title="Images" assets={props.assets} csrf={props.csrf} script="page.js" current="images">
      <h1>Images</h1>
      <div class="table-wrap">
        <table id="images">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Variant</th>
              <th scope="col">Arch</th>
              <th scope="col">Built</th>
              <th scope="col">Root filesystem</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <ImageRows images={props.images} />
        </table>
      </div>
      <section aria-labelledby="build-title">
        <h2 id="build-title">Build an image</h2>
        <form id="image-build" class="inline-form">
          <label>
            Name <input name="name" placeholder="the variant's name" autocomplete="off" />
          </label>
          <label>
            Variant
            <select name="variant">
              <option value="dev">dev</option>
              <option value="minimal">minimal</option>
            </select>
          </label>
          <label class="check">
            <input type="checkbox" name="replace" /> replace an existing one
          </label>
          <button type="submit">Build</button>
        </form>
        <pre id="image-progress" class="progress" aria-live="polite" hidden></pre>
      </section>
    </Layout>
  );
}

export function TokenRows(props: { tokens: readonly TokenObject[] }) {
  return (
    <tbody id="token-rows">
      {props.tokens.length === 0 && (
        <tr>
          <td colspan={5}>No tokens.</td>
        </tr>
      )}
      {props.tokens.map((t) => (
        <tr data-id={t.id}>
          <th scope="row">{t.name}</th>
          <td>
            <code>{t.id}</code>
          </td>
          <td>
            <time class="since" datetime={t.created_at}>
              {formatSince(t.created_at)}
            </time>
          </td>
          <td>{t.last_used_at === null ? 'never' : <time class="since" datetime={t.last_used_at}>{formatSince(t.last_used_at)}</time>}</td>
          <td>
            <button type="button" class="danger" data-revoke-token={t.id} aria-label={`revoke token ${t.name}`}>
              revoke
            </button>
          </td>
        </tr>
      ))}
    </tbody>
  );
}

export function TokensPage(props: { assets: Assets; csrf: string; tokens: readonly TokenObject[] }) {
  return (
    <Layout title="Tokens" assets={props.assets} csrf={props.csrf} script="page.js" current="tokens">
      <h1>API tokens</h1>
      <p>
        For the TCP listener (scripts, the SDKs, <code>hob --url</code>). hob keeps only a hash: a new token is shown once.
      </p>
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Id</th>
              <th scope="col">Created</th>
              <th scope="col">Last used</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <TokenRows tokens={props.tokens} />
        </table>
      </div>
      <form id="token-create" class="inline-form">
        <label>
          Name <input name="name" required maxlength={64} autocomplete="off" />
        </label>
        <button type="submit">Create token</button>
      </form>
      <p id="token-new" role="status" hidden>
        New token (copy it now, it is not shown again): <code id="token-value"></code>
      </p>
    </Layout>
  );
}
