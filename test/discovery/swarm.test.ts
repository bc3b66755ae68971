import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { DockerDiscovery } from '../../src/discovery/docker-discovery.ts';
import { parseEventLine } from '../../src/discovery/event-stream.ts';
import { labelsFromService, mergeServiceLabels, serviceFromInspect, swarmManagerFromInfo, taskStopGraceMs } from '../../src/discovery/swarm.ts';
import { Registry } from '../../src/registry/registry.ts';
import { sleep } from '../support/servers.ts';
import { FakeDocker } from './fake-docker.ts';

// Swarm task containers against a fake engine at the DockerApi boundary: on a manager, a task
// container also gets its service's bluegreen labels (stack deploy.labels; the container's own
// labels win) and its task's StopGracePeriod as the drain bound (swarm leaves the container's
// Config.StopTimeout null: checked on Docker 20.10). Elsewhere: container labels only.

const id = (n: number) => n.toString(16).padStart(64, 'e');
const SVC = 'svc0000000000000000000web';
const NS = 1_000_000_000;

function setup(t: TestContext, role: 'manager' | 'worker' | 'no swarm' = 'manager') {
  const fake = new FakeDocker();
  fake.swarmRole = role === 'no swarm' ? undefined : role;
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _e, cb) {
      logs.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      cb();
    },
  });
  const registry = new Registry({ logger: pino({ level: 'silent' }) });
  const discovery = new DockerDiscovery({ client: fake, registry, logger: pino({ level: 'debug' }, sink), hostAddress: '127.0.0.1', initialBackoffMs: 20, maxBackoffMs: 100 });
  t.after(() => discovery.stop());
  const start = async () => {
    discovery.start();
    await discovery.firstSync;
  };
  /** A task container of SVC (name shop_web.<n>.<task>), its task with the given grace period. */
  const task = (n: number, opts: { labels?: Record<string, string>; stopGraceNs?: number; stopTimeout?: number } = {}) => {
    const taskId = `task${n}`;
    fake.addTask({ id: taskId, serviceId: SVC, ...(opts.stopGraceNs !== undefined ? { stopGraceNs: opts.stopGraceNs } : {}) });
    return {
      id: id(n),
      name: `shop_web.${n}.${taskId}`,
      labels: opts.labels ?? {},
      health: 'healthy' as const,
      networks: { shop_net: `10.0.1.${n + 10}` },
      swarm: { serviceId: SVC, serviceName: 'shop_web', taskId },
      ...(opts.stopTimeout !== undefined ? { stopTimeout: opts.stopTimeout } : {}),
    };
  };
  return { fake, registry, discovery, logs, start, task };
}

