/** Sizes as hob's configuration and command line write them (its own module: the CLI reads sizes without loading the configuration's schema). */

const UNITS: Record<string, number> = {
  '': 1,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4,
  p: 1024 ** 5,
};

/**
 * Parses a size such as `512M`, `200GiB`, `1.5T` or `1073741824` into bytes.
 * Units are binary (powers of 1024) whether written `G`, `GB` or `GiB`,
 * because that is what `truncate`, `qemu-img` and the btrfs tools mean.
 * Returns undefined when the text is not a size.
 */
export function parseSize(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?\s*$/i.exec(text);
  if (!m) return undefined;
  const factor = UNITS[(m[2] ?? '').toLowerCase()];
  if (factor === undefined) return undefined;
  const bytes = Math.floor(Number(m[1]) * factor);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}
