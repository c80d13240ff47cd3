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

interface Chart {
  readonly plot: uPlot;
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
      width: Math.max(280, Math.min(parent.clientWidth, 560)),
      height: 170,
      series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.stroke, width: 2, spanGaps: false, value: (_: uPlot, v: number | null) => (v === null ? '–' : `${v.toFixed(1)} ${unit}`) }))],
      axes: [{}, { size: 76, values: (_: uPlot, ticks: number[]) => ticks.map((t) => `${t} ${unit}`) }],
      scales: { y: { range: (_: uPlot, min: number, max: number) => [0, Math.max(max * 1.1, unit === '%' ? 10 : 1)] } },
      legend: { live: false },
    },
    [[], ...series.map(() => [])],
    figure,
  );
  return { plot, values };
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
    }
  };
  const loop = (): void => {
    update()
      .catch(() => undefined)
      .finally(() => window.setTimeout(loop, document.hidden ? intervalMs * 4 : intervalMs));
  };
  loop();
  new ResizeObserver(() => {
    const width = Math.max(280, Math.min(container.clientWidth, 560));
    for (const c of charts) if (c.plot.width !== width) c.plot.setSize({ width, height: 170 });
  }).observe(container);
}
