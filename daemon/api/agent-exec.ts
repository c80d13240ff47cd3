/** Starting a guest process for an ExecSpec through the sandbox's agent. */
import { CAPABILITY_EXEC_DEFAULT_USER, type AgentClient } from '../agent/client.js';
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
      env: spec.env === undefined ? undefined : withHome(agent, spec),
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

/**
 * The environment sent with an exec. An agent older than the default user
 * (an old image, an old checkpoint) runs as root and does not fill in HOME
 * itself: hob gives it root's, as it always did.
 */
function withHome(agent: AgentClient, spec: ExecSpec): Record<string, string> {
  const env = { ...spec.env };
  const asRoot = spec.user === undefined || spec.user === 'root' || spec.user === '0';
  if (!agent.supports(CAPABILITY_EXEC_DEFAULT_USER) && asRoot && env.HOME === undefined) env.HOME = '/root';
  return env;
}
