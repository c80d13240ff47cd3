/**
 * Encryption at rest of secret values (docs/architecture.md §11): AES-256-GCM
 * with a 32-byte key kept in a file of its own (default `<state dir>/secrets.key`),
 * created on first use with mode 0600 and owned by the user hobd runs as (root).
 * A key file that others can read or write, or of the wrong size, is refused:
 * hob does not guess. The secret's name is the additional authenticated data,
 * so a sealed value copied onto another secret's row does not open.
 *
 * Sealed layout: version byte (1), nonce (12 random bytes), tag (16), ciphertext.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { closeSync, constants, fstatSync, mkdirSync, openSync, readSync, writeSync, fsyncSync } from 'node:fs';
import { dirname } from 'node:path';
import { HobError } from '../errors.js';

const VERSION = 1;
const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
/** Bytes a sealed value has beyond its plaintext. */
export const SEAL_OVERHEAD = 1 + NONCE_BYTES + TAG_BYTES;

/** The key file is missing and cannot be made, unreadable, too open, or a sealed value does not open. */
export class SecretKeyError extends HobError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('internal', message, options);
  }
}

export class SecretCipher {
  private constructor(private readonly key: Buffer) {}

  /**
   * Opens the key file at `path`, creating it (0600, exclusive, fsynced) with a
   * random key if it does not exist.
   * @throws SecretKeyError if it is not a regular file of 32 bytes, is readable
   *   or writable by group/others, or belongs to another user.
   */
  static open(path: string): SecretCipher {
    let fd: number;
    try {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      try {
        fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
        const key = randomBytes(KEY_BYTES);
        writeSync(fd, key);
        fsyncSync(fd);
        closeSync(fd);
        return new SecretCipher(key);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (err) {
      throw new SecretKeyError(`cannot open the secrets key ${path}: ${(err as Error).message}`, { cause: err });
    }
    try {
      const st = fstatSync(fd);
      if (!st.isFile() || st.size !== KEY_BYTES) throw new SecretKeyError(`secrets key ${path} must be a file of ${KEY_BYTES} bytes`);
      if ((st.mode & 0o077) !== 0) throw new SecretKeyError(`secrets key ${path} has mode ${(st.mode & 0o777).toString(8)}; it must be 600 (only its owner may read it)`);
      if (typeof process.getuid === 'function' && st.uid !== process.getuid()) throw new SecretKeyError(`secrets key ${path} belongs to uid ${st.uid}, not to hobd's uid ${process.getuid()}`);
      const key = Buffer.alloc(KEY_BYTES);
      if (readSync(fd, key, 0, KEY_BYTES, 0) !== KEY_BYTES) throw new SecretKeyError(`secrets key ${path} is short`);
      return new SecretCipher(key);
    } finally {
      closeSync(fd);
    }
  }

  /** Encrypts `value` for the secret named `name`. */
  seal(name: string, value: string): Buffer {
    const nonce = randomBytes(NONCE_BYTES);
    const c = createCipheriv('aes-256-gcm', this.key, nonce);
    c.setAAD(Buffer.from(name, 'utf8'));
    const body = Buffer.concat([c.update(value, 'utf8'), c.final()]);
    return Buffer.concat([Buffer.from([VERSION]), nonce, c.getAuthTag(), body]);
  }

  /**
   * Decrypts a value sealed for `name`.
   * @throws SecretKeyError if it was sealed with another key, for another name, or was altered.
   */
  open(name: string, sealed: Buffer): string {
    if (sealed.length < SEAL_OVERHEAD || sealed[0] !== VERSION) throw new SecretKeyError(`secret "${name}": stored value has an unknown format`);
    const nonce = sealed.subarray(1, 1 + NONCE_BYTES);
    const tag = sealed.subarray(1 + NONCE_BYTES, SEAL_OVERHEAD);
    try {
      const d = createDecipheriv('aes-256-gcm', this.key, nonce);
      d.setAAD(Buffer.from(name, 'utf8'));
      d.setAuthTag(tag);
      return Buffer.concat([d.update(sealed.subarray(SEAL_OVERHEAD)), d.final()]).toString('utf8');
    } catch (err) {
      throw new SecretKeyError(`secret "${name}": stored value does not decrypt with this key (was the key file replaced?)`, { cause: err });
    }
  }
}
