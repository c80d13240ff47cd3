/**
 * Emits BuildProgress events: numbers the phases and stamps elapsed time, so
 * the stages only say what they are doing.
 */
import { buildPhases, type BuildPhase, type BuildProgress, type GuestImagePaths, type ProgressListener } from './types.js';

export class ProgressReporter {
  private readonly start = Date.now();
  private phase: BuildPhase = 'inputs';

  constructor(private readonly listener: ProgressListener = () => undefined) {}

  private common(phase: BuildPhase, message: string) {
    return {
      phase,
      step: buildPhases.indexOf(phase) + 1,
      total: buildPhases.length,
      message,
      elapsedMs: Date.now() - this.start,
    };
  }

  private emit(e: BuildProgress): void {
    try {
      this.listener(e);
    } catch {
      // A failing listener must not break the build.
    }
  }

  /** A phase begins. */
  begin(phase: BuildPhase, message: string): void {
    this.phase = phase;
    this.emit({ kind: 'phase', ...this.common(phase, message) });
  }

  /** One line of tool output in the current phase. */
  log(message: string): void {
    this.emit({ kind: 'log', ...this.common(this.phase, message) });
  }

  done(paths: GuestImagePaths, cached: boolean, message: string): void {
    this.emit({ kind: 'done', ...this.common('finish', message), cached, paths });
  }

  elapsedMs(): number {
    return Date.now() - this.start;
  }
}

/** One human-readable line for an event, e.g. "[3/8 12.4s] unpack: unpacking base tree". */
export function formatProgress(e: BuildProgress): string {
  const t = `${(e.elapsedMs / 1000).toFixed(1)}s`;
  if (e.kind === 'log') return `      ${e.message}`;
  return `[${e.step}/${e.total} ${t}] ${e.phase}: ${e.message}`;
}
