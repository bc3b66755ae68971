// Runs `bluegreen serve` as a host process (as a user would) and reads its pino JSON log lines.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from './docker.ts';

export type LogLine = Record<string, unknown> & { msg?: string; time?: string };

export interface ProxyProcessOptions {
  /** Extra `serve` arguments. */
  args?: string[];
  env?: NodeJS.ProcessEnv;
  /** The log is also written to <logDir>/<name>.log, for post-mortems. */
  name: string;
  /** Runs node under this command, e.g. ['nsenter', '--net=/proc/PID/ns/net', '--']. */
  wrap?: string[];
}

export class ProxyProcess {
  readonly logs: LogLine[] = [];
  readonly logFile: string;
  port = 0;
  /** Date.now() just before the process was spawned. */
  readonly spawnedAt: number;
  readonly #child: ChildProcess;
  readonly #file: WriteStream;
  readonly #exited: Promise<number | null>;
  #waiters = new Set<() => void>();

  constructor(opts: ProxyProcessOptions) {
    const dir = join(tmpdir(), 'bluegreen-e2e');
    mkdirSync(dir, { recursive: true });
    this.logFile = join(dir, `${opts.name}.log`);
    this.#file = createWriteStream(this.logFile);
    this.spawnedAt = Date.now();
    const argv = [
      process.execPath,
      join(repoRoot, 'bin', 'bluegreen.js'), 'serve', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--log-level', 'debug', ...(opts.args ?? []),
    ];
    const [file, ...args] = [...(opts.wrap ?? []), ...argv];
    this.#child = spawn(file!, args, { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let partial = '';
    this.#child.stdout!.on('data', (chunk: Buffer) => {
      this.#file.write(chunk);
      const text = partial + chunk.toString();
      const lines = text.split('\n');
      partial = lines.pop()!;
      for (const line of lines) {
        if (!line.trim()) continue;
        try {
          this.logs.push(JSON.parse(line) as LogLine);
        } catch {
          this.logs.push({ msg: line });
        }
      }
      for (const w of this.#waiters) w();
    });
    this.#child.stderr!.on('data', (chunk: Buffer) => {
      this.#file.write(chunk);
      this.logs.push({ msg: `stderr: ${chunk.toString()}` });
    });
    this.#exited = new Promise((resolve) => this.#child.once('exit', (code) => resolve(code)));
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Resolves with the first log line (from the start) matching `pred`. */
  async waitForLog(pred: (l: LogLine) => boolean, timeoutMs: number, what: string): Promise<LogLine> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const found = this.logs.find(pred);
      if (found) return found;
      const left = end - Date.now();
      if (left <= 0) throw new Error(`proxy log: no ${what} within ${timeoutMs} ms (log: ${this.logFile})`);
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.#waiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, Math.min(left, 200));
        this.#waiters.add(done);
      });
    }
  }

  /** Log lines with this msg about this container or upstream name. */
  about(msg: string, name: string): LogLine[] {
    return this.logs.filter((l) => l.msg === msg && (l['container'] === name || l['upstream'] === name));
  }

  static async start(opts: ProxyProcessOptions): Promise<ProxyProcess> {
    const p = new ProxyProcess(opts);
    const listening = await p.waitForLog((l) => l.msg === 'listening', 15_000, '"listening" line');
    p.port = Number(listening['port']);
    return p;
  }

  /** SIGTERM, then SIGKILL if it has not exited after 10 s. Resolves with the exit code. */
  async stop(): Promise<number | null> {
    if (this.#child.exitCode === null && this.#child.signalCode === null) {
      this.#child.kill('SIGTERM');
      const timer = setTimeout(() => this.#child.kill('SIGKILL'), 10_000);
      const code = await this.#exited;
      clearTimeout(timer);
      await new Promise((r) => this.#file.end(r));
      return code;
    }
    return this.#exited;
  }
}

/** Time of a pino log line (isoTime) in ms since epoch. */
export function logTime(l: LogLine): number {
  return Date.parse(String(l.time));
}
