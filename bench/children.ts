// Child processes of the benchmarks: each in its own process group (killed as a group), with a
// parent-death signal when setpriv is available (so even a SIGKILLed bench leaves nothing behind),
// stopped at the end, on error and on Ctrl-C.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';

export interface Child {
  name: string;
  proc: ChildProcess;
  exited: Promise<void>;
  done: boolean;
  exitText: string;
  /** The last few KiB of the child's stdout+stderr, for error messages. */
  tail(): string;
}

export interface SpawnOptions {
  cwd: string;
  env?: NodeJS.ProcessEnv | undefined;
  /** Open an IPC channel (the child reports its port). */
  ipc?: boolean;
  onStdout?: (chunk: string) => void;
  onStderr?: (chunk: string) => void;
}

const children = new Set<Child>();

export function findExecutable(name: string): string | undefined {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  for (const extra of ['/usr/local/sbin', '/usr/sbin', '/sbin']) if (!dirs.includes(extra)) dirs.push(extra);
  for (const dir of dirs) {
    const p = join(dir, name);
    if (existsSync(p)) return p;
  }
  return undefined;
}

const SETPRIV = findExecutable('setpriv');

export function spawnChild(name: string, cmd: string, args: string[], opts: SpawnOptions): Child {
  const [file, argv] = SETPRIV ? [SETPRIV, ['--pdeathsig', 'TERM', '--', cmd, ...args]] : [cmd, args];
  const proc = spawn(file, argv, {
    cwd: opts.cwd,
    detached: true,
    env: { ...process.env, ...opts.env },
    stdio: opts.ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const keep = (chunk: Buffer): void => {
    out = (out + chunk.toString('utf8')).slice(-8192);
  };
  proc.stdout?.on('data', (chunk: Buffer) => {
    keep(chunk);
    opts.onStdout?.(chunk.toString('utf8'));
  });
  proc.stderr?.on('data', (chunk: Buffer) => {
    keep(chunk);
    opts.onStderr?.(chunk.toString('utf8'));
  });
  const child: Child = { name, proc, done: false, exitText: '', exited: Promise.resolve(), tail: () => out.trim() };
  child.exited = new Promise<void>((res) => {
    const finish = (text: string): void => {
      if (child.done) return;
      child.done = true;
      child.exitText = text;
      children.delete(child);
      res();
    };
    proc.on('error', (err) => finish(`failed to start: ${err.message}`));
    proc.on('exit', (code, signal) => finish(signal ? `killed by ${signal}` : `exited with code ${code}`));
  });
  children.add(child);
  return child;
}

function signalGroup(child: Child, signal: NodeJS.Signals): void {
  if (child.done || child.proc.pid === undefined) return;
  try {
    process.kill(-child.proc.pid, signal);
  } catch {
    try {
      child.proc.kill(signal);
    } catch {
      // already gone
    }
  }
}

/** SIGTERM to the group, SIGKILL after `graceMs`. */
export async function stopChild(child: Child, graceMs = 5000): Promise<void> {
  if (child.done) return;
  signalGroup(child, 'SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([child.exited, new Promise<void>((res) => (timer = setTimeout(res, graceMs)))]);
  clearTimeout(timer);
  if (!child.done) {
    signalGroup(child, 'SIGKILL');
    await child.exited;
  }
}

export async function stopAll(): Promise<void> {
  await Promise.all([...children].map((c) => stopChild(c)));
}

/** For a synchronous exit path: SIGKILL every live child's group now. */
export function killAllNow(): void {
  for (const c of children) signalGroup(c, 'SIGKILL');
}
