// Helpers for e2e tests that drive a real Docker Engine through the docker CLI.
// The engine and the images come from scripts/ensure-docker.sh and scripts/build-images.sh:
// call ensureDockerAndImages() first (once per process; later calls share the first run).
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const TESTAPP_IMAGE = 'bluegreen/testapp:local';
export const BASE_IMAGE = process.env.BASE_IMAGE ?? 'bluegreen/node24-base:local';

export interface RunOptions {
  /** Written to the command's standard input. */
  input?: string | Buffer;
  /** Kill the command after this long (default 120 s). */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export class CommandError extends Error {
  readonly code: number | string | null;
  readonly stdout: string;
  readonly stderr: string;
  constructor(cmd: string[], code: number | string | null, stdout: string, stderr: string) {
    super(`${cmd.join(' ')} failed (${code}): ${stderr.trim() || stdout.trim()}`);
    this.code = code;
    this.stdout = stdout;
    this.stderr = stderr;
  }
}

/** Runs a command; resolves with its stdout, rejects with a CommandError carrying stderr. */
export function run(cmd: string[], opts: RunOptions = {}): Promise<string> {
  const [file, ...args] = cmd;
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      {
        encoding: 'utf8',
        maxBuffer: 64 * 1024 * 1024,
        timeout: opts.timeoutMs ?? 120_000,
        env: opts.env ?? process.env,
        cwd: opts.cwd,
      },
      (err, stdout, stderr) => {
        if (!err) return resolve(stdout);
        const code = (err as NodeJS.ErrnoException & { code?: number | string }).code ?? null;
        const why = err.killed ? `killed after ${opts.timeoutMs ?? 120_000} ms` : code;
        reject(new CommandError(cmd, why, stdout, stderr));
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    else child.stdin?.end();
  });
}

/** `docker ...args`: resolves with stdout, throws (with stderr in the message) on failure. */
export function docker(args: string[], opts?: RunOptions): Promise<string> {
  return run(['docker', ...args], opts);
}

let composeCached: Promise<string[]> | undefined;

/** ['docker', 'compose'] or ['docker-compose'], whichever works here. */
export function composeCommand(): Promise<string[]> {
  composeCached ??= (async () => {
    for (const cmd of [['docker', 'compose'], ['docker-compose']]) {
      try {
        await run([...cmd, 'version'], { timeoutMs: 30_000 });
        return cmd;
      } catch {
        // try the next one
      }
    }
    throw new Error('neither `docker compose` nor `docker-compose` works; run scripts/ensure-docker.sh');
  })();
  return composeCached;
}

/** Runs compose with the given arguments, e.g. compose(['-p', 'bgx', '-f', file, 'up', '-d']). */
export async function compose(args: string[], opts?: RunOptions): Promise<string> {
  return run([...(await composeCommand()), ...args], opts);
}

let ready: Promise<void> | undefined;

/**
 * Starts the engine when needed (scripts/ensure-docker.sh) and builds the test images
 * (scripts/build-images.sh), once per process. Rejects when Docker cannot be started: e2e
 * tests must fail, not skip, without Docker.
 */
export function ensureDockerAndImages(): Promise<void> {
  ready ??= (async () => {
    // The scripts find `node`; put the one running the tests first on PATH, and give it to
    // the base image when it is Node 24.
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` };
    if (process.versions.node.split('.')[0] === '24' && !env.NODE_BIN) env.NODE_BIN = process.execPath;
    const opts = { env, cwd: repoRoot, timeoutMs: 600_000 };
    await run(['bash', join(repoRoot, 'scripts', 'ensure-docker.sh')], opts);
    await run(['bash', join(repoRoot, 'scripts', 'build-images.sh')], opts);
  })();
  ready.catch(() => {
    ready = undefined; // let a later call try again
  });
  return ready;
}

let proxyImage: Promise<void> | undefined;

/** Builds the proxy image bluegreen/bluegreen:local from the working tree (offline), once per process. */
export function ensureProxyImage(): Promise<void> {
  proxyImage ??= ensureDockerAndImages().then(async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` };
    await run(['bash', join(repoRoot, 'scripts', 'build-proxy-image.sh')], { env, cwd: repoRoot, timeoutMs: 300_000 });
  });
  proxyImage.catch(() => {
    proxyImage = undefined;
  });
  return proxyImage;
}

