/**
 * Secrets on the wire (docs/architecture.md §11), for the hob extension routes
 * and the CLI of the next step. Requests are strict; no response shape has a
 * field for the value, so none can carry it.
 */
import * as z from 'zod';
import { envNameSchema, hostPatternsSchema, secretNameSchema, secretValueSchema } from '../secrets/validate.js';

/** `PUT /v1/secrets/{name}`: create or replace. */
export const SetSecretRequest = z.strictObject({
  hosts: hostPatternsSchema,
  value: secretValueSchema,
});
export type SetSecretRequest = z.infer<typeof SetSecretRequest>;

/** A secret as listed. */
export const SecretObject = z.looseObject({
  name: secretNameSchema,
  hosts: z.array(z.string()),
  /** ISO 8601. */
  created_at: z.string(),
  /** ISO 8601: last `set`. */
  updated_at: z.string(),
});
export type SecretObject = z.infer<typeof SecretObject>;

export const SecretList = z.looseObject({ secrets: z.array(SecretObject) });
export type SecretList = z.infer<typeof SecretList>;

/** `POST /v1/sprites/{name}/secrets`: grant one secret; `env` defaults to the name in upper case with '-' as '_'. */
export const GrantSecretRequest = z.strictObject({
  secret: secretNameSchema,
  env: envNameSchema.optional(),
});
export type GrantSecretRequest = z.infer<typeof GrantSecretRequest>;

/** A grant: the placeholder is what the guest sees anyway, not the value. */
export const SecretGrantObject = z.looseObject({
  secret: secretNameSchema,
  env: envNameSchema,
  placeholder: z.string(),
  /** ISO 8601. */
  created_at: z.string(),
});
export type SecretGrantObject = z.infer<typeof SecretGrantObject>;

export const SecretGrantList = z.looseObject({ grants: z.array(SecretGrantObject) });
export type SecretGrantList = z.infer<typeof SecretGrantList>;
