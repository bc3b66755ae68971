// The dashboard in a real browser: Debian's Chromium, driven by playwright-core. Nothing is
// installed here; scripts/test.sh installs chromium (apt-get install -y chromium).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { sleep, startUpstream } from '../support/servers.ts';
import { request } from '../support/http.ts';
import { startAdmin } from './harness.ts';

const CHROMIUM = '/usr/bin/chromium';
const TOKEN = 'dashboard-test-token';
/** `UPDATE_SCREENSHOT=1` refreshes docs/dashboard.png; otherwise it goes to the temp dir. */
const SCREENSHOT = process.env.UPDATE_SCREENSHOT
  ? fileURLToPath(new URL('../../docs/dashboard.png', import.meta.url))
  : join(tmpdir(), 'bluegreen-dashboard.png');

async function launch(): Promise<{ context: BrowserContext; page: Page; close(): Promise<void> }> {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: the dashboard test needs Debian's Chromium (apt-get install -y chromium)`);
  const profile = await mkdtemp(join(tmpdir(), 'bluegreen-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 720 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context,
    page,
    close: async () => {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) assert.fail(`timed out waiting until ${what}`);
    await sleep(25);
  }
}

test('dashboard: asks for the token, shows live changes without a reload, switch and drain buttons act', { timeout: 60_000 }, async (t) => {
  // What Docker discovery reports on a swarm manager (its shape: src/discovery/docker-discovery.ts).
  const engine = { connected: true, lastError: undefined as string | undefined };
  const discovery = {
    status: () => ({
      endpoint: 'unix:///var/run/docker.sock',
      connected: engine.connected,
      lastError: engine.lastError,
      lastSyncAt: Date.now() - 2000,
      engine: { id: 'E1', name: 'node-a', nodeId: 'abcdef0123456789xyz', nodeAddr: '10.0.0.2', role: 'manager', clusterId: 'c' },
      swarmTasks: { services: 3, lastSyncAt: Date.now() },
    }),
    rejected: [],
  };
  const h = await startAdmin({ token: TOKEN, drainMs: 30_000, discovery });
  t.after(() => h.close());
  const app = await startUpstream('app', (req, res) => setTimeout(() => res.end('ok'), req.url!.endsWith('/slow') ? 2500 : 5));
  t.after(() => app.close());
  const reg = h.proxy.registry;
  let n = 0;
  /** Registers an upstream the way discovery would: a container id and a compose-style name. */
  const container = (service: string, color: string | undefined, state: 'ready' | 'starting' = 'ready') =>
    reg.addUpstream({
      id: createHash('sha256').update(`c${++n}`).digest('hex'),
      name: `${service}-${color ? `${color}-` : ''}${n}`,
      service,
      host: '127.0.0.1',
      port: app.port,
      state,
      color,
      createdAt: color === 'green' ? 2 : 1,
    });
  reg.defineService('shop', { hosts: ['shop.example.com'] });
  const blue1 = container('shop', 'blue');
  container('shop', 'blue');
  const green1 = container('shop', 'green');
  const green2 = container('shop', 'green');
  reg.defineService('api', { hosts: ['api.example.com'], pathPrefix: '/v1' });
  const api1 = container('api', undefined);
  const shop = reg.service('shop')!;
  assert.equal(shop.activeColor, 'green');

  const b = await launch();
  t.after(() => b.close());
  const { page } = b;
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/401/.test(m.text())) problems.push(`console: ${m.text()}`);
  });

  await page.goto(h.adminUrl);
  // With a token configured, the page asks for it once.
  await page.locator('#login').waitFor({ state: 'visible' });
  await page.fill('#token', TOKEN);
  await page.click('#login button[type=submit]');
  await page.locator('article[data-service="shop"]').waitFor();
  await page.locator('#conn[data-state="live"]').waitFor();
  assert.equal(await page.locator('article[data-service="shop"] .color.active').getAttribute('data-color'), 'green');
  assert.equal(await page.locator('article').count(), 2);
  // The header names the engine followed, its swarm role and node, and that it is connected.
  await page.locator('#engine[data-connected="yes"]').waitFor({ timeout: 3000 });
  assert.match(await page.locator('#engine').innerText(), /^engine node-a · swarm manager, node abcdef012345 · connected · synced \d+ s ago · 3 swarm services$/);

  // A state change arrives live: a new upstream, then a drain with a request still in flight.
  const navigations: string[] = [];
  page.on('framenavigated', (f) => navigations.push(f.url()));
  const fresh = container('api', undefined, 'starting');
  await page.locator(`tr[data-upstream="${fresh.id}"][data-state="starting"]`).waitFor({ timeout: 3000 });
  fresh.setState('ready');
  await page.locator(`tr[data-upstream="${fresh.id}"][data-state="ready"]`).waitFor({ timeout: 3000 });
  for (let i = 0; i < 6; i++) await request(`${h.url}/`, { headers: { host: 'shop.example.com' } });
  const slow = request(`${h.url}/v1/slow`, { headers: { host: 'api.example.com' } });
  const slow2 = request(`${h.url}/v1/slow`, { headers: { host: 'api.example.com' } });
  await until('two api requests are in flight', () => api1.inFlight + fresh.inFlight === 2);
  const busy = api1.inFlight > 0 ? api1 : fresh;
  reg.drain(busy.id);
  await page.locator(`tr[data-upstream="${busy.id}"][data-state="draining"] .deadline`).waitFor({ timeout: 3000 });
  assert.match(await page.locator(`tr[data-upstream="${busy.id}"] .inflight`).innerText(), /^1/);
  assert.deepEqual(navigations, [], 'the page never reloaded');

  // Losing the engine shows, with the reason, at the next status push.
  engine.connected = false;
  engine.lastError = 'connect ENOENT /var/run/docker.sock';
  reg.defineService('extra');
  await page.locator('#engine[data-connected="no"]').waitFor({ timeout: 3000 });
  assert.match(await page.locator('#engine .bad').innerText(), /disconnected: connect ENOENT/);
  engine.connected = true;
  engine.lastError = undefined;
  reg.removeService('extra');
  await page.locator('#engine[data-connected="yes"]').waitFor({ timeout: 3000 });

  // Click switch: the registry's active color changes and the page shows it.
  await page.click('article[data-service="shop"] button[data-action="switch"][data-color="blue"]');
  await until('the registry switched to blue', () => shop.activeColor === 'blue');
  await page.locator('article[data-service="shop"] .color.active[data-color="blue"]').waitFor({ timeout: 3000 });
  assert.equal(await page.locator('article[data-service="shop"] .active-color').innerText(), 'blue');
  await page.locator('#toast', { hasText: 'shop: active color is now blue' }).waitFor();

  // Pause and resume from the page.
  await page.click('article[data-service="shop"] button[data-action="pause"]');
  await until('shop is paused', () => shop.paused);
  await page.locator('article[data-service="shop"].paused .paused-badge').waitFor({ timeout: 3000 });
  await page.click('article[data-service="shop"] button[data-action="resume"]');
  await until('shop is resumed', () => !shop.paused);

  // Drain needs a second click to confirm.
  const drainBtn = page.locator(`button[data-action="drain"][data-upstream="${green2.id}"]`);
  await drainBtn.click();
  assert.equal(await drainBtn.innerText(), 'Confirm drain');
  assert.ok(reg.upstreams.has(green2.id), 'one click drains nothing');
  await drainBtn.click();
  await until('green2 was drained', () => !reg.upstreams.has(green2.id));
  await page.locator(`tr[data-upstream="${green2.id}"]`).waitFor({ state: 'detached', timeout: 3000 });

  // A calm moment for the screenshot: traffic counted, one upstream draining, green idle.
  for (let i = 0; i < 9; i++) await request(`${h.url}/`, { headers: { host: 'shop.example.com' } });
  const total = String(h.proxy.dataPlane.stats.requests);
  await page.locator('#totals span', { hasText: 'requests' }).locator('b', { hasText: new RegExp(`^${total}$`) }).waitFor({ timeout: 3000 });
  await sleep(300);
  await page.evaluate(() => {
    document.getElementById('toast')!.hidden = true;
  });
  await page.screenshot({ path: SCREENSHOT, fullPage: true });
  assert.ok(existsSync(SCREENSHOT));
  void [blue1, green1];

  await Promise.all([slow, slow2]);
  assert.deepEqual(problems, []);
});
