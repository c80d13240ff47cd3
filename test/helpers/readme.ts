/**
 * The runnable parts of README.md, for test/e2e/readme.test.ts.
 *
 * - ```console blocks: a session as a reader sees it. A line `$ COMMAND` is a
 *   command (run with sh); the lines after it, up to the next `$ ` line, are
 *   its output (stdout and stderr together). A line `...` in an output stands
 *   for any number of lines.
 * - the ```js block that imports `@fly/sprites`: the Sprites SDK example.
 *
 * Outputs are compared by shape (`outputShape`), not byte for byte: ids,
 * times, sizes, column widths and other numbers vary from run to run.
 */

/** One `$ command` of a console block and the output shown under it. */
export interface ConsoleStep {
  /** 1-based line of the `$` line in the README (for failure messages). */
  readonly line: number;
  readonly command: string;
  readonly expected: readonly string[];
}

interface FencedBlock {
  readonly lang: string;
  /** 1-based line of the first line inside the fence. */
  readonly line: number;
  readonly lines: readonly string[];
}

function fencedBlocks(markdown: string): FencedBlock[] {
  const blocks: FencedBlock[] = [];
  const lines = markdown.split('\n');
  let open: { lang: string; line: number; lines: string[] } | undefined;
  lines.forEach((text, i) => {
    const fence = /^```(\S*)\s*$/.exec(text);
    if (open) {
      if (fence && fence[1] === '') {
        blocks.push(open);
        open = undefined;
      } else {
        open.lines.push(text);
      }
    } else if (fence) {
      open = { lang: fence[1] ?? '', line: i + 2, lines: [] };
    }
  });
  if (open) throw new Error(`README: the code block opened at line ${open.line - 1} is never closed`);
  return blocks;
}

/** Every `$ command` of every ```console block, in order. */
export function consoleSteps(markdown: string): ConsoleStep[] {
  const steps: Array<{ line: number; command: string; expected: string[] }> = [];
  for (const block of fencedBlocks(markdown).filter((b) => b.lang === 'console')) {
    let current: { line: number; command: string; expected: string[] } | undefined;
    block.lines.forEach((text, i) => {
      if (text.startsWith('$ ')) {
        current = { line: block.line + i, command: text.slice(2).trim(), expected: [] };
        steps.push(current);
      } else if (current) {
        current.expected.push(text);
      } else if (text.trim() !== '') {
        throw new Error(`README line ${block.line + i}: a console block must start with a "$ " command line`);
      }
    });
  }
  for (const s of steps) while (s.expected.length > 0 && s.expected.at(-1)?.trim() === '') s.expected.pop();
  return steps;
}

/** The ```js block importing the Sprites SDK, or undefined. */
export function sdkExample(markdown: string): { line: number; code: string } | undefined {
  const block = fencedBlocks(markdown).find((b) => (b.lang === 'js' || b.lang === 'javascript') && b.lines.some((l) => l.includes("from '@fly/sprites'")));
  return block && { line: block.line, code: block.lines.join('\n') };
}

/**
 * One line reduced to what does not vary between runs: timestamps, sizes,
 * durations and ages, ids (words mixing letters and digits, 6+ characters, or any word after "id"),
 * then any other number become placeholders; runs of spaces become one.
 */
export function lineShape(line: string): string {
  return line
    .replace(/\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?/g, '<time>')
    .replace(/\b\d+(\.\d+)?\s?(B|KiB|MiB|GiB|TiB|kB|MB|GB|TB|K|M|G)\b/g, '<size>')
    .replace(/\b(\d+(\.\d+)?(ms|s|m|h|d)\s?)+(ago\b)?/g, '<duration>')
    .replace(/\bjust now\b/g, '<duration>')
    // A word after "id" is an id even without a digit: random base32 ids have none one time in eight.
    .replace(/\b(id) [A-Za-z0-9_-]{6,}\b/g, '$1 <id>')
    .replace(/\b(?=[A-Za-z0-9_-]*\d)(?=[A-Za-z0-9_-]*[A-Za-z])[A-Za-z0-9_-]{6,}\b/g, '<id>')
    .replace(/\d+/g, '0')
    .replace(/\s+/g, ' ')
    .trim();
}

/**
 * Whether `actual` has the shape of `expected`: the same lines after
 * lineShape, where an expected `...` line matches any number of lines.
 * Returns null when it does, else a description of the first difference.
 */
export function shapeMismatch(expected: readonly string[], actual: readonly string[]): string | null {
  const exp = expected.map((l) => (l.trim() === '...' ? null : lineShape(l)));
  const act = actual.map(lineShape).filter((l, i, all) => l !== '' || i < all.length - 1);
  // Classic matching with a wildcard: memoised over (expected index, actual index).
  const memo = new Map<string, boolean>();
  const match = (i: number, j: number): boolean => {
    const key = `${i},${j}`;
    const known = memo.get(key);
    if (known !== undefined) return known;
    let ok: boolean;
    if (i === exp.length) ok = j === act.length;
    else if (exp[i] === null) ok = match(i + 1, j) || (j < act.length && match(i, j + 1));
    else ok = j < act.length && exp[i] === act[j] && match(i + 1, j + 1);
    memo.set(key, ok);
    return ok;
  };
  if (match(0, 0)) return null;
  return `expected the shape\n${exp.map((l) => `  | ${l ?? '...'}`).join('\n')}\ngot\n${act.map((l) => `  | ${l}`).join('\n')}`;
}
