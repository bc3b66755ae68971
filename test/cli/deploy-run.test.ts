// `bluegreen deploy` step by step against an in-process proxy and admin API, with a fake compose
// that registers and drains upstreams the way discovery would. The real thing, on the Docker
// Engine with docker compose, is test/e2e/deploy.test.ts.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { AdminClient } from '../../src/cli/admin-client.ts';
import type { Compose } from '../../src/cli/deploy-compose.ts';
import { runDeploy, type DeployRequest } from '../../src/cli/deploy-run.ts';
import type { Proxy } from '../../src/proxy.ts';
import { startAdmin } from '../control/harness.ts';
import { startUpstream } from '../support/servers.ts';

interface Behaviour {
  /** The new color becomes ready this long after `up` (never when undefined). */
  readyAfterMs: number | undefined;
  /** `up` registers the container as rejected instead. */
  rejectLabel?: boolean;
}

let seq = 0;

class FakeCompose implements Compose {
  readonly describe = 'fake compose';
  readonly calls: string[] = [];
  readonly rejected: unknown[] = [];
  /** Discovery tells /api/wait when it rejects a container. */
  readonly rejectListeners = new Set<() => void>();
  readonly #proxy: Proxy;
  readonly #port: number;
  readonly #ids = new Map<string, string>();
  behaviour: Behaviour = { readyAfterMs: 50 };

  constructor(proxy: Proxy, port: number) {
    this.#proxy = proxy;
    this.#port = port;
  }

  /** Like the compose file `image: ${WEB_IMAGE:-app:1}`, interpolated. */
  async config(env: Record<string, string>): Promise<unknown> {
    const def = (color: string) => ({ image: env.WEB_IMAGE ?? 'app:1', labels: { 'bluegreen.service': 'web', 'bluegreen.color': color } });
    return { services: { 'web-blue': def('blue'), 'web-green': def('green') } };
  }

  /** A running container of `service` (web-blue or web-green), as discovery registers it. */
  start(service: string, state: 'starting' | 'ready'): string {
    const color = service.replace('web-', '');
    const id = `${color}${String(++seq).padStart(4, '0')}`.padEnd(64, '0');
    this.#ids.set(service, id);
    if (this.behaviour.rejectLabel) {
      this.rejected.push({ id, name: `${service}-1`, label: 'bluegreen.port', value: 'x', reason: 'bad', message: 'bluegreen.port "x" is not a port number' });
      for (const l of this.rejectListeners) l();
      return id;
    }
    this.#proxy.registry.addUpstream({ id, name: `${service}-${seq}`, service: 'web', host: '127.0.0.1', port: this.#port, state, color, createdAt: Date.now() });
    return id;
  }

