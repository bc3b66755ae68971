// A unix-socket relay between the proxy and the Docker socket, which a test can break: `cut()`
// closes the listening socket (its file goes away, like when dockerd stops) and every open
// connection, `restore()` listens again on the same path.
import { createServer, connect, type Server, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export class DockerRelay {
  readonly path: string;
  readonly #dir: string;
  readonly #target: string;
  readonly #open = new Set<Socket>();
  #server: Server | undefined;
  connections = 0;

  constructor(target = '/var/run/docker.sock') {
    this.#dir = mkdtempSync(join(tmpdir(), 'bluegreen-relay-'));
    this.path = join(this.#dir, 'docker.sock');
    this.#target = target;
  }

  get dockerHost(): string {
    return `unix://${this.path}`;
  }

  async listen(): Promise<void> {
    const server = createServer((client) => {
      this.connections++;
      const upstream = connect(this.#target);
      for (const s of [client, upstream]) {
        this.#open.add(s);
        s.on('close', () => this.#open.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.path, () => resolve());
    });
    this.#server = server;
  }

  /** Breaks the relay: no new connections, and the open ones (the event stream) are cut. */
  async cut(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    for (const s of this.#open) s.destroy();
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }

  restore(): Promise<void> {
    return this.listen();
  }

  async close(): Promise<void> {
    await this.cut();
    rmSync(this.#dir, { recursive: true, force: true });
  }
}
