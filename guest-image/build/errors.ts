import { HobError } from '../../daemon/errors.js';

/**
 * The guest image could not be built: a tool is missing, a tool failed (its
 * output is in the message), the agent entry is missing, or the build was aborted.
 * The cache is never left with a partial entry.
 */
export class ImageBuildError extends HobError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('internal', message, options);
  }
}
