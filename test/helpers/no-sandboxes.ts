/**
 * A SandboxService for API tests that need no sandbox at all (tokens, images,
 * HTTP plumbing): every name is unknown (404). Not a mock of the manager's
 * behaviour: it is the manager's answer on a box without sandboxes.
 */
import type { SandboxService } from '../../daemon/core/types.js';
import { NotFoundError } from '../../daemon/errors.js';

const unknown = (name: string): never => {
  throw new NotFoundError(`no sandbox named ${name}`);
};
const unknownAsync = async (name: string): Promise<never> => unknown(name);

export function noSandboxService(): SandboxService {
  return {
    list: () => [],
    get: unknown,
    create: async (input) => unknown(input.name),
    update: unknownAsync,
    start: unknownAsync,
    stop: unknownAsync,
    remove: unknownAsync,
    agent: unknownAsync,
    check: unknownAsync,
    restart: unknownAsync,
    resize: unknownAsync,
    checkpoint: unknownAsync,
    listCheckpoints: unknownAsync,
    getCheckpoint: unknownAsync,
    deleteCheckpoint: unknownAsync,
    restore: unknownAsync,
    fork: unknownAsync,
    diff: unknownAsync,
    fileDiff: unknownAsync,
    sleep: unknownAsync,
    wake: unknownAsync,
    keepAwake: unknownAsync,
    networkPolicy: unknown,
    setNetworkPolicy: unknownAsync,
  };
}
