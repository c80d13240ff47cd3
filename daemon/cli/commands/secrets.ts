/**
 * Secrets that never enter a sandbox (docs/architecture.md §11):
 * `hob secrets set NAME --host HOST... (--value-from-env VAR | --stdin)`,
 * `hob secrets ls`, `hob secrets rm NAME`, `hob secrets grant SANDBOX NAME [--env VAR]`,
 * `hob secrets revoke SANDBOX NAME`, `hob secrets grants SANDBOX`.
 * A value is never taken from the command line (it would land in the shell's
 * history and in `ps`), and never printed.
 */
import type { Command } from 'commander';
import { addCommonOptions, clientFor, sandboxPath, wantsJson, type CliContext, type CliInput } from '../context.js';
import { UsageError } from '../errors.js';
import { formatSince, formatTable, printJson } from '../output.js';
import { checkSandboxName, collect } from '../units.js';
import { SecretGrantList, SecretGrantObject, SecretList, SecretObject } from '../../wire/secrets.js';

/** More than any valid value (8 KiB) plus a newline: beyond it stdin is refused unread. */
const MAX_STDIN_BYTES = 64 * 1024;

/** Reads the value from stdin: at most MAX_STDIN_BYTES, one trailing newline removed. */
async function readValue(stdin: CliInput): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stdin) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    size += b.length;
    if (size > MAX_STDIN_BYTES) throw new UsageError(`the value on stdin is longer than ${MAX_STDIN_BYTES} bytes`);
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

function checkSecretName(name: string): string {
  if (!/^[A-Za-z][A-Za-z0-9_-]{0,63}$/.test(name)) throw new UsageError(`"${name}" is not a secret name (1-64 letters, digits, "_" or "-", starting with a letter)`);
  return name;
}

export function registerSecretCommands(program: Command, ctx: CliContext): void {
  const { io } = ctx;
  const secrets = program.command('secrets').alias('secret').description('secrets a sandbox uses without seeing them (placeholders swapped for values on the way out)');

  addCommonOptions(secrets.command('set').description('create or replace a secret (the value from an environment variable or stdin, never an argument)')
    .argument('<name>', 'secret name, e.g. anthropic')
    .option('--host <host>', 'a host the value may be sent to, e.g. api.anthropic.com or *.example.com (repeatable; the sandbox policy must allow it too)', collect)
    .option('--value-from-env <var>', 'read the value from this environment variable')
    .option('--stdin', 'read the value from standard input (one trailing newline is dropped)')).action(
    async (name: string, o: { host?: string[]; valueFromEnv?: string; stdin?: boolean }, cmd: Command) => {
      checkSecretName(name);
      if (!o.host || o.host.length === 0) throw new UsageError('give at least one --host');
      if ((o.valueFromEnv === undefined) === (o.stdin !== true)) throw new UsageError('give exactly one of --value-from-env VAR and --stdin');
      let value: string;
      if (o.valueFromEnv !== undefined) {
        const v = io.env[o.valueFromEnv];
        if (v === undefined || v === '') throw new UsageError(`environment variable ${o.valueFromEnv} is not set`);
        value = v;
      } else {
        value = await readValue(io.stdin);
      }
      const s = await clientFor(cmd, ctx).json('PUT', `/v1/secrets/${encodeURIComponent(name)}`, SecretObject, { json: { hosts: o.host, value } });
      if (wantsJson(cmd)) return printJson(io.stdout, s);
      io.stdout.write(`secret ${s.name} set for ${s.hosts.join(', ')}\n`);
    },
  );

  addCommonOptions(secrets.command('ls').alias('list').description('list secrets (never their values)')).action(async (_o: unknown, cmd: Command) => {
    const res = await clientFor(cmd, ctx).json('GET', '/v1/secrets', SecretList);
    if (wantsJson(cmd)) return printJson(io.stdout, res.secrets);
    io.stdout.write(formatTable(['NAME', 'HOSTS', 'UPDATED'], res.secrets.map((s) => [s.name, s.hosts.join(','), formatSince(s.updated_at)])));
  });

  addCommonOptions(secrets.command('rm').alias('remove').description('remove a secret and every grant of it').argument('<name>', 'secret name')).action(
    async (name: string, _o: unknown, cmd: Command) => {
      await clientFor(cmd, ctx).empty('DELETE', `/v1/secrets/${encodeURIComponent(checkSecretName(name))}`);
      if (wantsJson(cmd)) return printJson(io.stdout, { removed: name });
      io.stdout.write(`removed ${name}\n`);
    },
  );

  addCommonOptions(secrets.command('grant').description('give a sandbox a secret: its variable holds a placeholder, hob puts the value into requests to the secret\'s hosts')
    .argument('<sandbox>', 'sandbox name').argument('<name>', 'secret name')
    .option('--env <var>', 'the variable holding the placeholder (default: the name in upper case, "-" as "_")')).action(
    async (sandbox: string, name: string, o: { env?: string }, cmd: Command) => {
      const body = { secret: checkSecretName(name), ...(o.env !== undefined ? { env: o.env } : {}) };
      const g = await clientFor(cmd, ctx).json('POST', sandboxPath(checkSandboxName(sandbox), '/secrets'), SecretGrantObject, { json: body });
      if (wantsJson(cmd)) return printJson(io.stdout, g);
      io.stdout.write(`granted ${g.secret} to ${sandbox} as $${g.env} (new processes see it)\n`);
    },
  );

  addCommonOptions(secrets.command('revoke').description('take a secret back from a sandbox (from its next request on)')
    .argument('<sandbox>', 'sandbox name').argument('<name>', 'secret name')).action(
    async (sandbox: string, name: string, _o: unknown, cmd: Command) => {
      await clientFor(cmd, ctx).empty('DELETE', sandboxPath(checkSandboxName(sandbox), `/secrets/${encodeURIComponent(checkSecretName(name))}`));
      if (wantsJson(cmd)) return printJson(io.stdout, { revoked: name, sandbox });
      io.stdout.write(`revoked ${name} from ${sandbox}\n`);
    },
  );

  addCommonOptions(secrets.command('grants').description('list the secrets granted to a sandbox').argument('<sandbox>', 'sandbox name')).action(
    async (sandbox: string, _o: unknown, cmd: Command) => {
      const res = await clientFor(cmd, ctx).json('GET', sandboxPath(checkSandboxName(sandbox), '/secrets'), SecretGrantList);
      if (wantsJson(cmd)) return printJson(io.stdout, res.grants);
      io.stdout.write(formatTable(['SECRET', 'VARIABLE', 'PLACEHOLDER'], res.grants.map((g) => [g.secret, g.env, g.placeholder])));
    },
  );
}
