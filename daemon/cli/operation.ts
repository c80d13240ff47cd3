/**
 * Long operations answered with an NDJSON progress stream (create, start,
 * image builds): feeds the steps to a progress display and returns the final
 * line, or throws the stream's error line as an ApiError.
 */
import type { Command } from 'commander';
import type { HobClient, RequestOptions } from './client.js';
import { ProgressLine } from './client.js';
import { commonOptions, type CliContext } from './context.js';
import { ApiError, CliError } from './errors.js';
import { createProgress, silentProgress, type ProgressDisplay } from './progress.js';

/** Progress on stderr, unless `--json` was asked and stderr is not a terminal (a script wants silence). */
export function progressFor(cmd: Command, ctx: CliContext): ProgressDisplay {
  if (commonOptions(cmd).json === true && !ctx.io.stderr.isTTY) return silentProgress;
  return createProgress(ctx.io.stderr);
}

/**
 * Runs the request and returns the result: the first line that is not a
 * progress line (create/start end with the sandbox object), or the
 * `complete` line when the stream ends with one (image builds).
 */
export async function runWithProgress(client: HobClient, method: string, path: string, options: RequestOptions, progress: ProgressDisplay): Promise<unknown> {
  let result: unknown;
  try {
    for await (const value of client.ndjson(method, path, options)) {
      const line = ProgressLine.safeParse(value);
      if (!line.success) {
        result = value;
        continue;
      }
      if (line.data.type === 'error') {
        const message = line.data.error ?? line.data.data ?? 'the operation failed';
        throw new ApiError(200, line.data.code ?? 'error', message);
      }
      if (line.data.type === 'complete') {
        result = value;
        continue;
      }
      if (line.data.data !== undefined) progress.step(line.data.data);
    }
  } catch (err) {
    progress.fail();
    throw err;
  }
  if (result === undefined) {
    progress.fail();
    throw new CliError('hobd ended the progress stream without a result');
  }
  progress.done();
  return result;
}
