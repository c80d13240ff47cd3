/**
 * Progress of long operations (create, start, image builds) from their NDJSON
 * steps, on stderr:
 * - on a terminal, the current step with a spinner and its running time,
 *   each finished step kept as a `✓ step  1.2s` line;
 * - otherwise one plain line per step, `[  1.2s] step`.
 * A step is a progress line's `data`.
 */
import type { CliOutput } from './context.js';

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const TICK_MS = 100;

export interface ProgressDisplay {
  /** A new step began (the previous one is done). */
  step(text: string): void;
  /** Everything finished well: the last step is marked done. */
  done(): void;
  /** The operation failed: the current step is marked failed. */
  fail(): void;
}

/** A display that shows nothing (`--json` without a terminal). */
export const silentProgress: ProgressDisplay = { step: () => undefined, done: () => undefined, fail: () => undefined };

export function createProgress(out: CliOutput, now: () => number = Date.now): ProgressDisplay {
  return out.isTTY ? new SpinnerProgress(out, now) : new LineProgress(out, now);
}

class LineProgress implements ProgressDisplay {
  private readonly start: number;

  constructor(
    private readonly out: CliOutput,
    private readonly now: () => number,
  ) {
    this.start = now();
  }

  step(text: string): void {
    const secs = ((this.now() - this.start) / 1000).toFixed(1).padStart(5);
    this.out.write(`[${secs}s] ${text}\n`);
  }

  done(): void {}
  fail(): void {}
}

class SpinnerProgress implements ProgressDisplay {
  private current: { text: string; since: number } | undefined;
  private frame = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly out: CliOutput,
    private readonly now: () => number,
  ) {}

  step(text: string): void {
    this.finish('✓');
    this.current = { text, since: this.now() };
    this.render();
    if (!this.timer) {
      this.timer = setInterval(() => this.render(), TICK_MS);
      this.timer.unref();
    }
  }

  done(): void {
    this.finish('✓');
    this.stop();
  }

  fail(): void {
    this.finish('✗');
    this.stop();
  }

  private stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private elapsed(): string {
    return this.current ? `${((this.now() - this.current.since) / 1000).toFixed(1)}s` : '';
  }

  private render(): void {
    if (!this.current) return;
    this.frame = (this.frame + 1) % SPINNER.length;
    this.out.write(`\r\x1b[K${SPINNER[this.frame]} ${this.current.text} ${this.elapsed()}`);
  }

  private finish(mark: string): void {
    if (!this.current) return;
    this.out.write(`\r\x1b[K${mark} ${this.current.text} ${this.elapsed()}\n`);
    this.current = undefined;
  }
}
