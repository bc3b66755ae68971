// PNG timeline of one deploy-benchmark case, rendered by Chart.js on @napi-rs/canvas (both npm
// devDependencies; the canvas ships its binary in an npm package, nothing is downloaded).
// One panel per proxy: successful requests/s (line), failed requests and dropped WebSockets per
// second (bars), and the deploy windows (shaded band on a 0..1 axis).
import { createCanvas } from '@napi-rs/canvas';
import { Chart, registerables } from 'chart.js';
import { writeFileSync } from 'node:fs';

Chart.register(...registerables);

export interface Timeline {
  proxy: string;
  /** Per second since the run's start. */
  okPerSec: number[];
  failedPerSec: number[];
  wsDroppedPerSec: number[];
  /** Deploy windows, seconds since the run's start. */
  deploys: { from: number; to: number }[];
  skipped?: string;
}

const PANEL_W = 1100;
const PANEL_H = 260;

export async function renderTimeline(file: string, title: string, timelines: Timeline[]): Promise<void> {
  const panels = timelines.filter((t) => !t.skipped);
  const canvas = createCanvas(PANEL_W, Math.max(1, panels.length) * PANEL_H + 40);
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = 'white';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.fillStyle = 'black';
  ctx.font = 'bold 18px sans-serif';
  ctx.fillText(title, 12, 26);
  for (const [i, t] of panels.entries()) {
    const sub = createCanvas(PANEL_W, PANEL_H);
    const n = Math.max(t.okPerSec.length, t.failedPerSec.length);
    const labels = Array.from({ length: n }, (_, s) => String(s));
    // Second s is shaded when a deploy window overlaps [s, s + 1).
    const deploying = labels.map((_, s) => (t.deploys.some((d) => s + 1 > d.from && s < d.to) ? 1 : 0));
    const chart = new Chart(sub.getContext('2d') as unknown as CanvasRenderingContext2D, {
      type: 'bar',
      data: {
        labels,
        datasets: [
          {
            type: 'line',
            label: 'ok requests/s',
            data: t.okPerSec,
            borderColor: '#1f77b4',
            backgroundColor: '#1f77b4',
            pointRadius: 0,
            borderWidth: 1.5,
            yAxisID: 'y',
          },
          { type: 'bar', label: 'failed requests/s', data: t.failedPerSec, backgroundColor: '#d62728', yAxisID: 'y1' },
          { type: 'bar', label: 'WebSockets dropped/s', data: t.wsDroppedPerSec, backgroundColor: '#ff7f0e', yAxisID: 'y1' },
          {
            type: 'bar',
            label: 'deploy in progress',
            data: deploying,
            grouped: false,
            barPercentage: 1,
            categoryPercentage: 1,
            backgroundColor: 'rgba(120,120,120,0.18)',
            yAxisID: 'deploy',
          },
        ],
      },
      options: {
        responsive: false,
        animation: false,
        devicePixelRatio: 1,
        layout: { padding: { left: 12, right: 8 } },
        plugins: {
          title: { display: true, text: t.proxy, align: 'start', font: { size: 14 } },
          legend: { position: 'right' },
        },
        scales: {
          x: { title: { display: true, text: 'seconds since the load started (bars: the second they ended in)' }, ticks: { maxTicksLimit: 30 }, grid: { display: false } },
          y: { position: 'left', beginAtZero: true, title: { display: true, text: 'ok req/s' } },
          y1: { position: 'right', beginAtZero: true, suggestedMax: 5, title: { display: true, text: 'failures/s' }, grid: { drawOnChartArea: false } },
          deploy: { display: false, min: 0, max: 1 },
        },
      },
    });
    chart.draw();
    ctx.drawImage(sub, 0, 40 + i * PANEL_H);
    chart.destroy();
  }
  writeFileSync(file, await canvas.encode('png'));
}
