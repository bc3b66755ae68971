// `docker logs -f` of a container (the proxy's, in the stack tests): its pino JSON lines, parsed,
// and a copy in $TMPDIR/bluegreen-e2e/<name>.log that stays after the container is gone.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from './docker.ts';
import type { LogLine } from './proxy-process.ts';

export class ContainerLog {
  readonly lines: LogLine[] = [];
  readonly file: string;
  readonly #child: ChildProcess;

  /** `dockerHost`: the engine the container runs on (`unix://...`); the default engine when absent. */
  constructor(container: string, name: string, dockerHost?: string) {
    const dir = join(tmpdir(), 'bluegreen-e2e');
    mkdirSync(dir, { recursive: true });
    this.file = join(dir, `${name}.log`);
    const out = createWriteStream(this.file);
    const args = [...(dockerHost ? ['-H', dockerHost] : []), 'logs', '-f', container];
    this.#child = spawn('docker', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let partial = '';
    const take = (chunk: Buffer) => {
      out.write(chunk);
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop()!;
      for (const line of lines) {
        if (!line.trim()) continue;
        try {
          this.lines.push(JSON.parse(line) as LogLine);
        } catch {
          this.lines.push({ msg: line });
        }
      }
    };
    this.#child.stdout!.on('data', take);
    this.#child.stderr!.on('data', take);
    this.#child.once('exit', () => out.end());
  }

  async waitFor(pred: (l: LogLine) => boolean, timeoutMs: number, what: string): Promise<LogLine> {
    return waitFor(() => this.lines.find(pred), timeoutMs, { what: `${what} in the proxy log (${this.file})`, intervalMs: 50 });
  }

  stop(): void {
    if (this.#child.exitCode === null) this.#child.kill();
  }
}
