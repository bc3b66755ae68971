// The multi-node swarm for the tests in this directory: test/e2e/multinode/swarm-nodes.sh (extra
// Docker engines in network namespaces, one real Swarm), driven from TypeScript. Each test file
// brings up the topology it needs (`down` first: only these tests use the bgm-* names) and takes it
// down at the end, even on failure (BGM_KEEP=1 keeps it for a look).
import type { TestContext } from 'node:test';
import { statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ensureDockerAndImages, repoRoot, run, TESTAPP_IMAGE, waitFor, type RunOptions } from '../support/docker.ts';
import type { LogLine } from '../support/proxy-process.ts';
import { ContainerLog } from '../support/container-log.ts';
import { cleanups } from '../support/cleanups.ts';

export const HARNESS = join(repoRoot, 'test', 'e2e', 'multinode', 'swarm-nodes.sh');
export const STACK_FILE = join(repoRoot, 'compose', 'swarm-multinode.yml');
/** The proxy image these tests build from the working tree (a tag of their own: other runs may rebuild :local meanwhile). */
export const PROXY_IMAGE = 'bluegreen/bluegreen:multinode';
export { TESTAPP_IMAGE };
/** Node K's address on the underlay, reachable from the host. */
export const nodeAddr = (k: number) => `10.233.0.${k}`;
export const nodeSock = (k: number) => `/run/bgm/n${k}/docker.sock`;
/** The proxy's port on each manager: inside the nodes' own network namespaces, where nothing else listens. */
export const PROXY_PORT = 8080;

export function harness(args: string[], opts: RunOptions = {}): Promise<string> {
  return run(['bash', HARNESS, ...args], { timeoutMs: 180_000, ...opts });
}

/** `docker -H <node K> ...args`. */
export function dk(k: number, args: string[], opts: RunOptions = {}): Promise<string> {
  return run(['docker', '-H', `unix://${nodeSock(k)}`, ...args], opts);
}

let images: Promise<void> | undefined;

