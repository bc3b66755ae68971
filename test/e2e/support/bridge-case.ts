// One e2e case of the discovery and fault tests: its own bridge network, a proxy process on the
// host that reaches the containers on it, and helpers to run labelled test apps there.
import type { TestContext } from 'node:test';
import { docker, ensureDockerAndImages, removeContainers, removeNetworks, runTestApp, type TestAppOptions } from './docker.ts';
import { ProxyProcess, type LogLine } from './proxy-process.ts';

export interface BridgeCase {
  prefix: string;
  service: string;
  host: string;
  network: string;
  proxy: ProxyProcess;
  /** The labels of the case's service, plus `extra`. */
  labels(extra?: Record<string, string>): Record<string, string>;
  /** Runs a test app container `<prefix>-<name>` on the case's network with the labels; its name. */
  run(name: string, env: Record<string, string | number>, more?: Partial<TestAppOptions>): Promise<string>;
  /** Waits for the proxy's log to say the container is ready. */
  ready(name: string, timeoutMs?: number): Promise<LogLine>;
}

/** The proxy's log line that says `name` became ready. */
export function readyIn(proxy: ProxyProcess, name: string, timeoutMs = 20_000): Promise<LogLine> {
  return proxy.waitForLog((l) => l.msg === 'container readiness changed' && l['container'] === name && l['to'] === 'ready', timeoutMs, `${name} ready`);
}

/**
 * Sets up the case named `prefix` (containers and networks with that prefix are removed after the
 * test) and waits for the proxy's first sync with Docker. Fails, never skips, without Docker.
 */
export async function setupBridgeCase(t: TestContext, prefix: string, proxy: { args?: string[]; env?: NodeJS.ProcessEnv } = {}): Promise<BridgeCase> {
  await ensureDockerAndImages();
  t.after(async () => {
    await removeContainers(prefix).catch(() => []);
    await removeNetworks(prefix).catch(() => []);
  });
  const network = `${prefix}-net`;
  await docker(['network', 'create', '--driver', 'bridge', network]);
  const p = await ProxyProcess.start({ name: prefix, args: proxy.args ?? [], env: proxy.env ?? {} });
  t.after(() => p.stop());
  await p.waitForLog((l) => l.msg === 'synced with Docker', 15_000, 'first sync with Docker');
  const labels = (extra: Record<string, string> = {}) => ({ 'bluegreen.service': prefix, 'bluegreen.hosts': `${prefix}.e2e.test`, ...extra });
  return {
    prefix,
    service: prefix,
    host: `${prefix}.e2e.test`,
    network,
    proxy: p,
    labels,
    run: async (name, env, more = {}) => {
      await runTestApp({ name: `${prefix}-${name}`, network, labels: labels(), env: { NAME: name, ...env }, ...more });
      return `${prefix}-${name}`;
    },
    ready: (name, timeoutMs = 20_000) => readyIn(p, name, timeoutMs),
  };
}
