/**
 * Swapping placeholders for values in one request (docs/architecture.md §11).
 * Pure string work on latin1 strings (one char per byte, lossless), so bytes
 * that are not placeholders pass unchanged whatever their encoding. A value
 * goes in encoded for where it lands: raw bytes in headers (values have no
 * control characters, so they cannot split one), re-encoded base64 inside
 * `Basic` credentials, percent-encoded in paths, query strings and forms,
 * JSON-escaped in JSON. A placeholder of a secret that is not allowed for
 * this request is left as it is and reported as misdirected.
 */
import { PLACEHOLDER_RE } from '../../secrets/placeholder.js';

/** One granted secret as the substituter sees it. */
export interface SecretForRequest {
  secretName: string;
  placeholder: string;
  value: string;
}

export class Substituter {
  /** Names of the secrets whose value went into the request. */
  readonly used = new Set<string>();
  /** Names of granted secrets whose placeholder was seen but not allowed for this request. */
  readonly misdirected = new Set<string>();
  private readonly allowed: Map<string, SecretForRequest>;
  private readonly known: Map<string, SecretForRequest>;

  /** `allowed`: secrets whose value may go into this request; `known`: every secret granted to the sandbox. */
  constructor(allowed: readonly SecretForRequest[], known: readonly SecretForRequest[]) {
    this.allowed = new Map(allowed.map((s) => [s.placeholder, s]));
    this.known = new Map(known.map((s) => [s.placeholder, s]));
  }

  /** Replaces the placeholders in `text` with `encode(value as UTF-8 bytes in latin1)`. */
  replace(text: string, encode: (valueLatin1: string) => string): string {
    if (!text.includes('hob-secret-')) return text;
    return text.replace(PLACEHOLDER_RE, (p) => {
      const s = this.allowed.get(p);
      if (s) {
        this.used.add(s.secretName);
        return encode(Buffer.from(s.value, 'utf8').toString('latin1'));
      }
      const k = this.known.get(p);
      if (k) this.misdirected.add(k.secretName);
      return p;
    });
  }

  /** A header value; `Basic` credentials are decoded, substituted and re-encoded. */
  header(name: string, value: string): string {
    const n = name.toLowerCase();
    if (n === 'authorization' || n === 'proxy-authorization') {
      const m = /^(basic)([ \t]+)([A-Za-z0-9+/=_-]+)[ \t]*$/i.exec(value);
      if (m) {
        const decoded = Buffer.from(m[3] ?? '', 'base64').toString('latin1');
        const swapped = this.replace(decoded, (v) => v);
        if (swapped !== decoded) return `${m[1]}${m[2]}${Buffer.from(swapped, 'latin1').toString('base64')}`;
      }
    }
    return this.replace(value, (v) => v);
  }

  /** The request target: path segments and query components, percent-encoded forms included. */
  target(url: string): string {
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const newPath = this.urlComponent(path, false);
    if (q < 0) return newPath;
    return `${newPath}?${this.formEncoded(url.slice(q + 1))}`;
  }

  /** An application/x-www-form-urlencoded string (also a query string): each name and value on its own. */
  formEncoded(text: string): string {
    return text.split('&').map((pair) => pair.split('=').map((c) => this.urlComponent(c, true)).join('=')).join('&');
  }

  /** A JSON text: placeholders can only occur inside string literals, where the value goes in JSON-escaped. */
  json(text: string): string {
    return this.replace(text, (v) => JSON.stringify(Buffer.from(v, 'latin1').toString('utf8')).slice(1, -1)
      .replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
  }

  /**
   * One URL component: placeholders written plainly are swapped for the
   * percent-encoded value; if the placeholder appears only once the
   * component is percent-decoded (`+` as space in forms), the decoded text is
   * substituted and encoded again.
   */
  private urlComponent(raw: string, form: boolean): string {
    const enc = (v: string) => encodeURIComponent(Buffer.from(v, 'latin1').toString('utf8'));
    const direct = this.replace(raw, enc);
    if (direct !== raw || !raw.includes('%')) return direct;
    let decoded: string;
    try {
      decoded = decodeURIComponent(form ? raw.replaceAll('+', ' ') : raw);
    } catch {
      return raw;
    }
    if (!decoded.includes('hob-secret-')) return raw;
    const swapped = this.replace(decoded, (v) => Buffer.from(v, 'latin1').toString('utf8'));
    if (swapped === decoded) return raw;
    return form ? encodeURIComponent(swapped) : encodeURIComponent(swapped).replaceAll('%2F', '/');
  }
}
