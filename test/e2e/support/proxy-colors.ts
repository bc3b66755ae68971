// The README's proxy upgrade recipe (Upgrading bluegreen) as the compose and swarm upgrade tests run
// it: two proxy services `proxy-blue` and `proxy-green` of one compose project (`green` behind a
// profile), sharing a network namespace that owns the published port.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { docker, waitFor } from './docker.ts';

/** Runs docker-compose for the project (its -f and -p already given). */
export type ProjectCompose = (args: string[], timeoutMs?: number) => Promise<string>;

export interface ProxyColors {
  /** The container id of a service of the project ('' when none). */
  containerOf(svc: string): Promise<string>;
  /** Waits until the service's container reports healthy; its id. */
  healthy(svc: string, timeoutMs?: number): Promise<string>;
  /**
   * The recipe, once per step: the idle color gets the new image (BLUEGREEN_<COLOR>_IMAGE in `env`),
   * starts beside the running one and becomes healthy; then the old one is stopped (it drains and
   * must exit 0) and removed. Returns per step a line with its timings and when the old one exited;
   * `beforeRemove` sees the old container before it is removed (to keep its log), `describe` adds to
   * the step's line.
   */
  upgrade(
    steps: readonly (readonly [from: string, to: string, image: string])[],
    hooks?: { beforeRemove?(old: string, from: string, image: string): Promise<void>; describe?(): Promise<string> },
  ): Promise<{ line: string; oldExitedAt: number }[]>;
}

export function proxyColors(dc: ProjectCompose, env: NodeJS.ProcessEnv): ProxyColors {
  const containerOf = async (svc: string) => (await dc(['--profile', 'green', 'ps', '-q', svc])).trim();
  const healthy = (svc: string, timeoutMs = 90_000) =>
    waitFor(
      async () => {
        const id = await containerOf(svc);
        return id !== '' && (await docker(['inspect', '-f', '{{.State.Health.Status}}', id])).trim() === 'healthy' ? id : undefined;
      },
      timeoutMs,
      { intervalMs: 250, what: `${svc} healthy` },
    );
  return {
    containerOf,
    healthy,
    async upgrade(steps, hooks = {}) {
      const done: { line: string; oldExitedAt: number }[] = [];
      for (const [from, to, image] of steps) {
        env[`BLUEGREEN_${to.toUpperCase()}_IMAGE`] = image;
        const startedAt = Date.now();
        await dc(['up', '-d', '--no-deps', `proxy-${to}`]);
        const id = await healthy(`proxy-${to}`);
        const readyAt = Date.now();
        assert.equal((await docker(['inspect', '-f', '{{.Config.Image}}', id])).trim(), image);
        const old = await containerOf(`proxy-${from}`);
        await dc(['stop', `proxy-${from}`], 90_000);
        const [exit, finished] = (await docker(['inspect', '-f', '{{.State.ExitCode}} {{.State.FinishedAt}}', old])).trim().split(' ');
        assert.equal(exit, '0', `proxy-${from} drained and exited 0`);
        await hooks.beforeRemove?.(old, from, image);
        await dc(['rm', '-f', `proxy-${from}`]);
        const extra = hooks.describe ? `${await hooks.describe()}; ` : '';
        const oldExitedAt = Date.parse(finished!);
        done.push({ line: `${from}→${to}: ${extra}ready ${readyAt - startedAt} ms after up, overlap ${oldExitedAt - readyAt} ms (ready → old exited)`, oldExitedAt });
        await sleep(1500);
      }
      return done;
    },
  };
}
