/**
 * Placeholders (docs/architecture.md §11): what the guest holds instead of a
 * secret's value. `hob-secret-<sandbox id>-<26 base32 chars>`: the sandbox id
 * says whose it is when one shows up in a log, 130 random bits make it
 * unguessable, and only [a-z0-9-] is used, characters that URLs, forms, JSON
 * and headers carry unchanged, so the proxy finds it verbatim.
 */
import { randomBytes } from 'node:crypto';

export const PLACEHOLDER_PREFIX = 'hob-secret-';
const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';
/** Random part length: 26 base32 characters = 130 bits. */
export const PLACEHOLDER_RANDOM_CHARS = 26;
/** Longest placeholder: prefix, a 32-char sandbox id, '-', the random part. */
export const MAX_PLACEHOLDER_LENGTH = PLACEHOLDER_PREFIX.length + 32 + 1 + PLACEHOLDER_RANDOM_CHARS;

/** Matches any well-formed placeholder (global: use with matchAll/replace). */
export const PLACEHOLDER_RE = /hob-secret-[a-z][a-z0-9]{0,31}-[a-z2-7]{26}/g;

/** A new placeholder for a grant of a secret to sandbox `sandboxId` (an id from daemon/db/ids.ts). */
export function newPlaceholder(sandboxId: string): string {
  const bytes = randomBytes(PLACEHOLDER_RANDOM_CHARS);
  let random = '';
  for (const b of bytes) random += BASE32[b & 31];
  return `${PLACEHOLDER_PREFIX}${sandboxId}-${random}`;
}
