/** `hob restore [NAME] ID`: the sandbox back at a checkpoint; the state before it is kept as an automatic checkpoint. */
import type { Command } from 'commander';
import * as wire from '../../wire/checkpoints.js';
import { sandboxAndCheckpoint } from '../checkpoint-refs.js';
import { parseResponse } from '../client.js';
import { addCommonOptions, clientFor, sandboxPath, wantsJson, type CliContext } from '../context.js';
import { progressFor, runWithProgress } from '../operation.js';
import { printJson } from '../output.js';

/** Last line of the restore stream. */
const RestoreComplete = wire.RestoreComplete.partial({ data: true, time: true });

export function registerRestoreCommand(program: Command, ctx: CliContext): void {
  const out = ctx.io.stdout;

  addCommonOptions(
    program
      .command('restore')
      .description('bring a sandbox back to a checkpoint (the state before is kept as an automatic checkpoint)')
      .argument('<name-or-id>', 'sandbox, or the checkpoint id when .hob names the sandbox')
      .argument('[id]', 'checkpoint id (v1, v2, ...)'),
  ).action(async (first: string, second: string | undefined, _o: unknown, cmd: Command) => {
    const { name, ref } = await sandboxAndCheckpoint(first, second, ctx);
    const value = await runWithProgress(
      clientFor(cmd, ctx),
      'POST',
      sandboxPath(name, `/checkpoints/${encodeURIComponent(ref)}/restore`),
      {},
      progressFor(cmd, ctx),
    );
    const done = parseResponse(RestoreComplete, value, 'restore');
    if (wantsJson(cmd)) return printJson(out, { sandbox: name, checkpoint: ref, message: done.data ?? `Restored to ${ref}` });
    out.write(`${name}: ${done.data ?? `Restored to ${ref}`}\n`);
    out.write(`the state before the restore was kept as an automatic checkpoint; see it with: hob checkpoint ls --all ${name}\n`);
  });
}
