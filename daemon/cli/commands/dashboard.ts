/**
 * `hob dashboard [--no-open]`: asks hobd for a one-time login link to the
 * dashboard (`POST /v1/dashboard/login`; it works once, within two minutes)
 * and prints it. Where a desktop is (DISPLAY or WAYLAND_DISPLAY set) it also
 * opens it with `xdg-open`. On a headless box, forward the port first:
 * `ssh -L 7707:127.0.0.1:7707 box`, then open the link on your machine.
 *
 * Output: the link on stdout, one line; with --json `{url, expires_at, opened}`.
 */
import { spawn } from 'node:child_process';
import type { Command } from 'commander';
import { DashboardLoginResponse } from '../../wire/dashboard.js';
import { addCommonOptions, clientFor, wantsJson, type CliContext } from '../context.js';
import { printJson } from '../output.js';

/** Whether a graphical session is there to open a browser in. */
export function hasDesktop(env: Readonly<Record<string, string | undefined>> = process.env): boolean {
  return Boolean(env.DISPLAY || env.WAYLAND_DISPLAY);
}

/** Starts `xdg-open URL` detached; resolves false when it cannot be started. */
function openInBrowser(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn('xdg-open', [url], { detached: true, stdio: 'ignore' });
    child.once('error', () => resolve(false));
    child.once('spawn', () => {
      child.unref();
      resolve(true);
    });
  });
}

export function registerDashboardCommand(program: Command, ctx: CliContext): void {
  const { io } = ctx;
  addCommonOptions(
    program
      .command('dashboard')
      .description('print a one-time login link to the web dashboard (and open it where there is a desktop)')
      .option('--no-open', 'only print the link'),
  ).action(async (o: { open: boolean }, cmd: Command) => {
    const login = await clientFor(cmd, ctx).json('POST', '/v1/dashboard/login', DashboardLoginResponse);
    const opened = o.open && hasDesktop() ? await openInBrowser(login.url) : false;
    if (wantsJson(cmd)) return printJson(io.stdout, { url: login.url, expires_at: login.expires_at, opened });
    io.stdout.write(`${login.url}\n`);
    if (io.stderr.isTTY) {
      io.stderr.write(opened ? 'opened in your browser; ' : '');
      io.stderr.write('the link works once, for two minutes (on a headless box: ssh -L PORT:127.0.0.1:PORT box, then open it locally)\n');
    }
  });
}
