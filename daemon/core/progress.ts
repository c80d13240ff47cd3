import type { ProgressSink } from './types.js';

/** Reports one progress line of a lifecycle operation, stamped now. */
export function emit(progress: ProgressSink, type: 'info' | 'error' | 'complete', data: string): void {
  progress({ type, data, time: new Date().toISOString() });
}
