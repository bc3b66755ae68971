import { readFileSync } from 'node:fs';

export interface Asset {
  contentType: string;
  body: Buffer;
}

const FILES: readonly [urlPath: string, file: string, contentType: string][] = [
  ['/', 'index.html', 'text/html; charset=utf-8'],
  ['/dashboard/app.js', 'app.js', 'text/javascript; charset=utf-8'],
  ['/dashboard/style.css', 'style.css', 'text/css; charset=utf-8'],
];

/** The dashboard's static files, read once at startup from src/control/dashboard/ (no build step). */
export function loadDashboardAssets(): Map<string, Asset> {
  const dir = new URL('./dashboard/', import.meta.url);
  const assets = new Map<string, Asset>();
  for (const [urlPath, file, contentType] of FILES) {
    assets.set(urlPath, { contentType, body: readFileSync(new URL(file, dir)) });
  }
  return assets;
}

/** Headers for the dashboard: same-origin scripts, styles and connections only; never framed. */
export const DASHBOARD_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};
