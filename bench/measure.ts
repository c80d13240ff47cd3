/** What every bench suite shares: recording a measurement, timing a call, medians. */
export interface Measurement {
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  readonly note?: string;
}

export type Record = (name: string, value: number, unit: string, note?: string) => void;

export function recorder(into: Measurement[]): Record {
  return (name, value, unit, note) => {
    into.push({ name, value: Math.round(value * 100) / 100, unit, ...(note ? { note } : {}) });
    process.stderr.write(`  ${name}: ${value.toFixed(2)} ${unit}${note ? ` (${note})` : ''}\n`);
  };
}

export async function time<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t0 = performance.now();
  const value = await fn();
  return [performance.now() - t0, value];
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}
