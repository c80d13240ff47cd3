/** Running a process in the guest (`exec`): the request and its `ready`; its end is the `exit` channel message. */
import * as z from 'zod';
import { GuestPathSchema } from './values.js';

const TtySize = z.object({ rows: z.number().int().min(1).max(1000), cols: z.number().int().min(1).max(1000) });

export const ExecRequestSchema = z.object({
  op: z.literal('exec'),
  /** argv[0] is looked up in PATH when it contains no slash. */
  argv: z.array(z.string().max(128 * 1024)).min(1).max(10_000),
  /** Environment; replaces the agent's default environment when given, except that the user's HOME, USER and LOGNAME are kept unless set here. */
  env: z.record(z.string(), z.string()).optional(),
  /** Working directory; default: the user's home directory, or "/". */
  cwd: GuestPathSchema.optional(),
  /** User name or numeric uid to run as; default: the image's default user (/etc/hob/default-user), else root. */
  user: z.string().max(64).optional(),
  /** Run under a PTY of this size; the output then arrives on Stdout only, and stdin is always open. */
  tty: TtySize.optional(),
  /** Whether the host will send stdin; when false the process's stdin is /dev/null. */
  stdin: z.boolean().default(false),
});

export const ExecReadySchema = z.object({ pid: z.number().int().positive() });
