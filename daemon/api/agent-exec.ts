/** Starting a guest process for an ExecSpec through the sandbox's agent. */
import type { AgentClient } from '../agent/client.js';
import type { ExecProcess } from '../agent/exec.js';
import { GuestError, UnknownUserError } from '../errors.js';
import type { ExecSpec } from './exec-spec.js';

/**
 * Starts the process. Rejects with UnknownUserError when the guest has no
 * such user, GuestError when the guest cannot start it (ENOENT: no such
 * command or directory, EACCES, ...) and AgentError when the agent is unreachable.
 */
export async function startProcess(agent: AgentClient, spec: ExecSpec): Promise<ExecProcess> {
  try {
    return await agent.exec({
      argv: [...spec.argv],
      env: spec.env === undefined ? undefined : { ...spec.env },
      cwd: spec.cwd,
      tty: spec.tty === undefined ? undefined : { rows: spec.tty.rows, cols: spec.tty.cols },
      stdin: spec.stdin,
      user: spec.user,
    });
  } catch (err) {
    if (err instanceof GuestError && err.guestCode === 'ENOUSER') throw new UnknownUserError(spec.user ?? '(the default user)');
    throw err;
  }
}
