/** zod/mini: the CLI reads names on every command and loads no more of zod than it needs (docs/architecture.md §23). */
import * as z from 'zod/mini';

const NAME_LENGTH = 'a name needs 1 to 63 characters';

/** A sandbox name: a DNS label, so it can be a hostname and a `<name>.localhost` URL. */
export const SandboxNameSchema = z
  .string()
  .check(
    z.minLength(1, NAME_LENGTH),
    z.maxLength(63, NAME_LENGTH),
    z.regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/, 'a name may hold only a-z, 0-9 and "-", and may not start or end with "-"'),
  );

/** An image name: same rules as a sandbox name. */
export const ImageNameSchema = SandboxNameSchema;
