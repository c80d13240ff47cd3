import * as z from 'zod';

/** A sandbox name: a DNS label, so it can be a hostname and a `<name>.localhost` URL. */
export const SandboxNameSchema = z
  .string()
  .min(1, 'a name needs 1 to 63 characters')
  .max(63, 'a name needs 1 to 63 characters')
  .regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/, 'a name may hold only a-z, 0-9 and "-", and may not start or end with "-"');

/** An image name: same rules as a sandbox name. */
export const ImageNameSchema = SandboxNameSchema;
