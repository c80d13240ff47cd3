/** @jsxImportSource hono/jsx */
/**
 * The frame of every dashboard page: navigation, the session's CSRF token for
 * the client modules (a meta tag; the page is same-origin only), the stylesheet.
 */
import type { Child } from 'hono/jsx';
import type { Assets } from '../assets.js';

export interface PageFrame {
  readonly title: string;
  readonly assets: Assets;
  /** The session's CSRF token; absent on the login pages. */
  readonly csrf?: string;
  /** Client module to load (`list.js`, `sandbox.js`). */
  readonly script?: 'list.js' | 'sandbox.js' | 'page.js';
  readonly current?: 'sandboxes' | 'images' | 'tokens' | 'events';
  readonly children?: Child;
}

export function Layout(props: PageFrame) {
  const nav = (href: string, key: PageFrame['current'], label: string) => (
    <a href={href} aria-current={props.current === key ? 'page' : undefined}>
      {label}
    </a>
  );
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        {props.csrf !== undefined && <meta name="hob-csrf" content={props.csrf} />}
        <title>{`${props.title} · hob`}</title>
        <link rel="stylesheet" href={props.assets.paths['style.css']} />
        {props.script && <script type="module" src={props.assets.paths[props.script]}></script>}
      </head>
      <body>
        <a class="skip" href="#main">
          Skip to content
        </a>
        <header>
          <a class="brand" href="/">
            hob
          </a>
          {props.csrf !== undefined && (
            <nav aria-label="Main">
              {nav('/', 'sandboxes', 'Sandboxes')}
              {nav('/images', 'images', 'Images')}
              {nav('/events', 'events', 'Events')}
              {nav('/tokens', 'tokens', 'Tokens')}
            </nav>
          )}
          {props.csrf !== undefined && (
            <button type="button" id="logout" class="link">
              Log out
            </button>
          )}
        </header>
        <main id="main">{props.children}</main>
        <div id="toast" role="status" aria-live="polite"></div>
      </body>
    </html>
  );
}

/** A page for a browser without a session (401), or a refused login link. */
export function LoginHint(props: { assets: Assets; message: string }) {
  return (
    <Layout title="Log in" assets={props.assets}>
      <h1>Log in to hob</h1>
      <p>{props.message}</p>
      <p>
        Run <code>hob dashboard</code> on the machine hob runs on: it prints a one-time login link (and opens it where there is a desktop).
      </p>
    </Layout>
  );
}

/** A page that could not be shown to a logged-in user (an unknown sandbox, a refused request): the API's message, never a stack. */
export function ErrorPage(props: { assets: Assets; csrf: string; status: number; message: string }) {
  const title = props.status === 404 ? 'Not found' : 'That did not work';
  return (
    <Layout title={title} assets={props.assets} csrf={props.csrf}>
      <h1>{title}</h1>
      <p class="error" role="alert">
        {props.message}
      </p>
      <p>
        <a href="/">Back to the sandboxes</a>
      </p>
    </Layout>
  );
}
