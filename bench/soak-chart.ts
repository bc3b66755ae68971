// PNG of a soak run (bench/soak.ts), rendered by Chart.js on @napi-rs/canvas like bench/deploy-chart.ts.
// Top panel: the proxy's RSS, V8 heap total and used (MiB, left axis) and open fds (right axis), one sample a
// second, with the two windows the growth check compares shaded. Bottom panel: successful requests/s,
// failed requests and dropped WebSockets per second, and the deploys (blue/green and rolling).
import { createCanvas } from '@napi-rs/canvas';
import { Chart, registerables, type ChartConfiguration } from 'chart.js';
import { writeFileSync } from 'node:fs';

Chart.register(...registerables);

export interface SoakTimeline {
  /** Per second since the load started; null where no sample was taken. */
  rssMiB: (number | null)[];
  heapMiB: (number | null)[];
  /** V8's committed heap. */
  heapTotalMiB: (number | null)[];
  fds: (number | null)[];
  okPerSec: number[];
  failedPerSec: number[];
  wsDroppedPerSec: number[];
  deploys: { kind: 'blue/green' | 'rolling'; from: number; to: number }[];
  /** The growth check's windows, seconds since the load started. */
  windows: { from: number; to: number }[];
}

const W = 1200;
const PANEL_H = 320;
const TOP = 64;

export async function renderSoak(file: string, title: string, subtitle: string, t: SoakTimeline): Promise<void> {
  const n = Math.max(t.rssMiB.length, t.okPerSec.length);
  const labels = Array.from({ length: n }, (_, s) => String(s));
  const within = (ranges: { from: number; to: number }[]) => labels.map((_, s) => (ranges.some((r) => s + 1 > r.from && s < r.to) ? 1 : 0));
  const band = (label: string, data: number[], color: string, axis: string) => ({
    type: 'bar' as const,
    label,
    data,
    grouped: false,
    barPercentage: 1,
    categoryPercentage: 1,
    backgroundColor: color,
    yAxisID: axis,
  });
  const line = (label: string, data: (number | null)[], color: string, axis: string) => ({
    type: 'line' as const,
    label,
    data,
    borderColor: color,
    backgroundColor: color,
    pointRadius: 0,
    borderWidth: 1.5,
    spanGaps: true,
    yAxisID: axis,
  });
  const x = { title: { display: true, text: 'seconds since the load started' }, ticks: { maxTicksLimit: 31 }, grid: { display: false } };

  const resources = {
    type: 'bar',
    data: {
      labels,
      datasets: [
        line('RSS (MiB)', t.rssMiB, '#1f77b4', 'y'),
        line('V8 heap total (MiB)', t.heapTotalMiB, '#98df8a', 'y'),
        line('V8 heap used (MiB)', t.heapMiB, '#2ca02c', 'y'),
        line('open fds', t.fds, '#9467bd', 'y1'),
        band('compared windows', within(t.windows), 'rgba(255,200,0,0.18)', 'band'),
      ],
    },
    options: {
      responsive: false,
      animation: false,
      devicePixelRatio: 1,
      layout: { padding: { left: 12, right: 8 } },
      plugins: { title: { display: true, text: 'proxy process: memory and file descriptors (1 sample/s)', align: 'start', font: { size: 14 } }, legend: { position: 'right' } },
      scales: {
        x,
        y: { position: 'left', beginAtZero: true, title: { display: true, text: 'MiB' } },
        y1: { position: 'right', beginAtZero: true, title: { display: true, text: 'open fds' }, grid: { drawOnChartArea: false } },
        band: { display: false, min: 0, max: 1 },
      },
    },
  } as unknown as ChartConfiguration;

  const traffic = {
    type: 'bar',
    data: {
      labels,
      datasets: [
        line('ok requests/s', t.okPerSec, '#1f77b4', 'y'),
        { type: 'bar', label: 'failed requests/s', data: t.failedPerSec, backgroundColor: '#d62728', yAxisID: 'y1' },
        { type: 'bar', label: 'WebSockets dropped/s', data: t.wsDroppedPerSec, backgroundColor: '#ff7f0e', yAxisID: 'y1' },
        band('blue/green deploy', within(t.deploys.filter((d) => d.kind === 'blue/green')), 'rgba(31,119,180,0.15)', 'band'),
        band('rolling deploy', within(t.deploys.filter((d) => d.kind === 'rolling')), 'rgba(44,160,44,0.18)', 'band'),
      ],
    },
    options: {
      responsive: false,
      animation: false,
      devicePixelRatio: 1,
      layout: { padding: { left: 12, right: 8 } },
      plugins: { title: { display: true, text: 'load through the proxy', align: 'start', font: { size: 14 } }, legend: { position: 'right' } },
      scales: {
        x,
        y: { position: 'left', beginAtZero: true, title: { display: true, text: 'ok req/s' } },
        y1: { position: 'right', beginAtZero: true, suggestedMax: 5, title: { display: true, text: 'failures/s' }, grid: { drawOnChartArea: false } },
        band: { display: false, min: 0, max: 1 },
      },
    },
  } as unknown as ChartConfiguration;

  const canvas = createCanvas(W, TOP + 2 * PANEL_H);
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = 'white';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.fillStyle = 'black';
  ctx.font = 'bold 18px sans-serif';
  ctx.fillText(title, 12, 26);
  ctx.font = '13px sans-serif';
  ctx.fillText(subtitle, 12, 48);
  for (const [i, config] of [resources, traffic].entries()) {
    const sub = createCanvas(W, PANEL_H);
    const chart = new Chart(sub.getContext('2d') as unknown as CanvasRenderingContext2D, config);
    chart.draw();
    ctx.drawImage(sub, 0, TOP + i * PANEL_H);
    chart.destroy();
  }
  writeFileSync(file, await canvas.encode('png'));
}
