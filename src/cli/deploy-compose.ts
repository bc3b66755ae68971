import { execFile } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { parse as parseYaml } from 'yaml';

// The compose commands `bluegreen deploy` runs: `docker compose` (v2) when it works, else
// `docker-compose` (v1), or the command in BLUEGREEN_COMPOSE (split on spaces). Output is captured;
// a failing command throws ComposeError with the tail of what it printed.

/** What deploy needs from compose; the runner below implements it, tests fake it. */
export interface Compose {
  /** e.g. `docker compose -f compose.yml -p shop`, for messages. */
  readonly describe: string;
  /** The parsed `compose config` (with extra environment for interpolation), or undefined when it cannot be read. */
  config(env: Record<string, string>): Promise<unknown>;
  /** `up -d --no-deps --force-recreate SERVICE`, with extra environment for interpolation. */
  up(service: string, env: Record<string, string>): Promise<void>;
  /** Container ids of the service (`ps -q`). */
  containerIds(service: string): Promise<string[]>;
  stop(service: string): Promise<void>;
  /** One phrase per container from docker inspect, e.g. `exited (1)`; [] when unknown. */
  containerStates(ids: readonly string[]): Promise<string[]>;
}

export class ComposeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ComposeError';
  }
}

export const DEFAULT_COMPOSE_FILES = ['compose.yaml', 'compose.yml', 'docker-compose.yaml', 'docker-compose.yml'];

/** The compose files to pass: the given ones, else the first default in `cwd`; [] leaves it to COMPOSE_FILE. */
export function resolveComposeFiles(given: readonly string[], cwd: string, env: NodeJS.ProcessEnv): string[] | undefined {
  if (given.length > 0) return [...given];
  if (env.COMPOSE_FILE) return [];
  const found = DEFAULT_COMPOSE_FILES.find((f) => existsSync(join(cwd, f)));
  return found === undefined ? undefined : [found];
}

interface Ran {
  stdout: string;
  stderr: string;
}

const COMMAND_TIMEOUT_MS = 600_000;

function exec(cmd: readonly string[], env: NodeJS.ProcessEnv, timeoutMs = COMMAND_TIMEOUT_MS): Promise<Ran> {
  const [file, ...args] = cmd;
  return new Promise((resolve, reject) => {
    execFile(file!, args, { env, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024, timeout: timeoutMs }, (err, stdout, stderr) => {
      if (!err) return resolve({ stdout, stderr });
      const e = err as NodeJS.ErrnoException & { killed?: boolean };
      const why = e.code === 'ENOENT' ? 'not found' : e.killed ? `killed after ${timeoutMs / 1000} s` : `exit code ${String(e.code)}`;
      const said = tail(stderr || stdout);
      reject(new ComposeError(`${cmd.join(' ')} failed (${why})${said ? `: ${said}` : ''}`));
    });
  });
}

function tail(text: string, lines = 6): string {
  return text.trim().split('\n').slice(-lines).join('\n');
}

/**
 * ['docker', 'compose'] when `docker compose version` answers, else ['docker-compose'] when it is on
 * PATH (not run: Python's v1 takes a second to start, and the first real command reports failures).
 */
export async function detectCompose(env: NodeJS.ProcessEnv): Promise<string[]> {
  const override = env.BLUEGREEN_COMPOSE?.trim();
  if (override) return override.split(/\s+/);
  try {
    await exec(['docker', 'compose', 'version'], env, 30_000);
    return ['docker', 'compose'];
  } catch {
    // no compose plugin: v1
  }
  if (onPath('docker-compose', env)) return ['docker-compose'];
  throw new ComposeError('neither `docker compose` nor `docker-compose` works here (set BLUEGREEN_COMPOSE to the command)');
}

function onPath(name: string, env: NodeJS.ProcessEnv): boolean {
  return (env.PATH ?? '').split(delimiter).some((dir) => dir !== '' && isExecutable(join(dir, name)));
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export class ComposeRunner implements Compose {
  readonly describe: string;
  readonly #cmd: string[];
  readonly #base: string[];
  readonly #env: NodeJS.ProcessEnv;

  constructor(cmd: string[], files: readonly string[], projectName: string | undefined, env: NodeJS.ProcessEnv) {
    this.#cmd = cmd;
    this.#base = [...files.flatMap((f) => ['-f', f]), ...(projectName ? ['-p', projectName] : [])];
    this.#env = env;
    this.describe = [...cmd, ...this.#base].join(' ');
  }

  get #v2(): boolean {
    return this.#cmd.length > 1 && this.#cmd[this.#cmd.length - 1] === 'compose';
  }

  #run(args: string[], env: Record<string, string> = {}): Promise<Ran> {
    return exec([...this.#cmd, ...this.#base, ...args], { ...this.#env, ...env });
  }

  async config(env: Record<string, string>): Promise<unknown> {
    // v2 leaves services of inactive profiles out of `config` unless every profile is enabled.
    const attempts = this.#v2 ? [['--profile', '*', 'config'], ['config']] : [['config']];
    for (const args of attempts) {
      try {
        return parseYaml((await this.#run(args, env)).stdout) as unknown;
      } catch {
        // next attempt; undefined when none works
      }
    }
    return undefined;
  }

  async up(service: string, env: Record<string, string>): Promise<void> {
    await this.#run(['up', '-d', '--no-deps', '--force-recreate', service], env);
  }

  async containerIds(service: string): Promise<string[]> {
    const { stdout } = await this.#run(['ps', '-q', service]);
    return stdout.split('\n').map((l) => l.trim()).filter((l) => /^[0-9a-f]{12,64}$/.test(l));
  }

  async stop(service: string): Promise<void> {
    await this.#run(['stop', service]);
  }

  async containerStates(ids: readonly string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    const format = '{{.Name}} {{.State.Status}} {{.State.ExitCode}} {{if .State.Health}}{{.State.Health.Status}}{{end}}';
    try {
      const { stdout } = await exec(['docker', 'inspect', '--format', format, ...ids], this.#env, 30_000);
      return stdout
        .split('\n')
        .filter((l) => l.trim())
        .map((line) => {
          const [name = '', status = '', code = '', health = ''] = line.trim().split(' ');
          const state = status === 'exited' ? `exited with code ${code}` : status;
          return `${name.replace(/^\//, '')}: ${state}${health ? `, health ${health}` : ''}`;
        });
    } catch {
      return [];
    }
  }
}
