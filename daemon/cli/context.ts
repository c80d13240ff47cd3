/**
 * What every command works with: the process's streams and environment
 * (`CliIo`, replaceable in tests), the common options (`--json` and the
 * connection flags, accepted before the command and after it), and the
 * default sandbox from `.hob`.
 */
import type { Command } from 'commander';
import { HobClient, resolveTarget } from './client.js';
import { findDefaultSandbox } from './dotfile.js';
import { UsageError } from './errors.js';
import type { CliContext, CommonOptions } from './io.js';
import { checkSandboxName } from './units.js';

export { addCommonOptions, processIo, type CliContext, type CliInput, type CliIo, type CliOutput, type CommonOptions } from './io.js';

/** The common options as given before or after the command (after wins). */
export function commonOptions(cmd: Command): CommonOptions {
  // Commander's optsWithGlobals lets the outer command win; here the option nearest the command wins.
  const chain: Command[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) chain.unshift(c);
  const merged: Record<string, unknown> = {};
  for (const c of chain) {
    for (const [key, value] of Object.entries(c.opts())) if (value !== undefined) merged[key] = value;
  }
  return merged as CommonOptions;
}

export function clientFor(cmd: Command, ctx: CliContext): HobClient {
  const o = commonOptions(cmd);
  return new HobClient(resolveTarget({ socket: o.socket, url: o.url, token: o.token }, ctx.io.env));
}

export function wantsJson(cmd: Command): boolean {
  return commonOptions(cmd).json === true;
}

/**
 * The sandbox a command is about: the NAME argument when given, else the
 * nearest `.hob`. @throws UsageError when neither names one, or the name is invalid.
 */
export async function sandboxName(given: string | undefined, ctx: CliContext): Promise<string> {
  if (given !== undefined) return checkSandboxName(given);
  const found = await findDefaultSandbox(ctx.io.cwd);
  if (!found) throw new UsageError('no sandbox given: name one, or run `hob use NAME` to set a default for this directory');
  return found.name;
}

/** The API path of a sandbox (hob's own mount of the Sprites routes). */
export function sandboxPath(name: string, rest = ''): string {
  return `/v1/sandboxes/${encodeURIComponent(name)}${rest}`;
}
