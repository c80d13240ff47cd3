/**
 * How a checkpoint is named on hob's command line: a checkpoint id as typed
 * (vN or a uid), `SANDBOX:CHECKPOINT` for `hob create --from`, and the
 * `[NAME] ID` operands of the checkpoint commands, where NAME may be left out
 * when a `.hob` names the sandbox.
 */
import { CheckpointRefSchema, CheckpointSourceSchema } from '../wire/checkpoints.js';
import { sandboxName, type CliContext } from './context.js';
import { UsageError } from './errors.js';
import { checkSandboxName } from './units.js';

/** A checkpoint id as typed ("v3", or a uid). @throws UsageError. */
export function checkCheckpointRef(text: string): string {
  if (!CheckpointRefSchema.safeParse(text).success) throw new UsageError(`"${text}" is not a checkpoint id (such as v3; see hob checkpoint ls)`);
  return text;
}

/** `--from SRC:vN` of `hob create`, checked; returned as the API's `from` string. @throws UsageError. */
export function checkCheckpointSource(text: string): string {
  const parsed = CheckpointSourceSchema.safeParse(text);
  if (!parsed.success) {
    const colon = text.indexOf(':');
    if (colon > 0) checkSandboxName(text.slice(0, colon));
    throw new UsageError(`--from takes SANDBOX:CHECKPOINT, e.g. dev:v3 (got "${text}")`);
  }
  return `${parsed.data.sandbox}:${parsed.data.checkpoint}`;
}

const VERSION_ID = /^v[1-9][0-9]*$/;

/**
 * `[NAME] ID...` → sandbox (undefined: from `.hob`) and checkpoint ids. A first
 * operand of the form vN is an id when `hasDefault` (a `.hob` exists) or when it
 * is alone; otherwise the first operand is the sandbox. Ids are not checked here.
 * @throws UsageError when no id is left.
 */
export function splitNameAndRefs(operands: readonly string[], hasDefault: boolean): { name: string | undefined; refs: string[] } {
  const [first, ...rest] = operands;
  if (first === undefined) throw new UsageError('no checkpoint given (see hob checkpoint ls)');
  if (VERSION_ID.test(first) && (hasDefault || rest.length === 0)) return { name: undefined, refs: [...operands] };
  if (rest.length === 0) throw new UsageError(`no checkpoint given after the sandbox ${first} (see hob checkpoint ls ${first})`);
  return { name: first, refs: rest };
}

/** `[NAME] ID` as typed: the sandbox (from .hob when omitted) and a validated checkpoint ref. */
export async function sandboxAndCheckpoint(first: string, second: string | undefined, ctx: CliContext): Promise<{ name: string; ref: string }> {
  const parsed = nameAndRef(first, second);
  const ref = checkCheckpointRef(parsed.ref);
  return { name: await sandboxName(parsed.name, ctx), ref };
}

/** `[NAME] ID` → sandbox (undefined: from `.hob`) and id, by count. */
export function nameAndRef(first: string, second: string | undefined): { name: string | undefined; ref: string } {
  return second === undefined ? { name: undefined, ref: first } : { name: first, ref: second };
}