  async up(service: string, env: Record<string, string>): Promise<void> {
    this.calls.push(`up ${service}${Object.entries(env).map(([k, v]) => ` ${k}=${v}`).join('')}`);
    const old = this.#ids.get(service);
    if (old && this.#proxy.registry.upstreams.has(old)) this.#proxy.registry.remove(old, 'recreated');
    const id = this.start(service, 'starting');
    const after = this.behaviour.readyAfterMs;
    if (after !== undefined && !this.behaviour.rejectLabel) setTimeout(() => this.#proxy.registry.upstreams.has(id) && this.#proxy.registry.setState(id, 'ready'), after);
  }

  async containerIds(service: string): Promise<string[]> {
    const id = this.#ids.get(service);
    return id ? [id] : [];
  }

  async stop(service: string): Promise<void> {
    this.calls.push(`stop ${service}`);
    const id = this.#ids.get(service);
    if (id && this.#proxy.registry.upstreams.has(id)) this.#proxy.registry.drain(id); // the kill event
  }

  async containerStates(ids: readonly string[]): Promise<string[]> {
    return ids.map((id) => `${id.slice(0, 12)}: running, health unhealthy`);
  }
}

async function setup(t: TestContext) {
  const compose = { current: undefined as FakeCompose | undefined };
  const h = await startAdmin({
    discovery: {
      status: () => ({}),
      get rejected() {
        return compose.current?.rejected ?? [];
      },
      onRejectedChange(listener: () => void) {
        compose.current?.rejectListeners.add(listener);
        return () => compose.current?.rejectListeners.delete(listener);
      },
    },
  });
  t.after(() => h.close());
  const app = await startUpstream('app');
  t.after(() => app.close());
  const fake = new FakeCompose(h.proxy, app.port);
  compose.current = fake;
  const admin = new AdminClient(h.adminUrl, undefined);
  const run = async (over: Partial<DeployRequest> = {}) => {
    let out = '';
    let err = '';
    const code = await runDeploy(
      { service: 'web', rollback: false, keepOld: false, image: undefined, imageVar: undefined, timeoutMs: 2_000, drainTimeout: undefined, ...over },
      { admin, compose: async () => fake, out: (s) => (out += s), err: (s) => (err += s) },
    );
    return { code, out, err };
  };
  const svc = () => h.proxy.registry.service('web')!;
  return { h, fake, run, svc };
}

test('deploy: blue to green and back: start, wait ready, switch, drain, stop; each step printed', async (t) => {
  const { fake, run, svc } = await setup(t);
  const blue = fake.start('web-blue', 'ready');
  assert.equal(svc().activeColor, 'blue');

  const r = await run({ image: 'app:2' });
  assert.equal(r.code, 0, r.err + r.out);
  assert.equal(svc().activeColor, 'green');
  assert.equal(svc().colorMode, 'manual');
  assert.deepEqual(fake.calls, ['up web-green WEB_IMAGE=app:2', 'stop web-blue']);
  assert.equal(svc().upstreams.has(blue), false, 'blue drained and removed through the proxy');
  for (const step of ['read status', 'read compose config', 'set color mode manual', 'compose up -d --no-deps --force-recreate web-green with WEB_IMAGE=app:2', 'wait for green ready', 'switch web to green', 'drain blue through the proxy: 1 upstream drained', 'compose stop web-blue']) {
    assert.match(r.out, new RegExp(`^  ok +[\\d.]+ m?s  ${step.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`, 'm'), `${step} in\n${r.out}`);
  }
  assert.match(r.out, /^deployed web: green is active, blue stopped/m);

  // An image variable the compose file does not read: refused before anything starts.
  const wrongVar = await run({ image: 'app:3', imageVar: 'APP_IMAGE' });
  assert.equal(wrongVar.code, 4);
  assert.match(wrongVar.err, /nothing switched: --image app:3: with APP_IMAGE=app:3 compose still gives web-blue the image app:1; make its image: read \$\{APP_IMAGE\}/);
  assert.equal(fake.calls.length, 2);

  const back = await run({ image: 'app:3', imageVar: 'WEB_IMAGE' });
  assert.equal(back.code, 0, back.err + back.out);
  assert.equal(svc().activeColor, 'blue');
  assert.deepEqual(fake.calls.slice(2), ['up web-blue WEB_IMAGE=app:3', 'stop web-green']);
  assert.doesNotMatch(back.out, /set color mode/, 'already manual');
});

test('deploy: the new color never ready: nothing switches, it is stopped, the mode restored, exit 4 with why', async (t) => {
  const { fake, run, svc } = await setup(t);
  fake.start('web-blue', 'ready');
  fake.behaviour = { readyAfterMs: undefined };
  const r = await run({ timeoutMs: 300 });
  assert.equal(r.code, 4, r.out + r.err);
  assert.equal(svc().activeColor, 'blue');
  assert.equal(svc().colorMode, 'auto', 'color mode put back');
  assert.deepEqual(fake.calls, ['up web-green', 'stop web-green']);
  assert.match(r.out, /^  FAIL .* wait for green ready \(timeout 300 ms\): web-green did not become ready within 300 ms/m);
  assert.match(r.err, /^bluegreen deploy: deploy failed, nothing switched: web-green did not become ready within 300 ms; the proxy says web-green-\d+ \(green\d+\): starting; docker says green\d+: running, health unhealthy\n$/);
  assert.ok([...svc().upstreams.values()].every((u) => u.color === 'blue' || u.state === 'draining' || u.state === 'gone'));
});

test('deploy: a container rejected for a bad label fails at once, naming the label', async (t) => {
  const { fake, run, svc } = await setup(t);
  fake.start('web-blue', 'ready');
  fake.behaviour = { readyAfterMs: 10, rejectLabel: true };
  const t0 = Date.now();
  const r = await run({ timeoutMs: 10_000 });
  assert.equal(r.code, 4);
  assert.ok(Date.now() - t0 < 5_000, 'no waiting for the timeout');
  assert.match(r.err, /nothing switched: container web-green-1 \(green\d+\) was rejected by the proxy: bluegreen.port "x" is not a port number/);
  assert.equal(svc().activeColor, 'blue');
  assert.deepEqual(fake.calls, ['up web-green', 'stop web-green']);
});

test('deploy --keep-old, then --rollback while the old color is warm; rollback without a warm color: exit 4', async (t) => {
  const { fake, run, svc } = await setup(t);
  fake.start('web-blue', 'ready');
  const r = await run({ keepOld: true });
  assert.equal(r.code, 0, r.err);
  assert.equal(svc().activeColor, 'green');
  assert.deepEqual(fake.calls, ['up web-green']);
  assert.match(r.out, /skip .* --keep-old: blue stays running/);

  const rb = await run({ rollback: true });
  assert.equal(rb.code, 0, rb.err);
  assert.equal(svc().activeColor, 'blue');
  assert.match(rb.out, /^rolled back web: blue is active \(1 ready upstream\); green keeps running, idle/m);
  assert.deepEqual(fake.calls, ['up web-green'], 'no compose command');

  const d = await run(); // blue -> green again, and blue is drained and stopped
  assert.equal(d.code, 0, d.err);
  const none = await run({ rollback: true });
  assert.equal(none.code, 4);
  assert.match(none.err, /cannot roll back web to blue: it has no upstream in the proxy/);
  assert.equal(svc().activeColor, 'green');
});

test('deploy: first release of a service the proxy does not know yet starts blue', async (t) => {
  const { fake, run, svc } = await setup(t);
  const r = await run();
  assert.equal(r.code, 0, r.err + r.out);
  assert.equal(svc().activeColor, 'blue');
  assert.deepEqual(fake.calls, ['up web-blue']);
  assert.match(r.out, /the proxy does not know web yet/);
});
