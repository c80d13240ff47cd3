/** API tokens on the wire (daemon/api/routes/tokens.ts serves them, the CLI reads them), and the create request. */
import { z } from 'zod';
import { idSchema } from '../db/ids.js';

/** A token as listed: never the secret. */
export const TokenObject = z.looseObject({
  id: z.string(),
  name: z.string(),
  /** ISO 8601. */
  created_at: z.string(),
  /** ISO 8601, or null if never used. */
  last_used_at: z.string().nullable(),
});
export type TokenObject = z.infer<typeof TokenObject>;

export const TokenList = z.looseObject({ tokens: z.array(TokenObject) });
export type TokenList = z.infer<typeof TokenList>;

/** `POST /v1/tokens`: the only time the secret (`hob_...`) is shown. */
export const CreatedTokenObject = TokenObject.extend({ token: z.string() });
export type CreatedTokenObject = z.infer<typeof CreatedTokenObject>;

// ---------------------------------------------------------------- requests

export const CreateTokenBody = z.object({
  /** What the token is for, shown in listings. */
  name: z.string().min(1).max(64).regex(/^[^\x00-\x1f\x7f]+$/, 'a name is printable text'),
});

/** Token ids are database ids (db/ids.ts). */
export const TokenIdSchema = idSchema;
