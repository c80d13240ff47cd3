/**
 * Live graphs of a sandbox's resources over the last hour (uPlot): guest
 * CPU (the VMM process's, in % of one host core), memory (the guest's own
 * figure and the VMM's resident memory on the host) and disk used in the
 * pool. Data: `GET .../stats` (history at one sample per interval), fetched
 * again every interval. A figure hob could not read is a gap.
 */
import uPlot from 'uplot';

interface Sample {
  at: string;
  cpu_percent: number | null;
  rss_bytes: number | null;
  guest_memory: { used_bytes: number } | null;
  disk_used_bytes: number | null;
}
interface Stats {
  interval_seconds: number;
  history: Sample[];
}

const MiB = 1024 * 1024;
/** The figure's padding and border around the plot (style.css `.chart`). */
const FRAME_PX = 12;

/** A plot as wide as its container allows (never wider: a narrow window must not scroll sideways), at most 560 px. */
function plotWidth(container: HTMLElement): number {
  return Math.max(200, Math.min(container.clientWidth - FRAME_PX, 560));
}

/**
 * The time axis ticks whole minutes (uPlot's defaults also tick seconds and put the date on a
 * second row, which overlap on a short history in a narrow plot).
 */
const MINUTE_STEPS = [60, 120, 300, 600, 900, 1800, 3600];
const clock = (t: number): string => new Date(t * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });

/** The next 1, 2, 2.5 or 5 × 10^k at or above `v`: the top of the y axis then gets a tick and a label. */
function niceCeil(v: number): number {
  const p = 10 ** Math.floor(Math.log10(v));
  return ([1, 2, 2.5, 5, 10].find((m) => m * p >= v) ?? 10) * p;
}

/** A tick or value: `%` as is; MiB up to 1 GiB, then GiB. */
function format(value: number, unit: string): string {
  if (unit === 'MiB' && Math.abs(value) >= 1024) return `${+(value / 1024).toFixed(2)} GiB`;
  return `${+value.toFixed(1)} ${unit}`;
}

/**
 * The y axis's width from its longest label (uPlot's recipe), so that "1.25 GiB" is never clipped
 * whatever the font; cycleNum > 1 keeps the last size to let uPlot's layout converge.
 */
function axisSize(self: uPlot, values: string[] | null, axisIdx: number, cycleNum: number): number {
  const axis = self.axes[axisIdx]!;
  if (cycleNum > 1) return (axis as { _size?: number })._size ?? 60;
  let size = (axis.ticks?.size ?? 10) + (axis.gap ?? 5) + 4;
  const longest = (values ?? []).reduce((a, v) => (v.length > a.length ? v : a), '');
  if (longest !== '') {
    // uPlot keeps an axis's font as [font, size] once built.
    const font: unknown = axis.font;
    self.ctx.font = Array.isArray(font) ? String(font[0]) : typeof font === 'string' ? font : '12px system-ui';
    size += self.ctx.measureText(longest).width / devicePixelRatio;
  }
  return Math.ceil(size);
}

interface Chart {
  readonly plot: uPlot;
  /** Shown while there is no sample. */
  readonly empty: HTMLElement;
  readonly values: (s: Sample) => (number | null)[];
}

function chart(parent: HTMLElement, title: string, unit: string, series: { label: string; stroke: string }[], values: Chart['values']): Chart {
  const figure = document.createElement('figure');
  figure.className = 'chart';
  figure.setAttribute('aria-label', `${title}, last hour`);
  parent.append(figure);
  const plot = new uPlot(
    {
      title,
      width: plotWidth(parent),
      height: 170,
      series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.stroke, width: 2, spanGaps: false, value: (_: uPlot, v: number | null) => (v === null ? '–' : format(v, unit)) }))],
      axes: [{ size: 32, space: 56, incrs: MINUTE_STEPS, values: (_: uPlot, ticks: number[]) => ticks.map(clock) }, { size: axisSize, values: (_: uPlot, ticks: number[]) => ticks.map((t) => format(t, unit)) }],
      scales: { y: { range: (_: uPlot, _min: number, max: number) => [0, niceCeil(Math.max(max * 1.1, unit === '%' ? 10 : 1))] } },
      legend: { live: false },
    },
    [[], ...series.map(() => [])],
    figure,
  );
  const empty = document.createElement('p');
  empty.className = 'empty';
  empty.textContent = 'No samples yet: hob samples a running sandbox every few seconds.';
  figure.append(empty);
  return { plot, values, empty };
}

export function startCharts(container: HTMLElement, statsUrl: string): void {
  const charts = [
    chart(container, 'CPU', '%', [{ label: 'VMM CPU', stroke: '#1f5fbf' }], (s) => [s.cpu_percent]),
    chart(
      container,
      'Memory',
      'MiB',
      [
        { label: 'guest used', stroke: '#2e9d55' },
        { label: 'VMM resident', stroke: '#8a5a00' },
      ],
      (s) => [s.guest_memory === null ? null : s.guest_memory.used_bytes / MiB, s.rss_bytes === null ? null : s.rss_bytes / MiB],
    ),
    chart(container, 'Disk used', 'MiB', [{ label: 'in the pool', stroke: '#7a3fb0' }], (s) => [s.disk_used_bytes === null ? null : s.disk_used_bytes / MiB]),
  ];
  let intervalMs = 5000;
  const update = async (): Promise<void> => {
    const response = await fetch(statsUrl, { credentials: 'same-origin' });
    if (!response.ok) return;
    const stats = (await response.json()) as Stats;
    intervalMs = Math.max(1000, stats.interval_seconds * 1000);
    const xs = stats.history.map((s) => Date.parse(s.at) / 1000);
    for (const c of charts) {
      const columns = stats.history.map(c.values);
      const series = (c.plot.series.length - 1) as number;
      const data: (number | null)[][] = [xs];
      for (let i = 0; i < series; i++) data.push(columns.map((row) => row[i] ?? null));
      c.plot.setData(data as uPlot.AlignedData);
      c.empty.hidden = stats.history.length > 0;
    }
  };
  const loop = (): void => {
    update()
      .catch(() => undefined)
      .finally(() => window.setTimeout(loop, document.hidden ? intervalMs * 4 : intervalMs));
  };
  loop();
  new ResizeObserver(() => {
    const width = plotWidth(container);
    for (const c of charts) if (c.plot.width !== width) c.plot.setSize({ width, height: 170 });
  }).observe(container);
}
