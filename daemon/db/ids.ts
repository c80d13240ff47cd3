/**
 * Random ids and the naming rule for sandboxes. Ids are short because they
 * end up in file names, netns and interface names (IFNAMSIZ is 16).
 */
import { randomInt } from 'node:crypto';
import * as z from 'zod';

const LETTERS = 'abcdefghijklmnopqrstuvwxyz';
const ALNUM = `${LETTERS}0123456789`;

/**
 * A new random id: a lowercase letter, then `length - 1` lowercase letters or
 * digits (10 characters: ~51 bits, collisions are not a practical concern,
 * and the primary key catches one anyway). Safe as a path component, a DNS
 * label and part of an interface name.
 */
export function newId(length = 10): string {
  let id = LETTERS[randomInt(LETTERS.length)] ?? 'a';
  while (id.length < length) id += ALNUM[randomInt(ALNUM.length)];
  return id;
}

/** Format of ids made by newId (any length 1-32), for validating ids that come from outside. */
export const idSchema = z.string().regex(/^[a-z][a-z0-9]{0,31}$/, 'must be an id (lowercase letters and digits)');

/**
 * A sandbox name: a DNS label (RFC 1123), lowercase: 1-63 letters, digits and
 * '-', not starting or ending with '-'. Used in URLs `<name>.localhost`.
 * The database enforces the same rule.
 */
export const sandboxNameSchema = z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'must be a DNS label: 1-63 lowercase letters, digits or "-", not starting or ending with "-"');
