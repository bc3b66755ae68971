// A private Docker Engine for tests that must stop and restart a daemon: its own dockerd (and the
// containerd it manages) with its own data root, exec root, pid file, API socket, cgroup parent
// and containerd namespaces, its own bridge device and no iptables rules, in the host's network
// namespace (so `--network host` containers are reachable on 127.0.0.1). Not `--bridge=none`: a
// dockerd started with it deletes an existing `docker0`, the machine engine's default bridge. The
// machine's own engine is never touched. Needs root and the dockerd/containerd/runc binaries of
// the host's engine.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, readFileSync, readdirSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { run, type RunOptions } from './docker.ts';

export interface PrivateDockerdOptions {
  /** Unique name: used for the directories, the cgroup parent and the containerd namespaces. */
  name: string;
  /** Containers survive a daemon stop (default true). */
  liveRestore?: boolean;
}

export class PrivateDockerd {
  readonly name: string;
  readonly dataDir: string;
  readonly runDir: string;
  readonly socket: string;
  readonly logFile: string;
  /** Its own bridge device (an interface name: at most 15 characters). */
  readonly bridge: string;
  readonly #liveRestore: boolean;
  #pid: number | undefined;

  constructor(opts: PrivateDockerdOptions) {
    this.name = opts.name;
    this.#liveRestore = opts.liveRestore ?? true;
    this.dataDir = `/var/lib/${opts.name}`;
    this.runDir = `/run/${opts.name}`; // short: containerd's sockets live under the exec root
    this.socket = join(this.runDir, 'docker.sock');
    this.logFile = join(this.dataDir, 'dockerd.log');
    this.bridge = `bgfbr${shortHash(opts.name)}`;
  }

  /**
   * Removes what an interrupted run left of engines whose name starts with `prefix`: a daemon still
   * running (found by its pid file), its containers, mounts, directories and cgroups.
   */
  static async cleanLeftovers(prefix: string): Promise<string[]> {
    const names = new Set<string>();
    for (const dir of ['/run', '/var/lib']) for (const e of safeReaddir(dir)) if (e.startsWith(prefix)) names.add(e);
    for (const name of names) {
      const engine = new PrivateDockerd({ name });
      try {
        const pid = Number(readFileSync(join(engine.runDir, 'dockerd.pid'), 'utf8').trim());
        const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        if (cmd.includes(engine.runDir)) engine.#pid = pid; // ours, not a recycled pid
      } catch {
        // no pid file, or the daemon is gone
      }
      await engine.destroy();
    }
    return [...names];
  }

  /** DOCKER_HOST for clients of this engine. */
  get dockerHost(): string {
    return `unix://${this.socket}`;
  }

  get pid(): number | undefined {
    return this.#pid;
  }

  /** `docker -H <this engine> ...args`. */
  docker(args: string[], opts?: RunOptions): Promise<string> {
    return run(['docker', '-H', this.dockerHost, ...args], opts);
  }