async function until(what: string, fn: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

const settle = async () => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

test('mapping: manager from /info, service labels (bluegreen.* only) and grace, task grace, container labels win', () => {
  assert.equal(swarmManagerFromInfo({ Swarm: { LocalNodeState: 'active', ControlAvailable: true } }), true);
  assert.equal(swarmManagerFromInfo({ Swarm: { LocalNodeState: 'active', ControlAvailable: false } }), false, 'a worker');
  assert.equal(swarmManagerFromInfo({ Swarm: { LocalNodeState: 'inactive', ControlAvailable: false } }), false);
  assert.equal(swarmManagerFromInfo({}), false);
  assert.equal(swarmManagerFromInfo(null), false);

  const svc = serviceFromInspect({
    ID: 'abc',
    Spec: {
      Name: 'shop_web',
      Labels: { 'bluegreen.hosts': 'shop.test', 'com.docker.stack.namespace': 'shop', 'bluegreen.port': 8080 },
      TaskTemplate: { ContainerSpec: { StopGracePeriod: 7 * NS } },
    },
  });
  assert.deepEqual(svc, { id: 'abc', name: 'shop_web', labels: { 'bluegreen.hosts': 'shop.test' }, stopGraceMs: 7000 });
  assert.deepEqual(serviceFromInspect({ ID: 'x', Spec: { Name: 'n' } }), { id: 'x', name: 'n', labels: {} });
  assert.deepEqual(serviceFromInspect('garbage'), { id: '', name: '', labels: {} });

  assert.equal(taskStopGraceMs({ Spec: { ContainerSpec: { StopGracePeriod: 1_500_000_000 } } }), 1500);
  assert.equal(taskStopGraceMs({ Spec: { ContainerSpec: {} } }), undefined);
  assert.equal(taskStopGraceMs({ Spec: { ContainerSpec: { StopGracePeriod: -1 } } }), undefined);
  assert.equal(taskStopGraceMs({ Spec: { ContainerSpec: { StopGracePeriod: '5s' } } }), undefined);

  const service = { id: 'abc', name: 'shop_web', labels: { 'bluegreen.service': 'shop', 'bluegreen.hosts': 'svc.test' } };
  const container = { 'bluegreen.hosts': 'ctr.test', 'com.docker.swarm.task.id': 't1' };
  assert.deepEqual(mergeServiceLabels(container, service), { 'bluegreen.service': 'shop', 'bluegreen.hosts': 'ctr.test', 'com.docker.swarm.task.id': 't1' });
  assert.deepEqual(mergeServiceLabels(container, undefined), container);
  assert.deepEqual(labelsFromService(container, service), ['bluegreen.service']);
});

test('event stream: service create, update and remove events and node events (managers send them), other actions dropped', () => {
  const UPDATE =
    '{"Type":"service","Action":"update","Actor":{"ID":"kkfksnkrrsug724tdx1jab01y","Attributes":{"name":"swx_t"}},"scope":"swarm","time":1795471103,"timeNano":1795471103960271018}';
  const r = parseEventLine(UPDATE);
  assert.equal(r.kind, 'event');
  if (r.kind !== 'event') return;
  assert.equal(r.event.type, 'service');
  assert.equal(r.event.action, 'update');
  assert.equal(r.event.serviceId, 'kkfksnkrrsug724tdx1jab01y');
  assert.equal(r.event.containerId, '');
  assert.equal(r.event.timeNano, '1795471103960271018');
  assert.equal(parseEventLine(UPDATE.replace('"update"', '"remove"')).kind, 'event');
  assert.equal(parseEventLine(UPDATE.replace('"update"', '"create"')).kind, 'event', 'a new service may be labelled');
  assert.equal(parseEventLine(UPDATE.replace('"update"', '"rollback"')).kind, 'ignored');
  const node = parseEventLine(UPDATE.replace('"Type":"service"', '"Type":"node"'));
  assert.ok(node.kind === 'event' && node.event.type === 'node', 'node events: a drained or lost node moves its tasks');
  assert.equal(parseEventLine(UPDATE.replace('"ID":"kkfksnkrrsug724tdx1jab01y"', '"ID":""')).kind, 'garbage');
});

test('manager: a task with its bluegreen labels on its service only (deploy.labels) is routed; the container’s own labels win', async (t) => {
  const { fake, registry, discovery, logs, start, task } = setup(t);
  fake.addService({ id: SVC, name: 'shop_web', labels: { 'bluegreen.service': 'shop', 'bluegreen.hosts': 'svc.test', 'bluegreen.port': '8080' }, stopGraceNs: 7 * NS });
  fake.add(task(1)); // labels on the service only
  fake.add(task(2, { labels: { 'bluegreen.hosts': 'ctr.test' } })); // one label of its own
  fake.add({ id: id(9), name: 'other_task', swarm: { serviceId: 'svc-plain', taskId: 'task9' } }); // a service without bluegreen labels
  fake.addService({ id: 'svc-plain', name: 'db' });
  await start();

  assert.equal(discovery.state.swarmManager, true);
  assert.deepEqual([...registry.upstreams.keys()].sort(), [id(1), id(2)]);
  assert.equal(registry.upstream(id(1)).service, 'shop');
  assert.equal(registry.upstream(id(1)).host, '10.0.1.11');
  assert.equal(registry.upstream(id(1)).port, 8080);
  // Both containers are one service; the route is the newest container's (its own hosts label).
  assert.ok(['svc.test', 'ctr.test'].includes(registry.service('shop')!.route.hosts[0]!));
  assert.ok(!fake.inspects.includes(id(9)), "a task of a service without bluegreen labels is not inspected");
  assert.deepEqual(fake.serviceInspects.filter((s) => s === SVC).length, 1, 'one service inspect per sync, whatever its number of tasks');
  const reg = logs.find((l) => l['msg'] === 'container registered' && l['container'] === 'shop_web.1.task1')!;
  assert.deepEqual(reg['serviceLabels'], ['bluegreen.hosts', 'bluegreen.port', 'bluegreen.service']);
  assert.equal(reg['swarmService'], 'shop_web');
  const reg2 = logs.find((l) => l['msg'] === 'container registered' && l['container'] === 'shop_web.2.task2')!;
  assert.deepEqual(reg2['serviceLabels'], ['bluegreen.port', 'bluegreen.service'], 'bluegreen.hosts came from the container');
});

test('manager: drain bound = the task’s StopGracePeriod (over the service’s), under Config.StopTimeout and bluegreen.drain-timeout', async (t) => {
  const { fake, registry, start, task } = setup(t);
  fake.addService({ id: SVC, name: 'shop_web', labels: { 'bluegreen.service': 'shop' }, stopGraceNs: 7 * NS });
  fake.add(task(1, { stopGraceNs: 7 * NS }));
  fake.add(task(2, { stopGraceNs: 3 * NS })); // created before the service's grace period changed to 7 s
  fake.add(task(3, { stopGraceNs: 7 * NS, stopTimeout: 4 })); // a container StopTimeout wins
  fake.add(task(4, { stopGraceNs: 7 * NS, labels: { 'bluegreen.drain-timeout': '2s' } }));
  fake.add(task(5)); // a task without its own grace period (or gone): the service's
  fake.tasks.delete('task5');
  await start();
  for (const n of [1, 2, 3, 4, 5]) registry.upstream(id(n)).track({ kind: 'http', abort: () => {} });
  const at = [1, 2, 3, 4, 5].map((n) => fake.kill(id(n)));
  await settle();
  assert.deepEqual(
    [1, 2, 3, 4, 5].map((n, i) => registry.upstream(id(n)).drainDeadline! - at[i]!),
    [7000, 3000, 4000, 2000, 7000],
  );
});

test('manager: a task started later with service-only labels registers on its start event; ready on healthy', async (t) => {
  const { fake, registry, discovery, start, task } = setup(t);
  fake.addService({ id: SVC, name: 'shop_web', labels: { 'bluegreen.service': 'shop', 'bluegreen.hosts': 'shop.test' }, stopGraceNs: 5 * NS });
  await start();
  fake.start({ ...task(1, { stopGraceNs: 5 * NS }), health: 'starting' });
  await until('registered', () => registry.upstreams.has(id(1)));
  assert.equal(registry.upstream(id(1)).state, 'starting');
  fake.health(id(1), 'healthy');
  await until('ready', () => registry.upstream(id(1)).state === 'ready');
  registry.upstream(id(1)).track({ kind: 'http', abort: () => {} });
  const killAt = fake.kill(id(1));
  await until('draining', () => registry.upstream(id(1)).state === 'draining');
  assert.equal(registry.upstream(id(1)).drainDeadline, killAt + 5000);
  fake.die(id(1));
  await until('removed', () => !registry.upstreams.has(id(1)));
  assert.equal(discovery.state.events, 4, 'start, health, kill, die');

  // A task of a service without bluegreen labels: one service inspect, no container inspect.
  fake.addService({ id: 'svc-plain', name: 'db' });
  fake.start({ id: id(7), name: 'db.1.t7', swarm: { serviceId: 'svc-plain', taskId: 't7' } });
  await sleep(30);
  assert.ok(fake.serviceInspects.includes('svc-plain'));
  assert.ok(!fake.inspects.includes(id(7)));
});

test('manager: a bad label on the service is reported with the container and the label, and the task left out', async (t) => {
  const { fake, registry, discovery, start, task } = setup(t);
  fake.addService({ id: SVC, name: 'shop_web', labels: { 'bluegreen.service': 'shop', 'bluegreen.port': '80x' } });
  fake.add(task(1));
  await start();
  assert.equal(registry.upstreams.size, 0);
  assert.deepEqual(discovery.rejected.map((r) => [r.name, r.label, r.value]), [['shop_web.1.task1', 'bluegreen.port', '80x']]);
});

test('manager: a service update re-reads the service: deploy.labels changes reach running tasks (route, newly labelled)', async (t) => {
  const { fake, registry, start, task } = setup(t);
  const svc = fake.addService({ id: SVC, name: 'shop_web', labels: { 'bluegreen.service': 'shop', 'bluegreen.hosts': 'old.test' } }) as {
    Spec: { Labels: Record<string, string> };
  };
  fake.add(task(1));
  fake.addService({ id: 'svc-late', name: 'late' });
  fake.add({ id: id(5), name: 'late.1.t5', health: 'healthy', swarm: { serviceId: 'svc-late', taskId: 't5' } });
  await start();
  assert.deepEqual(registry.service('shop')!.route.hosts, ['old.test']);
  assert.ok(!registry.upstreams.has(id(5)));

  // docker service update --label-add (or a stack deploy changing deploy.labels): no new task.
  svc.Spec.Labels['bluegreen.hosts'] = 'new.test';
  fake.emit('service', 'update', SVC);
  await until('route changed', () => registry.service('shop')!.route.hosts[0] === 'new.test');
  assert.equal(registry.upstream(id(1)).state, 'ready', 'the task keeps serving');

  (fake.services.get('svc-late') as { Spec: { Labels: Record<string, string> } }).Spec.Labels = { 'bluegreen.service': 'late' };
  fake.emit('service', 'update', 'svc-late');
  await until('a running task of a newly labelled service is routed', () => registry.upstreams.has(id(5)));
});

test('not a manager (a worker, or no swarm): container labels only, no swarm API calls, Docker’s 10 s default grace', async (t) => {
  for (const role of ['worker', 'no swarm'] as const) {
    const { fake, registry, discovery, start, task } = setup(t, role);
    fake.addService({ id: SVC, name: 'shop_web', labels: { 'bluegreen.service': 'shop' }, stopGraceNs: 7 * NS });
    fake.add(task(1)); // service labels only: invisible here
    fake.add(task(2, { labels: { 'bluegreen.service': 'shop' }, stopGraceNs: 7 * NS }));
    await start();
    assert.equal(discovery.state.swarmManager, false);
    assert.deepEqual([...registry.upstreams.keys()], [id(2)]);
    assert.deepEqual(fake.serviceInspects, []);
    assert.deepEqual(fake.taskInspects, []);
    registry.upstream(id(2)).track({ kind: 'http', abort: () => {} });
    const at = fake.kill(id(2));
    await until('draining', () => registry.upstream(id(2)).state === 'draining');
    assert.equal(registry.upstream(id(2)).drainDeadline, at + 10_000, role);
    fake.start({ ...task(3), health: 'healthy' });
    await sleep(30);
    assert.ok(!fake.inspects.includes(id(3)), 'a task start without bluegreen labels is not inspected');
  }
});

test('manager: service read errors are retried; a sync that cannot read a service fails and the session retries', async (t) => {
  const { fake, registry, start, task } = setup(t);
  fake.addService({ id: SVC, name: 'shop_web', labels: { 'bluegreen.service': 'shop' } });
  fake.add(task(1));
  let failures = 4; // more than one sync's tries
  const real = fake.inspectService.bind(fake);
  fake.inspectService = async (sid: string) => {
    if (failures-- > 0) throw Object.assign(new Error('connect ECONNRESET'), { code: 'ECONNRESET' });
    return real(sid);
  };
  await start();
  assert.ok(registry.upstreams.has(id(1)));
});