/** The test app image and the proxy image (built from the working tree), once per process. */
export function ensureImages(): Promise<void> {
  images ??= ensureDockerAndImages().then(async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, TAG: PROXY_IMAGE, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` };
    await run(['bash', join(repoRoot, 'scripts', 'build-proxy-image.sh')], { env, cwd: repoRoot, timeoutMs: 300_000 });
  });
  return images;
}

/**
 * A fresh swarm of `nodes` engines, nodes 1..managers managers, with both images on every node;
 * removed after the test (cleanups registered with `cleanup` run before it).
 */
export async function swarmUp(t: TestContext, nodes: number, managers: number): Promise<{ cleanup: (step: () => unknown) => void }> {
  await ensureImages();
  const cleanup = cleanups(t);
  await harness(['down']);
  cleanup(async () => {
    if (process.env.BGM_KEEP === '1') console.error(`BGM_KEEP=1: the swarm stays up; ${HARNESS} down removes it`);
    else await harness(['down']);
  });
  const t0 = Date.now();
  await harness(['up', String(nodes)], { env: { ...process.env, BGM_MANAGERS: String(managers) } });
  const up = Date.now() - t0;
  await harness(['load', PROXY_IMAGE, TESTAPP_IMAGE]);
  console.log(`swarm: ${nodes} nodes (${managers} manager${managers > 1 ? 's' : ''}) up in ${up} ms, images loaded in ${Date.now() - t0 - up} ms`);
  return { cleanup };
}

export interface StackEnv {
  stack: string;
  network: string;
  host: string;
  service: string;
  version: number;
  order: 'start-first' | 'stop-first';
}

/** `docker stack deploy` of compose/swarm-multinode.yml, as it is, on node 1. */
export async function deployStack(e: StackEnv): Promise<void> {
  const env = {
    ...process.env,
    BLUEGREEN_IMAGE: PROXY_IMAGE,
    APP_IMAGE: TESTAPP_IMAGE,
    DOCKER_GID: String(statSync(nodeSock(1)).gid),
    DOCKER_SOCK: '/run/bgm/{{.Node.Hostname}}/docker.sock',
    PROXY_PORT: String(PROXY_PORT),
    NETWORK: e.network,
    BG_SERVICE: e.service,
    BG_HOST: e.host,
    VERSION: String(e.version),
    UPDATE_ORDER: e.order,
  };
  await dk(1, ['stack', 'deploy', '--resolve-image', 'never', '-c', STACK_FILE, e.stack], { env, timeoutMs: 60_000 });
}

/** Resolves when the service's rolling update that began after `since` has completed. */
export function updated(service: string, since: number): Promise<unknown> {
  return waitFor(
    async () => {
      const raw = await dk(1, ['service', 'inspect', '--format', '{{json .UpdateStatus}}', service]);
      const st = JSON.parse(raw) as { State?: string; StartedAt?: string; Message?: string } | null;
      if (!st?.StartedAt || Date.parse(st.StartedAt) < since - 2000) return false;
      if (st.State === 'paused' || st.State?.startsWith('rollback')) throw new Error(`update ${st.State}: ${st.Message ?? ''}`);
      return st.State === 'completed';
    },
    180_000,
    { what: `the rolling update of ${service}`, intervalMs: 250 },
  );
}

export interface TaskRow {
  id: string;
  node: string;
  desired: string;
  state: string;
  containerId: string;
}

/** The manager's tasks of a service. */
export async function tasksOf(service: string): Promise<TaskRow[]> {
  const filters = encodeURIComponent(JSON.stringify({ service: [service] }));
  const raw = await run(['curl', '-sf', '--unix-socket', nodeSock(1), `http://x/tasks?filters=${filters}`]);
  return (JSON.parse(raw) as { ID: string; NodeID: string; DesiredState: string; Status: { State: string; ContainerStatus?: { ContainerID?: string } } }[]).map((t) => ({
    id: t.ID,
    node: t.NodeID,
    desired: t.DesiredState,
    state: t.Status.State,
    containerId: t.Status.ContainerStatus?.ContainerID ?? '',
  }));
}

/** Swarm node id -> node number K (from the hostnames bgm-nK). */
export async function nodeNumbers(): Promise<Map<string, number>> {
  const out = await dk(1, ['node', 'ls', '--format', '{{.ID}} {{.Hostname}}']);
  const map = new Map<string, number>();
  for (const line of out.split('\n').filter(Boolean)) {
    const [id, host] = line.split(' ');
    const m = /^bgm-n(\d+)$/.exec(host ?? '');
    if (id && m) map.set(id, Number(m[1]));
  }
  return map;
}

/** The running container of a swarm service on node K (the proxy there). */
export async function serviceContainer(k: number, service: string): Promise<string> {
  return waitFor(
    async () => (await dk(k, ['ps', '-q', '--no-trunc', '--filter', `label=com.docker.swarm.service.name=${service}`])).split('\n').filter(Boolean)[0],
    90_000,
    { what: `a running ${service} container on node ${k}` },
  );
}

/** `docker logs -f` of a container on node K: its JSON lines, parsed, and a copy in $TMPDIR/bluegreen-e2e/<name>.log. */
export class NodeContainerLog extends ContainerLog {
  constructor(k: number, container: string, name: string) {
    super(container, name, `unix://${nodeSock(k)}`);
  }
}

/** When the test app in a container (on node K) was signalled: its `draining` log line's time, or undefined. */
export async function signalledAt(k: number, container: string): Promise<number | undefined> {
  const out = await dk(k, ['logs', container]).catch(() => '');
  for (const line of out.split('\n')) {
    if (!line.includes('"draining"')) continue;
    try {
      const l = JSON.parse(line) as { event?: string; t?: string; signal?: string };
      if (l.event === 'draining' && l.t) return Date.parse(l.t);
    } catch {
      // not JSON
    }
  }
  return undefined;
}

export const logTime = (l: LogLine) => Date.parse(String(l.time));