/** Force-removes every container whose name starts with namePrefix (and its anonymous volumes). */
export async function removeContainers(namePrefix: string): Promise<string[]> {
  const out = await docker(['ps', '-a', '--format', '{{.ID}} {{.Names}}']);
  const ids = out
    .split('\n')
    .map((line) => line.trim().split(' '))
    .filter(([id, names]) => id && names?.split(',').some((n) => n.startsWith(namePrefix)))
    .map(([id]) => id);
  if (ids.length) await docker(['rm', '-f', '-v', ...ids]);
  return ids;
}

/** Removes every user-defined network whose name starts with namePrefix. */
export async function removeNetworks(namePrefix: string): Promise<string[]> {
  const out = await docker(['network', 'ls', '--format', '{{.ID}} {{.Name}}']);
  const ids = out
    .split('\n')
    .map((line) => line.trim().split(' '))
    .filter(([id, name]) => id && name?.startsWith(namePrefix))
    .map(([id]) => id);
  if (ids.length) await docker(['network', 'rm', ...ids]);
  return ids;
}

/** The container's IPv4 address on the given network (default: its first network with one). */
export async function containerIp(name: string, network?: string): Promise<string> {
  const json = await docker(['inspect', '-f', '{{json .NetworkSettings.Networks}}', name]);
  const networks = JSON.parse(json) as Record<string, { IPAddress?: string }> | null;
  const entries = Object.entries(networks ?? {});
  const found = network ? entries.find(([n]) => n === network) : entries.find(([, s]) => s.IPAddress);
  const ip = found?.[1].IPAddress;
  if (!ip) throw new Error(`container ${name} has no IP address${network ? ` on network ${network}` : ''}`);
  return ip;
}

export interface WaitOptions {
  /** Pause between tries (default 100 ms). */
  intervalMs?: number;
  /** Said in the timeout error. */
  what?: string;
}

/**
 * Calls fn until it returns a value other than undefined, null or false without throwing, and
 * resolves with that value; rejects after timeoutMs with the last error or value.
 */
export async function waitFor<T>(
  fn: () => T | Promise<T>,
  timeoutMs: number,
  opts: WaitOptions = {},
): Promise<Exclude<T, undefined | null | false>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value !== undefined && value !== null && value !== false) return value as Exclude<T, undefined | null | false>;
      last = value;
    } catch (err) {
      last = err;
    }
    if (Date.now() >= deadline) {
      const detail = last instanceof Error ? last.message : String(last);
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${opts.what ?? 'condition'} (last: ${detail})`);
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 100));
  }
}

export interface TestAppOptions {
  /** Container name (also its hostname unless given in args). */
  name: string;
  /** server.js settings: NAME, VERSION, ON_SIGTERM, STARTUP_DELAY_MS, LATENCY_MS, HEALTHY, ... */
  env?: Record<string, string | number>;
  network?: string;
  labels?: Record<string, string>;
  /** Add a Docker HEALTHCHECK on /health every intervalMs (default: none). */
  healthcheckIntervalMs?: number;
  /** Extra `docker run` arguments, placed before the image. */
  args?: string[];
  image?: string;
}

/** `docker run -d` of the test app; resolves with the container id. */
export async function runTestApp(o: TestAppOptions): Promise<string> {
  const args = ['run', '-d', '--name', o.name];
  for (const [k, v] of Object.entries(o.env ?? {})) args.push('-e', `${k}=${v}`);
  for (const [k, v] of Object.entries(o.labels ?? {})) args.push('--label', `${k}=${v}`);
  if (o.network) args.push('--network', o.network);
  if (o.healthcheckIntervalMs) {
    const every = `${o.healthcheckIntervalMs}ms`;
    args.push('--health-cmd', 'node /app/healthcheck.js', '--health-interval', every, '--health-timeout', '3s', '--health-retries', '1');
  }
  args.push(...(o.args ?? []), o.image ?? TESTAPP_IMAGE);
  return (await docker(args)).trim();
}
