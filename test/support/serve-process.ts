import { spawn, type ChildProcess } from 'node:child_process';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';

export const bin = fileURLToPath(new URL('../../bin/bluegreen.js', import.meta.url));

export interface ServeProcess {
  child: ChildProcess;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
  /** Its exit code, once it exits. */
  exited: Promise<number | null>;
  /** Resolves once the output contains `text`; rejects after `ms`. */
  waitFor(text: string, ms?: number): Promise<void>;
}

/** Spawns `bluegreen <args>` (the real process) and kills it when the test ends. */
export function spawnBluegreen(t: TestContext, args: string[], env: NodeJS.ProcessEnv = {}): ServeProcess {
  const child = spawn(process.execPath, [bin, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (c) => (out += c));
  child.stderr!.on('data', (c) => (out += c));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  t.after(() => child.kill('SIGKILL'));
  return {
    child,
    output: () => out,
    exited,
    async waitFor(text, ms = 5000) {
      const end = Date.now() + ms;
      while (!out.includes(text)) {
        if (Date.now() > end) throw new Error(`bluegreen did not print ${JSON.stringify(text)} within ${ms} ms:\n${out}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
}
