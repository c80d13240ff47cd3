/**
 * Who an exec runs as: the `user` query parameter of the exec endpoints (HTTP
 * and websocket), a hob extension to the Sprites shapes. Without it the guest
 * agent runs the command as the image's default user (docs/architecture.md §5).
 */
import { z } from 'zod';

/** A user name (as useradd accepts it, also `.` inside) or a numeric uid. */
export const ExecUser = z
  .string()
  .min(1, 'user must not be empty')
  .max(64, 'user must be at most 64 characters')
  .regex(/^(?:[A-Za-z_][A-Za-z0-9_.-]*\$?|\d{1,10})$/, 'user must be a user name or a numeric uid');

/** The query of the JSON form of `POST .../exec` (the `cmd` form has it in ExecQuery). */
export const ExecUserQuery = z.object({ user: ExecUser.optional() });
