/**
 * API tokens for the TCP listener: `hob token create | ls | rm`. A token is
 * shown once, when it is created; hobd keeps only its hash.
 */
import type { Command } from 'commander';
import { MAX_SCOPE_SANDBOXES, ScopePrefixSchema } from '../../wire/tokens.js';
import { addCommonOptions, clientFor, wantsJson, type CliContext } from '../context.js';
import { UsageError } from '../errors.js';
import { formatSince, formatTable, printJson } from '../output.js';
import { CreatedToken, TokenList, type TokenInfo } from '../schemas.js';

/** Name of a token created without --name: `token-YYYYMMDD-HHMMSS` (UTC). */
export function defaultTokenName(now: Date = new Date()): string {
  const iso = now.toISOString();
  return `token-${iso.slice(0, 10).replace(/-/g, '')}-${iso.slice(11, 19).replace(/:/g, '')}`;
}

/** The SCOPE column: `all`, `web-*`, `web-* (max 3)`, `max 3`. */
export function scopeText(token: Pick<TokenInfo, 'prefix' | 'max_sandboxes'>): string {
  const prefix = token.prefix ?? null;
  const max = token.max_sandboxes ?? null;
  if (prefix === null && max === null) return 'all';
  if (prefix === null) return `max ${max}`;
  return max === null ? `${prefix}*` : `${prefix}* (max ${max})`;
}

export function tokenTable(tokens: readonly TokenInfo[], now: Date = new Date()): string {
  return formatTable(
    ['ID', 'NAME', 'SCOPE', 'CREATED', 'LAST USED'],
    tokens.map((t) => [t.id, t.name, scopeText(t), formatSince(t.created_at, now), t.last_used_at === null ? 'never' : formatSince(t.last_used_at, now)]),
  );
}

/** `--max-sandboxes` as a count. */
function parseCount(text: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) > MAX_SCOPE_SANDBOXES) throw new UsageError(`--max-sandboxes takes a whole number from 0 to ${MAX_SCOPE_SANDBOXES}`);
  return Number(text);
}

export function registerTokenCommands(program: Command, ctx: CliContext): void {
  const { io } = ctx;
  const token = program.command('token').alias('tokens').description('manage API tokens (for --url / the TCP listener)');

  addCommonOptions(
    token
      .command('create')
      .description('create a token and print it (shown only this once)')
      .option('--name <name>', 'what the token is for')
      .option('--prefix <prefix>', 'limit the token to sandboxes whose names start with this')
      .option('--max-sandboxes <n>', 'limit the token to this many sandboxes (under its prefix)'),
  ).action(async (o: { name?: string; prefix?: string; maxSandboxes?: string }, cmd: Command) => {
    const name = o.name ?? defaultTokenName();
    if (name.trim() === '' || name.length > 64) throw new UsageError('--name takes 1 to 64 characters');
    if (o.prefix !== undefined && !ScopePrefixSchema.safeParse(o.prefix).success) {
      throw new UsageError('--prefix takes 1 to 62 lower-case letters, digits and -, not starting with -');
    }
    const scope = { ...(o.prefix !== undefined ? { prefix: o.prefix } : {}), ...(o.maxSandboxes !== undefined ? { max_sandboxes: parseCount(o.maxSandboxes) } : {}) };
    const created = await clientFor(cmd, ctx).json('POST', '/v1/tokens', CreatedToken, { json: { name, ...scope } });
    if (wantsJson(cmd)) return printJson(io.stdout, created);
    // The token alone on stdout (HOB_TOKEN=$(hob token create)); the rest on stderr.
    io.stdout.write(`${created.token}\n`);
    const limited = scopeText(created) === 'all' ? '' : ` (scope: ${scopeText(created)})`;
    io.stderr.write(`token ${created.name} (id ${created.id}) created${limited}: store it now, hob cannot show it again\n`);
  });

  addCommonOptions(token.command('ls').alias('list').description('list tokens (never their secrets)')).action(async (_o: unknown, cmd: Command) => {
    const res = await clientFor(cmd, ctx).json('GET', '/v1/tokens', TokenList);
    if (wantsJson(cmd)) return printJson(io.stdout, res.tokens);
    io.stdout.write(tokenTable(res.tokens));
  });

  addCommonOptions(token.command('rm').alias('revoke').description('revoke a token').argument('<id>', 'token id (see hob token ls)')).action(
    async (id: string, _o: unknown, cmd: Command) => {
      if (!/^[0-9A-Za-z_-]{1,64}$/.test(id)) throw new UsageError(`"${id}" is not a token id (see hob token ls)`);
      await clientFor(cmd, ctx).empty('DELETE', `/v1/tokens/${encodeURIComponent(id)}`);
      if (wantsJson(cmd)) return printJson(io.stdout, { revoked: id });
      io.stdout.write(`revoked ${id}\n`);
    },
  );
}
