/**
 * exec: a process with pipes, or under a PTY (exec-pty.ts).
 *
 * Order on the channel: `ready {pid}`, Stdout/Stderr bytes each ended by EOF,
 * then `exit {code|signal}`, then CLOSE. The child's output is piped into the
 * channel's writables, so when the host stops granting credit the pipe pauses
 * and the child blocks on a full pipe instead of the agent buffering.
 * If the channel closes before the exit was sent (host gone or not interested),
 * the process group gets SIGHUP and, after a grace, SIGKILL.
 */
import { spawn } from 'node:child_process';
import { finished } from 'node:stream/promises';
import { StreamId, type Channel, type RequestOf } from '../../../daemon/protocol/index.js';
import { commandAs, defaultEnv, identityEnv, resolveCommand, resolveCwd, type PreparedExec } from '../command.js';
import { resolveExecUser } from '../default-user.js';
import { OpError } from '../errors.js';
import { log } from '../log.js';
import { execPty } from './exec-pty.js';
import { secretEnv } from './secrets.js';
import { forwardSignals, hangUpGroup } from './process-group.js';

export async function handleExec(req: RequestOf<'exec'>, channel: Channel): Promise<void> {
  const user = await resolveExecUser(req.user);
  const cwd = await resolveCwd(req.cwd, user);
  // A given environment keeps the user's HOME, USER and LOGNAME unless it sets them (the host does not know who the default user is).
  // The secret placeholders and CA paths (secrets.ts) come under a given environment, which may override them.
  const env = req.env ? { ...identityEnv(user), ...secretEnv(), ...req.env } : { ...defaultEnv(user), ...secretEnv() };
  const file = await resolveCommand(req.argv[0] as string, env.PATH, cwd);
  const cmd = await commandAs(user, file, req.argv);
  const prepared: PreparedExec = { ...cmd, env, cwd };
  if (req.tty) return execPty(prepared, req.tty, channel);
  return execPipes(prepared, req.stdin, channel);
}

async function execPipes(cmd: PreparedExec, withStdin: boolean, channel: Channel): Promise<void> {
  const child = spawn(cmd.file, cmd.args, {
    argv0: cmd.argv0,
    env: cmd.env,
    cwd: cmd.cwd,
    // setsid(): own session and process group, no controlling terminal.
    detached: true,
    stdio: [withStdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', (err) => reject(err));
  });
  child.on('error', (err) => log(`exec ${child.pid}: ${err.message}`));
  const pid = child.pid;
  if (pid === undefined || !child.stdout || !child.stderr) throw new OpError('EIO', 'spawned process has no pid or pipes');

  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code: signal ? null : code, signal: signal ?? null })),
  );
  let exitSent = false;
  channel.once('close', () => {
    if (!exitSent) hangUpGroup(pid);
  });
  if (channel.isClosed) {
    // The host gave up while the process was being started.
    hangUpGroup(pid);
    return;
  }
  forwardSignals(channel, pid);
  channel.send({ type: 'ready', value: { pid } });

  const stdout = channel.writable(StreamId.Stdout);
  const stderr = channel.writable(StreamId.Stderr);
  child.stdout.pipe(stdout);
  child.stderr.pipe(stderr);
  const input = channel.readable(StreamId.Stdin);
  if (child.stdin) {
    child.stdin.on('error', () => undefined); // EPIPE when the child does not read all its input
    input.pipe(child.stdin);
  } else {
    input.resume(); // stdin was not requested: discard anything sent anyway
  }

  const [status] = await Promise.all([exited, finished(stdout), finished(stderr)]);
  if (channel.isClosed) return;
  channel.send({ type: 'exit', code: status.code, signal: status.signal });
  exitSent = true;
  channel.close();
}
