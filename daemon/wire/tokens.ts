/** API tokens on the wire (daemon/api/routes/tokens.ts serves them, the CLI reads them), and the create request. */
import * as z from 'zod';
import { idSchema } from '../db/ids.js';

/** A token as listed: never the secret. */
export const TokenObject = z.looseObject({
  id: z.string(),
  name: z.string(),
  /** ISO 8601. */
  created_at: z.string(),
  /** ISO 8601, or null if never used. */
  last_used_at: z.string().nullable(),
  /** Scope (docs/architecture.md §16): only sandboxes whose names start with this; null: all. */
  prefix: z.string().nullable(),
  /** Scope: at most this many sandboxes under the prefix; null: no limit. */
  max_sandboxes: z.number().nullable(),
});
export type TokenObject = z.infer<typeof TokenObject>;

export const TokenList = z.looseObject({ tokens: z.array(TokenObject) });
export type TokenList = z.infer<typeof TokenList>;

/** `POST /v1/tokens`: the only time the secret (`hob_...`) is shown. */
export const CreatedTokenObject = TokenObject.extend({ token: z.string() });
export type CreatedTokenObject = z.infer<typeof CreatedTokenObject>;

// ---------------------------------------------------------------- requests

/** A scope prefix: the start of a sandbox name (DNS label characters, not starting with '-'). */
export const ScopePrefixSchema = z
  .string()
  .min(1)
  .max(62)
  .regex(/^[a-z0-9][a-z0-9-]*$/, 'a prefix is lower-case letters, digits and -, not starting with -');

/** The largest sandbox count a scope may name. */
export const MAX_SCOPE_SANDBOXES = 10_000;
export const ScopeMaxSandboxesSchema = z.number().int().min(0).max(MAX_SCOPE_SANDBOXES);

export const CreateTokenBody = z.object({
  /** What the token is for, shown in listings. */
  name: z.string().min(1).max(64).regex(/^[^\x00-\x1f\x7f]+$/, 'a name is printable text'),
  /** Limit the token to sandboxes whose names start with this. */
  prefix: ScopePrefixSchema.optional(),
  /** Limit the token to this many sandboxes (under its prefix, if any). */
  max_sandboxes: ScopeMaxSandboxesSchema.optional(),
});

/** Token ids are database ids (db/ids.ts). */
export const TokenIdSchema = idSchema;
