/**
 * `hob policy [NAME] [options]`: a sandbox's egress policy (docs/architecture.md §6; the
 * Sprites `GET/POST .../policy/network`). Without options it shows the policy; with
 * options it replaces it, live.
 *
 * - `--allow DOMAIN` (repeatable): allow an exact name (`github.com`) or a wildcard
 *   (`*.github.com`, or `*` for every name).
 * - `--deny DOMAIN` (repeatable): refuse a name even when an allow would match it.
 * - `--defaults`: allow hob's default list (package registries, source hosting, the
 *   APIs of coding agents).
 * - `--file PATH` (`-` for stdin): the whole policy as JSON, `{"rules": [...]}`.
 * - `--unrestricted`: no filtering (the default policy).
 *
 * The rules the flags make, in this order: denies, `{"include": "defaults"}`, allows.
 * The first matching rule decides and a name no rule matches is refused, so any
 * `--allow` or `--defaults` restricts the sandbox to what they allow. The default
 * isolation (the host, other sandboxes, private ranges) holds under every policy.
 *
 * Output: the policy as a list of rules; with `--json` the API's `{rules}`.
 */
import { readFile } from 'node:fs/promises';
import { text } from 'node:stream/consumers';
import type { Command } from 'commander';
import * as z from 'zod';
import { addCommonOptions, clientFor, sandboxName, sandboxPath, wantsJson, type CliContext } from '../context.js';
import { UsageError } from '../errors.js';
import { printJson } from '../output.js';
import { collect } from '../units.js';

/** A rule as the API returns it. */
const PolicyRule = z.union([
  z.looseObject({ domain: z.string(), action: z.enum(['allow', 'deny']) }),
  z.looseObject({ include: z.string() }),
]);
export const PolicyObject = z.looseObject({ rules: z.array(PolicyRule) });
export type PolicyObject = z.infer<typeof PolicyObject>;

export interface PolicyOptions {
  readonly allow?: string[];
  readonly deny?: string[];
  readonly defaults?: boolean;
  readonly unrestricted?: boolean;
  readonly file?: string;
}

/**
 * The policy the flags describe, or undefined when none was given (show only). `--file`
 * content is passed through as read; hobd validates it.
 * @throws UsageError for contradicting options or a file that is not JSON.
 */
export async function policyFromOptions(o: PolicyOptions, readStdin: () => Promise<string>): Promise<unknown> {
  const flags = (o.allow?.length ?? 0) + (o.deny?.length ?? 0) + (o.defaults ? 1 : 0);
  const sources = [flags > 0, o.unrestricted === true, o.file !== undefined].filter(Boolean).length;
  if (sources === 0) return undefined;
  if (sources > 1) throw new UsageError('give rules (--allow, --deny, --defaults), --file or --unrestricted, not several');
  if (o.unrestricted) return { rules: [] };
  if (o.file !== undefined) {
    const text = o.file === '-' ? await readStdin() : await readFile(o.file, 'utf8').catch((err: Error) => {
      throw new UsageError(`cannot read ${o.file}: ${err.message}`);
    });
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new UsageError(`${o.file === '-' ? 'stdin' : o.file} is not JSON; expected {"rules": [...]}`);
    }
  }
  if ((o.deny?.length ?? 0) > 0 && (o.allow?.length ?? 0) === 0 && !o.defaults) {
    throw new UsageError('--deny alone would refuse every name: add --allow "*" to allow everything else, or --allow the names to keep');
  }
  return {
    rules: [
      ...(o.deny ?? []).map((domain) => ({ domain, action: 'deny' })),
      ...(o.defaults ? [{ include: 'defaults' }] : []),
      ...(o.allow ?? []).map((domain) => ({ domain, action: 'allow' })),
    ],
  };
}

/** The policy as lines for people. */
export function policyText(name: string, policy: PolicyObject): string {
  if (policy.rules.length === 0) {
    return `${name}: unrestricted (any internet name; never the host, other sandboxes or private ranges)\n`;
  }
  const lines = policy.rules.map((r) => ('include' in r ? `  include ${r.include}` : `  ${r.action.padEnd(7)} ${r.domain}`));
  return `${name}: restricted, first matching rule decides, other names are refused\n${lines.join('\n')}\n`;
}

export function registerPolicyCommand(program: Command, ctx: CliContext): void {
  const { io } = ctx;
  addCommonOptions(
    program
      .command('policy')
      .description("show or set a sandbox's egress policy (which internet names it may reach), live")
      .argument('[name]', 'sandbox (default: from .hob)')
      .option('--allow <domain>', 'allow a name: github.com, *.github.com, or * (repeatable)', collect)
      .option('--deny <domain>', 'refuse a name even if an --allow matches it (repeatable)', collect)
      .option('--defaults', "allow hob's default list (package registries, GitHub, coding-agent APIs)")
      .option('--file <path>', 'the whole policy as JSON {"rules": [...]}; - reads stdin')
      .option('--unrestricted', 'remove every restriction (the default policy)'),
  ).action(async (given: string | undefined, o: PolicyOptions, cmd: Command) => {
    const wanted = await policyFromOptions(o, () => text(io.stdin));
    const name = await sandboxName(given, ctx);
    const client = clientFor(cmd, ctx);
    const path = sandboxPath(name, '/policy/network');
    if (wanted !== undefined) await client.empty('POST', path, { json: wanted });
    const policy = await client.json('GET', path, PolicyObject);
    if (wantsJson(cmd)) return printJson(io.stdout, policy);
    io.stdout.write(policyText(name, policy));
  });
}