  /** Starts dockerd and resolves once its API answers; resolves with how long that took (ms). */
  async start(timeoutMs = 60_000): Promise<number> {
    const started = Date.now();
    mkdirSync(join(this.dataDir, 'data'), { recursive: true });
    mkdirSync(join(this.runDir, 'exec'), { recursive: true });
    const config = join(this.dataDir, 'daemon.json'); // not /etc/docker/daemon.json
    writeFileSync(config, '{}\n');
    rmSync(this.socket, { force: true });
    await this.#ensureBridge();
    const log = openSync(this.logFile, 'a');
    const args = [
      '--config-file', config,
      '--data-root', join(this.dataDir, 'data'),
      '--exec-root', join(this.runDir, 'exec'),
      '--pidfile', join(this.runDir, 'dockerd.pid'),
      '-H', this.dockerHost,
      `--bridge=${this.bridge}`, '--iptables=false', '--ip-masq=false', '--ip-forward=false',
      '--cgroup-parent', `/${this.name}`,
      '--containerd-namespace', this.name,
      '--containerd-plugins-namespace', `${this.name}-plugins`,
      ...(this.#liveRestore ? ['--live-restore'] : []),
    ];
    const child = spawn('dockerd', args, { detached: true, stdio: ['ignore', log, log] });
    closeSync(log);
    child.unref();
    let exited = false;
    child.once('exit', () => {
      exited = true;
    });
    this.#pid = child.pid;
    for (;;) {
      try {
        await this.docker(['version', '--format', '{{.Server.Version}}'], { timeoutMs: 5_000 });
        return Date.now() - started;
      } catch {
        if (exited) throw new Error(`private dockerd ${this.name} exited during start-up:\n${this.#logTail()}`);
        if (Date.now() - started > timeoutMs) throw new Error(`private dockerd ${this.name} did not answer within ${timeoutMs} ms:\n${this.#logTail()}`);
        await sleep(100);
      }
    }
  }

  /** SIGTERM to dockerd; resolves once it has exited (with live-restore, containers keep running). */
  async stop(timeoutMs = 30_000): Promise<void> {
    const pid = this.#pid;
    if (pid === undefined || !alive(pid)) return;
    process.kill(pid, 'SIGTERM');
    const end = Date.now() + timeoutMs;
    while (alive(pid)) {
      if (Date.now() > end) {
        process.kill(pid, 'SIGKILL');
        break;
      }
      await sleep(50);
    }
    this.#pid = undefined;
  }

  /** Loads images from the machine's engine (docker save | docker -H ... load). */
  async loadImages(images: string[]): Promise<void> {
    const tar = join(this.dataDir, 'images.tar');
    await run(['docker', 'save', '-o', tar, ...images], { timeoutMs: 300_000 });
    try {
      await this.docker(['load', '-q', '-i', tar], { timeoutMs: 300_000 });
    } finally {
      rmSync(tar, { force: true });
    }
  }

  /**
   * Removes its containers, stops the daemon, and removes what it left: its containerd (if still
   * running), mounts under its directories, the directories, and its cgroups.
   */
  async destroy(): Promise<void> {
    if (this.#pid !== undefined && alive(this.#pid)) {
      const ids = (await this.docker(['ps', '-aq']).catch(() => '')).split('\n').filter(Boolean);
      if (ids.length) await this.docker(['rm', '-f', '-v', ...ids]).catch(() => '');
    }
    await this.stop();
    // The containerd it managed, and shims of containers that outlived it, are ours alone: their
    // command lines name our exec root or our containerd namespace.
    for (const pid of ownProcesses([join(this.runDir, 'exec'), `-namespace ${this.name} `])) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    const mounts = readFileSync('/proc/self/mounts', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[1] ?? '')
      .filter((m) => m.startsWith(`${this.dataDir}/`) || m === this.dataDir || m.startsWith(`${this.runDir}/`) || m === this.runDir)
      .sort((a, b) => b.length - a.length);
    for (const m of mounts) await run(['umount', '-l', m]).catch(() => '');
    rmSync(this.dataDir, { recursive: true, force: true });
    rmSync(this.runDir, { recursive: true, force: true });
    await run(['ip', 'link', 'del', this.bridge]).catch(() => '');
    for (const ctrl of safeReaddir('/sys/fs/cgroup')) {
      const dir = join('/sys/fs/cgroup', ctrl, this.name);
      if (!existsSync(dir)) continue;
      for (const sub of safeReaddir(dir)) {
        try {
          rmdirSync(join(dir, sub));
        } catch {
          // not a directory, or still in use
        }
      }
      try {
        rmdirSync(dir);
      } catch {
        // still in use
      }
    }
  }

  /** Creates its bridge device: dockerd needs one; the containers here run with --network host. */
  async #ensureBridge(): Promise<void> {
    const exists = await run(['ip', 'link', 'show', this.bridge]).then(() => true, () => false);
    if (exists) return;
    const n = parseInt(shortHash(this.name), 36) % 250;
    await run(['ip', 'link', 'add', this.bridge, 'type', 'bridge']);
    await run(['ip', 'addr', 'add', `10.239.${n}.1/24`, 'dev', this.bridge]);
    await run(['ip', 'link', 'set', this.bridge, 'up']);
  }

  #logTail(): string {
    try {
      return readFileSync(this.logFile, 'utf8').split('\n').slice(-15).join('\n');
    } catch {
      return '(no log)';
    }
  }
}

/** Eight base-36 characters from a name (FNV-1a), for interface names. */
function shortHash(name: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(36).padStart(7, '0').slice(0, 8);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Pids whose command line contains one of the markers. */
function ownProcesses(markers: string[]): number[] {
  const out: number[] = [];
  for (const entry of safeReaddir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ');
      if (markers.some((m) => cmd.includes(m))) out.push(Number(entry));
    } catch {
      // exited
    }
  }
  return out;
}
