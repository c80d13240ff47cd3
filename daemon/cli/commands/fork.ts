/** `hob fork SRC NEW [--from vN]`: a new sandbox from another one's current state or one of its checkpoints. */
import type { Command } from 'commander';
import { checkCheckpointRef } from '../checkpoint-refs.js';
import { parseResponse } from '../client.js';
import { addCommonOptions, clientFor, sandboxPath, wantsJson, type CliContext } from '../context.js';
import { progressFor, runWithProgress } from '../operation.js';
import { printJson } from '../output.js';
import { SandboxObject } from '../sandbox-schemas.js';
import { checkSandboxName } from '../units.js';

export function registerForkCommand(program: Command, ctx: CliContext): void {
  const out = ctx.io.stdout;

  addCommonOptions(
    program
      .command('fork')
      .description('create a new sandbox from another one\'s current state or one of its checkpoints')
      .argument('<source>', 'sandbox to fork')
      .argument('<new>', 'name of the new sandbox')
      .option('--from <id>', 'fork this checkpoint of the source instead of its current state'),
  ).action(async (sourceText: string, newText: string, o: { from?: string }, cmd: Command) => {
    const source = checkSandboxName(sourceText);
    const body: Record<string, unknown> = { name: checkSandboxName(newText) };
    if (o.from !== undefined) body.from = checkCheckpointRef(o.from);
    const value = await runWithProgress(clientFor(cmd, ctx), 'POST', sandboxPath(source, '/fork'), { json: body }, progressFor(cmd, ctx));
    const sandbox = parseResponse(SandboxObject, value, 'fork');
    if (wantsJson(cmd)) return printJson(out, sandbox);
    out.write(`forked ${source}${o.from !== undefined ? ` at ${o.from}` : ''} into ${sandbox.name}: ${sandbox.state}\n`);
    out.write(`open a shell with: hob console ${sandbox.name}\n`);
  });
}
