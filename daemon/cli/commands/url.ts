/**
 * `hob url [NAME] [--public | --private] [--login]`: the URL of a sandbox's
 * web server (`http://NAME.localhost:PORT/`, routed to port 8080 in the guest),
 * and its access mode.
 *
 * - `--public` / `--private` change the mode first (`PUT` with `url_settings`).
 *   Private (the default) needs a hob token (`Authorization: Bearer`) or a
 *   browser logged in with a login link; public is open to anyone who can
 *   reach hobd's TCP listener.
 * - `--login` prints a one-time link (valid five minutes) that logs a browser
 *   in to the private URL, instead of the URL itself.
 *
 * Output: the URL (or link) on stdout, one line; with --json
 * `{name, url, auth: "private"|"public", login_url?, login_expires_at?}`.
 */
import type { Command } from 'commander';
import * as z from 'zod';
import { addCommonOptions, clientFor, sandboxName, sandboxPath, wantsJson, type CliContext } from '../context.js';
import { UsageError } from '../errors.js';
import { printJson } from '../output.js';
import { SandboxObject } from '../sandbox-schemas.js';

const LoginResponse = z.looseObject({ url: z.string(), expires_at: z.string() });

interface UrlOptions {
  readonly public?: boolean;
  readonly private?: boolean;
  readonly login?: boolean;
}

/** `sprite`/`public` of the API as hob says it. */
export function authMode(auth: string): 'private' | 'public' {
  return auth === 'public' ? 'public' : 'private';
}

export function registerUrlCommand(program: Command, ctx: CliContext): void {
  const { io } = ctx;
  addCommonOptions(
    program
      .command('url')
      .description("print a sandbox's URL (its web server on port 8080); --public/--private change who may use it")
      .argument('[name]', 'sandbox (default: from .hob)')
      .option('--public', 'make the URL reachable without a token')
      .option('--private', 'require a hob token or a browser login (the default)')
      .option('--login', 'print a one-time browser login link for the private URL instead'),
  ).action(async (given: string | undefined, o: UrlOptions, cmd: Command) => {
    if (o.public && o.private) throw new UsageError('give --public or --private, not both');
    const name = await sandboxName(given, ctx);
    const client = clientFor(cmd, ctx);
    const sandbox =
      o.public || o.private
        ? await client.json('PUT', sandboxPath(name), SandboxObject, { json: { url_settings: { auth: o.public ? 'public' : 'sprite' } } })
        : await client.json('GET', sandboxPath(name), SandboxObject);
    const auth = authMode(sandbox.url_settings.auth);
    const login = o.login ? await client.json('POST', sandboxPath(name, '/url/login'), LoginResponse) : undefined;

    if (wantsJson(cmd)) {
      printJson(io.stdout, {
        name: sandbox.name,
        url: sandbox.url,
        auth,
        ...(login ? { login_url: login.url, login_expires_at: login.expires_at } : {}),
      });
      return;
    }
    io.stdout.write(`${login ? login.url : sandbox.url}\n`);
    if (o.public || o.private) io.stderr.write(`the URL of ${name} is now ${auth}\n`);
    if (login && auth === 'public') io.stderr.write(`(${name}'s URL is public: no login is needed)\n`);
    if (login && io.stderr.isTTY) io.stderr.write('the link works once, for five minutes\n');
  });
}
