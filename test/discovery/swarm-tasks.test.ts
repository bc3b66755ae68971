import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { DockerodeClient } from '../../src/discovery/docker-client.ts';
import { DockerDiscovery } from '../../src/discovery/docker-discovery.ts';
import { serviceViewFromJson, taskAsContainer, taskFromJson, taskVerdict, type TaskState } from '../../src/discovery/swarm-task.ts';
import { Registry } from '../../src/registry/registry.ts';
import { sleep, startUpstream } from '../support/servers.ts';

// Swarm services followed through a manager's tasks API. The "manager" is a real HTTP server on
// loopback that answers the Engine API paths discovery calls (/info, /services, /tasks, /images,
// /containers, /events) with canned JSON shaped like Docker 20.10's; discovery reaches it through
// its real client (dockerode over tcp://). The tasks' "overlay addresses" are loopback addresses
// where real upstream servers listen.

const NS = 1_000_000_000;

interface FakeTask {
  id: string;
  slot: number;
  desired: TaskState;
  state: TaskState;
  addr: string;
  network?: string;
  containerId?: string;
  labels?: Record<string, string>;
  stopGraceNs?: number;
}

class FakeManager {
  services: Record<string, unknown>[] = [];
  tasks: FakeTask[] = [];
  containers: Record<string, unknown>[] = [];
  /** Images the manager has: name -> inspect JSON. */
  images: Record<string, unknown> = {};
  taskCalls = 0;
  failTasks = false;
  readonly #events = new Set<ServerResponse>();
  readonly server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = url.pathname.replace(/^\/v[\d.]+/, '');
    const json = (v: unknown, status = 200) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(v));
    };
    if (path === '/info') return json({ ID: 'ENGINE:ID', Name: 'mgr-1', Swarm: { NodeID: 'node1', NodeAddr: '10.0.0.1', LocalNodeState: 'active', ControlAvailable: true, Cluster: { ID: 'cluster1' } } });
    if (path === '/services') return json(this.services);
    if (path === '/tasks') {
      this.taskCalls++;
      if (this.failTasks) return json({ message: 'rpc error: manager unavailable' }, 500);
      const filters = JSON.parse(url.searchParams.get('filters') ?? '{}') as { service?: string[] };
      const want = new Set(filters.service ?? []);
      return json(this.tasks.filter((t) => want.size === 0 || want.has('svc1')).map((t) => taskJson(t)));
    }
    const img = /^\/images\/(.+)\/json$/.exec(path);
    if (img) {
      const name = decodeURIComponent(img[1]!);
      return this.images[name] ? json(this.images[name]) : json({ message: `No such image: ${name}` }, 404);
    }
    if (path === '/containers/json') return json(this.containers);
    if (path.startsWith('/containers/')) return json({ message: 'No such container' }, 404);
    if (path === '/events') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.flushHeaders();
      this.#events.add(res);
      res.on('close', () => this.#events.delete(res));
      return;
    }
    json({ message: `not faked: ${path}` }, 404);
  });

  emit(ev: Record<string, unknown>): void {
    const now = Date.now();
    for (const r of this.#events) r.write(`${JSON.stringify({ ...ev, time: Math.floor(now / 1000), timeNano: now * 1_000_000 })}\n`);
  }

  task(id: string): FakeTask {
    const t = this.tasks.find((x) => x.id === id);
    assert.ok(t, `no task ${id}`);
    return t;
  }

  async start(t: TestContext): Promise<string> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    t.after(() => {
      for (const r of this.#events) r.destroy();
      this.server.closeAllConnections();
      this.server.close();
    });
    return `tcp://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
}

function taskJson(t: FakeTask): unknown {
  return {
    ID: t.id,
    ServiceID: 'svc1',
    NodeID: `node${t.slot}`,
    Slot: t.slot,
    UpdatedAt: new Date().toISOString(),
    DesiredState: t.desired,
    Spec: { ContainerSpec: { Image: 'app:1', Labels: t.labels ?? { 'bluegreen.service': 'web' }, StopGracePeriod: t.stopGraceNs ?? 12 * NS } },
    Status: {
      Timestamp: new Date().toISOString(),
      State: t.state,
      Message: t.state,
      ...(t.state === 'running' || t.state === 'starting' ? { ContainerStatus: { ContainerID: t.containerId ?? `c${t.id}`.padEnd(64, '0') } } : {}),
    },
    NetworksAttachments: [
      { Network: { Spec: { Name: 'ingress', Ingress: true } }, Addresses: ['10.255.0.9/16'] },
      { Network: { Spec: { Name: t.network ?? 'appnet' } }, Addresses: [`${t.addr}/24`] },
    ],
  };
}

function service(labels: Record<string, string>, extra: { healthcheck?: boolean; updating?: boolean } = {}) {
  return {
    ID: 'svc1',
    Spec: {
      Name: 'shop_web',
      Labels: labels,
      TaskTemplate: {
        ContainerSpec: {
          Image: 'app:1',
          Labels: { 'bluegreen.service': 'web' },
          StopGracePeriod: 12 * NS,
          ...(extra.healthcheck === false ? {} : { Healthcheck: { Test: ['CMD', 'true'] } }),
        },
      },
    },
    ...(extra.updating ? { UpdateStatus: { State: 'updating' } } : { UpdateStatus: { State: 'completed' } }),
  };
}

async function setup(t: TestContext) {
  const mgr = new FakeManager();
  const endpoint = await mgr.start(t);
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _e, cb) {
      logs.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      cb();
    },
  });
  const registry = new Registry({ logger: pino({ level: 'silent' }) });
  const client = new DockerodeClient(endpoint);
  const discovery = new DockerDiscovery({ client, registry, logger: pino({ level: 'debug' }, sink), hostAddress: '127.0.0.1', initialBackoffMs: 20, maxBackoffMs: 100 });
  t.after(() => discovery.stop());
  return { mgr, registry, discovery, logs, start: async () => {
    discovery.start();
    await discovery.firstSync;
  } };
}

async function until(what: string, fn: () => boolean, ms = 4000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

test('mapping: a task from /tasks JSON, its verdict for every DesiredState x State that matters, the task as a container', () => {
  const raw = taskJson({ id: 't1', slot: 2, desired: 'running', state: 'running', addr: '10.0.1.5', labels: { 'bluegreen.port': '8080', 'bluegreen.service': 'web' }, stopGraceNs: 3 * NS });
  const task = taskFromJson(raw);
  assert.equal(task.id, 't1');
  assert.equal(task.slot, 2);
  assert.equal(task.stopGraceMs, 3000);
  assert.deepEqual(task.networks, { appnet: { ip: '10.0.1.5' } }, 'the ingress network is never a way to a task');
  assert.equal(task.containerId.length, 64);
  const svc = serviceViewFromJson(service({ 'bluegreen.hosts': 'shop.test', 'com.docker.stack.namespace': 'shop' }));
  assert.deepEqual(svc.labels, { 'bluegreen.hosts': 'shop.test' }, 'only bluegreen.* labels of the service');
  assert.equal(svc.healthcheck, true);
  const c = taskAsContainer(task, svc, { exposedPorts: [8080], healthcheck: false });
  assert.deepEqual(c.labels, { 'bluegreen.hosts': 'shop.test', 'bluegreen.port': '8080', 'bluegreen.service': 'web' });
  assert.equal(c.name, 'shop_web.2.t1');
  assert.equal(c.hasHealthcheck, true, "the service's healthcheck gates running");
  assert.equal(c.stopTimeoutMs, 3000, "the task's own grace period over the service's");

  const v = (desired: TaskState, state: TaskState) => taskVerdict({ desired, state });
  assert.equal(v('running', 'assigned'), 'wait', 'assigned: addresses known, no container yet');
  assert.equal(v('running', 'starting'), 'wait', 'starting: not healthy yet');
  assert.equal(v('ready', 'ready'), 'wait');
  assert.equal(v('running', 'running'), 'route');
  assert.equal(v('shutdown', 'running'), 'drain', 'told to stop: drain before the container is signalled');
  assert.equal(v('remove', 'running'), 'drain');
  assert.equal(v('shutdown', 'shutdown'), 'gone');
  assert.equal(v('running', 'failed'), 'gone', 'crashed');
  assert.equal(v('shutdown', 'assigned'), 'drain', 'never routed: nothing to drain, nothing registered');
  assert.equal(taskVerdict(taskFromJson({ DesiredState: 'bogus', Status: 'x' })), 'wait', 'garbage never routes');
});

test('manager: tasks are routed once running (healthy), on the overlay address, with service labels; starting tasks wait; one upstream per task', async (t) => {
  const a = await startUpstream('a');
  const { mgr, registry, discovery, logs, start } = await setup(t);
  t.after(() => a.close());
  mgr.services = [service({ 'bluegreen.hosts': 'shop.test', 'bluegreen.port': String(a.port) })];
  mgr.tasks = [
    { id: 't1', slot: 1, desired: 'running', state: 'running', addr: '127.0.0.1' },
    { id: 't2', slot: 2, desired: 'running', state: 'starting', addr: '127.0.0.2' },
  ];
  // The local task container is in the container list too, with its labels: the container path leaves it to the tasks.
  mgr.containers = [{ Id: 'ct1'.padEnd(64, '0'), Names: ['/shop_web.1.t1'], State: 'running', Labels: { 'bluegreen.service': 'web', 'com.docker.swarm.task.id': 't1', 'com.docker.swarm.service.id': 'svc1' } }];
  await start();
  const svc = registry.service('web');
  assert.ok(svc, `service defined from the task labels: ${JSON.stringify(logs)}`);
  assert.deepEqual(svc.route.hosts, ['shop.test'], 'bluegreen.hosts from the service (deploy.labels)');
  assert.equal(svc.upstreams.size, 1, 'the starting task is not routed');
  const up = [...svc.upstreams.values()][0]!;
  assert.equal(up.id, 'ct1'.padEnd(64, '0'), 'the upstream is the task container (id)');
  assert.deepEqual(up.aliases, ['t1']);
  assert.equal(up.address, `127.0.0.1:${a.port}`, 'the address on the task’s own network, not ingress');
  assert.equal(up.state, 'ready', 'running = healthy where there is a healthcheck');
  assert.equal(up.drainTimeoutMs, 12_000);
  assert.equal(registry.upstreams.size, 1, 'no second upstream from the container path');
  const st = discovery.state;
  assert.equal(st.engine?.name, 'mgr-1');
  assert.equal(st.engine?.role, 'manager');
  assert.equal(st.swarmTasks?.services, 1);
  assert.ok(typeof st.swarmTasks?.lastSyncAt === 'number');

  // t2 becomes running: routed at the next poll (fast: a task is between states).
  mgr.task('t2').state = 'running';
  await until('t2 routed', () => svc.upstreams.size === 2);
  assert.ok(logs.some((l) => l.msg === 'task registered' && l['task'] === 't2' && (l['serviceLabels'] as string[]).includes('bluegreen.hosts')));
});

test('manager: DesiredState shutdown drains at once (bound: StopGracePeriod), the container’s exit removes it; a crashed task is removed', async (t) => {
  const { mgr, registry, logs, start } = await setup(t);
  mgr.services = [service({ 'bluegreen.port': '8080' })];
  mgr.tasks = [
    { id: 't1', slot: 1, desired: 'running', state: 'running', addr: '127.0.0.1', stopGraceNs: 7 * NS },
    { id: 't2', slot: 2, desired: 'running', state: 'running', addr: '127.0.0.2' },
  ];
  await start();
  const [u1, u2] = ['t1', 't2'].map((id) => [...registry.upstreams.values()].find((u) => u.aliases.includes(id))!);
  assert.ok(u1 && u2);
  // An update: swarm starts a replacement and marks the old task; the service is updating.
  mgr.services = [service({ 'bluegreen.port': '8080' }, { updating: true })];
  mgr.emit({ Type: 'service', Action: 'update', Actor: { ID: 'svc1', Attributes: { name: 'shop_web', 'updatestate.new': 'updating' } } });
  mgr.tasks.push({ id: 't3', slot: 1, desired: 'running', state: 'starting', addr: '127.0.0.3' });
  const before = Date.now();
  mgr.task('t1').desired = 'shutdown';
  await until('t1 draining', () => u1.state === 'draining' || u1.state === 'gone');
  const line = logs.find((l) => l.msg === 'task shutting down; draining it' && l['task'] === 't1');
  assert.ok(line, 'drain logged');
  assert.equal(line['graceMs'], 7000);
  if (u1.drainDeadline !== undefined) assert.ok(u1.drainDeadline >= before + 7000, 'drain bound from the task’s StopGracePeriod');
  mgr.task('t1').state = 'shutdown';
  mgr.task('t3').state = 'running';
  await until('t1 removed, t3 routed', () => !registry.upstreams.has(u1.id) && [...registry.upstreams.values()].some((u) => u.aliases.includes('t3')));
  // A crash: the task fails without being told to stop.
  mgr.task('t2').state = 'failed';
  mgr.emit({ Type: 'container', Action: 'die', Actor: { ID: 'x', Attributes: { 'com.docker.swarm.task.id': 't2', 'com.docker.swarm.service.id': 'svc1' } } });
  await until('t2 removed', () => !registry.upstreams.has(u2.id));
  // The task list no longer has t3 (history pruned, service scaled to 0): removed too.
  mgr.tasks = mgr.tasks.filter((x) => x.id !== 't3');
  mgr.emit({ Type: 'service', Action: 'update', Actor: { ID: 'svc1', Attributes: { name: 'shop_web' } } });
  await until('t3 removed', () => registry.upstreams.size === 0);
});

test('manager: without a healthcheck a running task waits for our probe; bad labels and unshared networks are reported per task', async (t) => {
  const { mgr, registry, discovery, start } = await setup(t);
  const a = await startUpstream('a');
  t.after(() => a.close());
  mgr.services = [service({ 'bluegreen.port': String(a.port), 'bluegreen.network': 'appnet' }, { healthcheck: false })];
  mgr.tasks = [
    { id: 't1', slot: 1, desired: 'running', state: 'running', addr: '127.0.0.1' },
    { id: 't2', slot: 2, desired: 'running', state: 'running', addr: '127.0.0.2', network: 'othernet' },
    { id: 't3', slot: 3, desired: 'running', state: 'running', addr: '127.0.0.3', labels: { 'bluegreen.service': 'web', 'bluegreen.drain-timeout': 'soon' } },
  ];
  await start();
  const u1 = [...registry.upstreams.values()].find((u) => u.aliases.includes('t1'));
  assert.ok(u1);
  await until('t1 ready by the tcp probe', () => u1.state === 'ready');
  assert.equal(registry.upstreams.size, 1);
  const rejected = discovery.rejected as { id: string; name: string; label: string; message: string }[];
  assert.ok(rejected.some((r) => r.id === 't2' && r.label === 'bluegreen.network' && /shop_web\.2\.t2/.test(r.message) && /othernet/.test(r.message)), JSON.stringify(rejected));
  assert.ok(rejected.some((r) => r.id === 't3' && r.label === 'bluegreen.drain-timeout'), JSON.stringify(rejected));
});

test('manager: exposed port from the manager’s image; the tasks API failing keeps what is known; the service losing its labels drains its tasks', async (t) => {
  const { mgr, registry, logs, start } = await setup(t);
  mgr.images = { 'app:1': { Config: { ExposedPorts: { '8080/tcp': {} } } } };
  mgr.services = [service({})];
  mgr.tasks = [{ id: 't1', slot: 1, desired: 'running', state: 'running', addr: '127.0.0.1' }];
  await start();
  const u1 = [...registry.upstreams.values()][0];
  assert.equal(u1?.address, '127.0.0.1:8080', 'port from the image the manager has');
  mgr.failTasks = true;
  mgr.emit({ Type: 'node', Action: 'update', Actor: { ID: 'node2', Attributes: { name: 'n2', 'availability.new': 'drain' } } });
  await until('a failed poll', () => logs.some((l) => l.msg === 'cannot list swarm tasks; keeping what is known and retrying'));
  assert.equal(u1.state, 'ready', 'nothing dropped while the manager cannot answer');
  mgr.failTasks = false;
  const unlabelled = service({});
  (unlabelled.Spec.TaskTemplate.ContainerSpec as { Labels: Record<string, string> }).Labels = {};
  mgr.services = [unlabelled];
  mgr.emit({ Type: 'service', Action: 'update', Actor: { ID: 'svc1', Attributes: { name: 'shop_web' } } });
  await until('t1 drained', () => u1.state === 'draining' || u1.state === 'gone');
});

// Sequences seen (or suspected) on a busy single-node swarm: a task replaced after failing its
// healthcheck, polls failing meanwhile, a rolling update over a replacement.
const byTask = (registry: Registry, id: string) => [...registry.upstreams.values()].find((u) => u.aliases.includes(id));

test('manager: a task failing its healthcheck is removed, its replacement (new id, new address, ready → starting → running) routed', async (t) => {
  const { mgr, registry, start } = await setup(t);
  mgr.services = [service({ 'bluegreen.port': '8080' })];
  mgr.tasks = [
    { id: 't1', slot: 1, desired: 'running', state: 'running', addr: '127.0.0.1' },
    { id: 't2', slot: 2, desired: 'running', state: 'running', addr: '127.0.0.2' },
  ];
  await start();
  const u1 = byTask(registry, 't1')!;
  assert.ok(u1);
  // The container is unhealthy: swarm stops it (the task stays running meanwhile), then reports it failed.
  mgr.emit({ Type: 'container', Action: 'kill', Actor: { ID: 'x', Attributes: { 'com.docker.swarm.task.id': 't1', 'com.docker.swarm.service.id': 'svc1', signal: '15' } } });
  mgr.task('t1').state = 'failed';
  // The restart supervisor: the old task told to shut down, a new one waiting out the restart delay.
  mgr.task('t1').desired = 'shutdown';
  mgr.tasks.push({ id: 't4', slot: 1, desired: 'ready', state: 'new', addr: '127.0.0.8' });
  mgr.emit({ Type: 'container', Action: 'die', Actor: { ID: 'x', Attributes: { 'com.docker.swarm.task.id': 't1', 'com.docker.swarm.service.id': 'svc1' } } });
  await until('t1 removed', () => !registry.upstreams.has(u1.id));
  assert.equal(byTask(registry, 't4'), undefined, 'not routed while waiting out the restart delay');
  mgr.task('t4').desired = 'running';
  mgr.task('t4').state = 'starting';
  await sleep(300);
  assert.equal(byTask(registry, 't4'), undefined, 'not routed while starting (not healthy yet)');
  mgr.task('t4').state = 'running';
  // No event: the fast poll (a task between states) finds it.
  await until('t4 routed', () => byTask(registry, 't4')?.state === 'ready');
  assert.equal(byTask(registry, 't4')!.address, '127.0.0.8:8080');
  assert.equal(registry.service('web')?.upstreams.size, 2);
});

test('manager: the tasks API failing while a task is replaced: once readable, the gone task is removed and the replacement routed', async (t) => {
  const { mgr, registry, logs, start } = await setup(t);
  mgr.services = [service({ 'bluegreen.port': '8080' })];
  mgr.tasks = [{ id: 't1', slot: 1, desired: 'running', state: 'running', addr: '127.0.0.1' }];
  await start();
  const u1 = byTask(registry, 't1')!;
  mgr.failTasks = true;
  mgr.emit({ Type: 'container', Action: 'die', Actor: { ID: 'x', Attributes: { 'com.docker.swarm.task.id': 't1', 'com.docker.swarm.service.id': 'svc1' } } });
  await until('a failed poll', () => logs.some((l) => l.msg === 'cannot list swarm tasks; keeping what is known and retrying'));
  // Meanwhile: t1 failed and was pruned from the history; t5 replaced it and runs.
  mgr.tasks = [{ id: 't5', slot: 1, desired: 'running', state: 'running', addr: '127.0.0.5' }];
  mgr.failTasks = false;
  await until('t1 removed, t5 routed', () => !registry.upstreams.has(u1.id) && byTask(registry, 't5') !== undefined, 8000);
  assert.ok(logs.some((l) => l.msg === 'swarm tasks readable again'));
});

test('manager: a start-first update over a replaced task: each old task drained when told to stop, removed when stopped, new ones routed', async (t) => {
  const { mgr, registry, start } = await setup(t);
  mgr.services = [service({ 'bluegreen.port': '8080' })];
  mgr.tasks = [
    { id: 't1', slot: 1, desired: 'running', state: 'running', addr: '127.0.0.1' },
    { id: 't2', slot: 2, desired: 'running', state: 'running', addr: '127.0.0.2' },
  ];
  await start();
  const u1 = byTask(registry, 't1')!;
  const u2 = byTask(registry, 't2')!;
  mgr.services = [service({ 'bluegreen.port': '8080' }, { updating: true })];
  mgr.emit({ Type: 'service', Action: 'update', Actor: { ID: 'svc1', Attributes: { name: 'shop_web', 'updatestate.new': 'updating' } } });
  // Slot 2 fails its healthcheck while slot 1 is updated.
  mgr.tasks.push({ id: 't3', slot: 1, desired: 'running', state: 'starting', addr: '127.0.0.3' });
  mgr.task('t2').state = 'failed';
  mgr.task('t2').desired = 'shutdown';
  mgr.tasks.push({ id: 't4', slot: 2, desired: 'running', state: 'starting', addr: '127.0.0.4' });
  await until('t2 removed', () => !registry.upstreams.has(u2.id));
  mgr.task('t3').state = 'running';
  await until('t3 routed', () => byTask(registry, 't3') !== undefined);
  mgr.task('t1').desired = 'shutdown';
  await until('t1 draining', () => u1.state === 'draining' || u1.state === 'gone');
  mgr.task('t1').state = 'shutdown';
  mgr.task('t4').state = 'running';
  await until('t1 removed, t4 routed', () => !registry.upstreams.has(u1.id) && byTask(registry, 't4') !== undefined);
  assert.deepEqual([...registry.service('web')!.upstreams.values()].map((u) => u.aliases[0]).sort(), ['t3', 't4']);
});

test('manager: a local task container turning unhealthy, killed or dead leaves routing at its event, before the task list shows it; a dead one is not routed again from a stale list', async (t) => {
  const { mgr, registry, logs, start } = await setup(t);
  mgr.services = [service({ 'bluegreen.port': '8080' })];
  mgr.tasks = [
    { id: 't1', slot: 1, desired: 'running', state: 'running', addr: '127.0.0.1' },
    { id: 't2', slot: 2, desired: 'running', state: 'running', addr: '127.0.0.2' },
    { id: 't3', slot: 3, desired: 'running', state: 'running', addr: '127.0.0.3' },
  ];
  await start();
  const [u1, u2, u3] = ['t1', 't2', 't3'].map((id) => byTask(registry, id)!);
  assert.ok(u1 && u2 && u3);
  const ev = (task: string, action: string, attrs: Record<string, string> = {}) =>
    mgr.emit({ Type: 'container', Action: action, Actor: { ID: `c${task}`.padEnd(64, '0'), Attributes: { 'com.docker.swarm.task.id': task, 'com.docker.swarm.service.id': 'svc1', name: `shop_web.x.${task}`, ...attrs } } });
  // The manager still lists all three as running throughout (its status lags the containers).
  ev('t1', 'health_status: unhealthy');
  await until('t1 out of rotation at its unhealthy event', () => u1.state === 'draining' || !registry.upstreams.has(u1.id));
  assert.ok(logs.some((l) => l.msg === 'task shutting down; draining it' && l['task'] === 't1' && /unhealthy/.test(String(l['why']))));
  ev('t2', 'kill', { signal: '1' });
  await sleep(5); // events of one container with the same time and action count as one (a replayed event)
  ev('t2', 'kill', { signal: '15' });
  await until('t2 draining at its SIGTERM', () => u2.state === 'draining' || !registry.upstreams.has(u2.id));
  assert.ok(logs.some((l) => l.msg === 'task shutting down; draining it' && l['task'] === 't2' && l['why'] === 'container kill (signal 15)'), 'the SIGHUP did not drain it; the SIGTERM did');
  ev('t3', 'kill', { signal: '1' });
  ev('t3', 'die');
  await until('t3 removed at its die event', () => !registry.upstreams.has(u3.id));
  // Polls (fast after the events) still see t3 running: it is not routed again.
  const calls = mgr.taskCalls;
  await until('two more polls', () => mgr.taskCalls >= calls + 2);
  assert.equal(byTask(registry, 't3'), undefined, 'a task whose container died is not registered again from a stale list');
  // Once the list shows it gone, it is forgotten (nothing left to remove).
  mgr.task('t3').state = 'complete';
  mgr.task('t3').desired = 'shutdown';
  const c2 = mgr.taskCalls;
  await until('a poll', () => mgr.taskCalls >= c2 + 2, 8000);
  assert.equal(registry.upstreams.has(u3.id), false);
});

test('manager: a service whose every task failed is kept past the retention period while Swarm brings replacements up; it goes once none is on its way', async (t) => {
  const mgr = new FakeManager();
  const endpoint = await mgr.start(t);
  const registry = new Registry({ logger: pino({ level: 'silent' }) });
  const discovery = new DockerDiscovery({ client: new DockerodeClient(endpoint), registry, logger: pino({ level: 'silent' }), hostAddress: '127.0.0.1', initialBackoffMs: 20, maxBackoffMs: 100, retentionMs: 300 });
  t.after(() => discovery.stop());
  mgr.services = [service({ 'bluegreen.port': '8080' })];
  mgr.tasks = [{ id: 't1', slot: 1, desired: 'running', state: 'running', addr: '127.0.0.1' }];
  discovery.start();
  await discovery.firstSync;
  const u1 = byTask(registry, 't1')!;
  // The only task fails its healthcheck; its replacement starts slowly (a busy machine).
  mgr.task('t1').state = 'failed';
  mgr.task('t1').desired = 'shutdown';
  mgr.tasks.push({ id: 't2', slot: 1, desired: 'running', state: 'starting', addr: '127.0.0.2' });
  mgr.emit({ Type: 'container', Action: 'die', Actor: { ID: 'x', Attributes: { 'com.docker.swarm.task.id': 't1', 'com.docker.swarm.service.id': 'svc1' } } });
  await until('t1 removed', () => !registry.upstreams.has(u1.id));
  await sleep(900);
  assert.ok(registry.service('web'), 'kept past the 300 ms retention while t2 is starting');
  mgr.task('t2').state = 'running';
  await until('t2 routed', () => byTask(registry, 't2') !== undefined);
  // Scaled to 0: t2 shut down, nothing on its way: the empty service goes after its retention period.
  mgr.task('t2').desired = 'shutdown';
  mgr.task('t2').state = 'shutdown';
  await until('service removed after retention', () => registry.service('web') === undefined, 8000);
});
