import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdir, mkdtemp, rename, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino, type Logger } from 'pino';
import { ConfigWatcher, diffSettings, type SettingsDiff } from '../../src/config/config-watcher.ts';
import { loadSettings, type LoadOptions } from '../../src/config/load.ts';
import { defaultSettings, type Settings } from '../../src/config/schema.ts';

interface Harness {
  dir: string;
  file: string;
  watcher: ConfigWatcher;
  logs: Record<string, unknown>[];
  nextChange(): Promise<[Settings, Settings, SettingsDiff]>;
}

function captureLogger(): { logger: Logger; logs: Record<string, unknown>[] } {
  const logs: Record<string, unknown>[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, logs };
}

/** A watcher on `file` (relative to a fresh temp dir) after `setup` has laid out the directory. */
async function harness(
  t: { after(fn: () => unknown): void },
  setup: (dir: string) => Promise<string>,
  load: Omit<LoadOptions, 'defaultPath'> = { env: {} },
): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), 'bluegreen-watch-'));
  const file = await setup(dir);
  const { logger, logs } = captureLogger();
  const opts: LoadOptions = { ...load, defaultPath: file };
  const initial = await loadSettings(opts);
  const watcher = new ConfigWatcher({ logger, initial, load: opts });
  await watcher.start();
  t.after(async () => {
    await watcher.close();
    await rm(dir, { recursive: true, force: true });
  });
  const nextChange = async () => {
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), 10_000);
    try {
      return (await once(watcher, 'change', { signal: ac.signal })) as [Settings, Settings, SettingsDiff];
    } finally {
      clearTimeout(timer);
    }
  };
  return { dir, file, watcher, logs, nextChange };
}

async function writeAtomically(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, text);
  await rename(tmp, path);
}

test('an in-place write is detected, validated and emitted as (new, old, diff)', async (t) => {
  const h = await harness(t, async (dir) => {
    const f = join(dir, 'bluegreen.yml');
    await writeFile(f, 'holdTimeout: 1s\n');
    return f;
  });
  assert.equal(h.watcher.settings.holdTimeout, 1_000);
  const before = h.watcher.status();
  const change = h.nextChange();
  await writeFile(h.file, 'holdTimeout: 2s\nlisten: 127.0.0.1:9999\n');
  const [next, prev, diff] = await change;
  assert.equal(next.holdTimeout, 2_000);
  assert.equal(prev.holdTimeout, 1_000);
  assert.deepEqual(diff, { changed: ['listen', 'holdTimeout'], restart: ['listen'], live: ['holdTimeout'] });
  assert.equal(h.watcher.settings, next);
  const st = h.watcher.status();
  assert.equal(st.reloads, 1);
  assert.equal(st.failures, 0);
  assert.equal(st.lastError, undefined);
  assert.ok(st.lastLoadedAt >= before.lastLoadedAt);
  assert.ok(h.logs.some((l) => l.msg === 'config reloaded'));
  assert.ok(h.logs.some((l) => l.msg === 'config changes that take effect only after a restart'));
});

test('an atomic rename over the file is detected', async (t) => {
  const h = await harness(t, async (dir) => {
    const f = join(dir, 'bluegreen.yml');
    await writeFile(f, 'failDuration: 1s\n');
    return f;
  });
  const change = h.nextChange();
  await writeAtomically(h.file, 'failDuration: 3s\n');
  const [next] = await change;
  assert.equal(next.failDuration, 3_000);

  // And again: the watch survives the file's inode changing.
  const again = h.nextChange();
  await writeAtomically(h.file, 'failDuration: 4s\n');
  assert.equal((await again)[0].failDuration, 4_000);
  assert.equal(h.watcher.status().reloads, 2);
});

test('an invalid change is rejected and logged; the last good config stays; a fix applies', async (t) => {
  const h = await harness(t, async (dir) => {
    const f = join(dir, 'bluegreen.yml');
    await writeFile(f, 'holdTimeout: 1s\n');
    return f;
  });
  let changes = 0;
  h.watcher.on('change', () => changes++);
  const rejected = once(h.watcher, 'rejected');
  await writeFile(h.file, 'holdTimeout: 30x\nholdQueueSize: 5\n');
  await rejected;
  assert.equal(h.watcher.settings.holdTimeout, 1_000);
  assert.equal(h.watcher.settings.holdQueueSize, 10_000, 'no part of an invalid file applies');
  const st = h.watcher.status();
  assert.equal(st.failures, 1);
  assert.equal(st.reloads, 0);
  assert.ok(st.lastError);
  assert.equal(st.lastError.message, `${h.file}: holdTimeout: "30x" is not a duration: it has unknown unit "x" (use ms, s, m, h)`);
  assert.deepEqual(h.watcher.errors.map((p) => [p.source, p.key]), [[h.file, 'holdTimeout']]);
  const logged = h.logs.find((l) => l.msg === 'config change rejected; the last good config stays in force');
  assert.ok(logged);
  assert.equal(logged.level, 50);
  assert.equal(logged.file, h.file);
  assert.deepEqual(logged.problems, [{ source: h.file, key: 'holdTimeout', reason: '"30x" is not a duration: it has unknown unit "x" (use ms, s, m, h)' }]);

  // Touching the file with the same bad text is not a second failure.
  await writeFile(h.file, 'holdTimeout: 30x\nholdQueueSize: 5\n');
  await sleep(400);
  assert.equal(h.watcher.status().failures, 1);

  const fixed = h.nextChange();
  await writeFile(h.file, 'holdTimeout: 5s\n');
  const [next, prev] = await fixed;
  assert.equal(prev.holdTimeout, 1_000);
  assert.equal(next.holdTimeout, 5_000);
  assert.equal(h.watcher.status().lastError, undefined);
  assert.deepEqual(h.watcher.errors, []);
  assert.equal(h.watcher.status().failures, 1);
  assert.equal(changes, 1);
});

test('a symlink swap (ln -sfn style) is detected', async (t) => {
  const h = await harness(t, async (dir) => {
    await writeFile(join(dir, 'v1.yml'), 'logLevel: info\n');
    await writeFile(join(dir, 'v2.yml'), 'logLevel: debug\n');
    const f = join(dir, 'bluegreen.yml');
    await symlink('v1.yml', f);
    return f;
  });
  assert.equal(h.watcher.settings.logLevel, 'info');
  const change = h.nextChange();
  await symlink('v2.yml', join(h.dir, 'link.tmp'));
  await rename(join(h.dir, 'link.tmp'), h.file);
  const [next] = await change;
  assert.equal(next.logLevel, 'debug');
});

test('a Kubernetes ConfigMap update (..data symlink renamed over) is detected', async (t) => {
  const h = await harness(t, async (dir) => {
    await mkdir(join(dir, '..2024_01'));
    await writeFile(join(dir, '..2024_01', 'bluegreen.yml'), 'holdTimeout: 1s\n');
    await symlink('..2024_01', join(dir, '..data'));
    const f = join(dir, 'bluegreen.yml');
    await symlink(join('..data', 'bluegreen.yml'), f);
    return f;
  });
  assert.equal(h.watcher.settings.holdTimeout, 1_000);
  const change = h.nextChange();
  await mkdir(join(h.dir, '..2024_02'));
  await writeFile(join(h.dir, '..2024_02', 'bluegreen.yml'), 'holdTimeout: 2s\n');
  await symlink('..2024_02', join(h.dir, '..data_tmp'));
  await rename(join(h.dir, '..data_tmp'), join(h.dir, '..data'));
  await rm(join(h.dir, '..2024_01'), { recursive: true });
  const [next] = await change;
  assert.equal(next.holdTimeout, 2_000);
});

test("an in-place edit of a symlink's target in another directory is detected", async (t) => {
  let target = '';
  const h = await harness(t, async (dir) => {
    await mkdir(join(dir, 'conf'));
    await mkdir(join(dir, 'data'));
    target = join(dir, 'data', 'real.yml');
    await writeFile(target, 'shutdownGrace: 1s\n');
    const f = join(dir, 'conf', 'bluegreen.yml');
    await symlink(target, f);
    return f;
  });
  const change = h.nextChange();
  await writeFile(target, 'shutdownGrace: 9s\n');
  assert.equal((await change)[0].shutdownGrace, 9_000);
});

test('a named file that disappears is an error; the last good config stays; it comes back', async (t) => {
  const h = await harness(
    t,
    async (dir) => {
      const f = join(dir, 'named.yml');
      await writeFile(f, 'holdTimeout: 1s\n');
      return f;
    },
    { env: {} },
  );
  // Name the file explicitly (as --config would).
  await h.watcher.close();
  const { logger } = captureLogger();
  const load: LoadOptions = { env: {}, flags: { config: h.file } };
  const w = new ConfigWatcher({ logger, initial: await loadSettings(load), load });
  t.after(() => w.close());
  await w.start();
  const rejected = once(w, 'rejected');
  await unlink(h.file);
  await rejected;
  assert.equal(w.settings.holdTimeout, 1_000);
  assert.equal(w.status().lastError?.message, `${h.file}: no such file (named by flag --config)`);
  const back = once(w, 'change');
  await writeFile(h.file, 'holdTimeout: 3s\n');
  assert.equal(((await back) as [Settings])[0].holdTimeout, 3_000);
  assert.equal(w.status().lastError, undefined);
});

test('a default-path file created later applies; flags and env keep precedence on reload', async (t) => {
  const h = await harness(t, async (dir) => join(dir, 'bluegreen.yml'), {
    env: { BLUEGREEN_FAIL_DURATION: '7s' },
    flags: { 'hold-timeout': '9s' },
  });
  assert.equal(h.watcher.current.text, undefined);
  let changes: [Settings, Settings, SettingsDiff][] = [];
  h.watcher.on('change', (...args) => changes.push(args));
  const change = h.nextChange();
  await writeFile(h.file, 'holdTimeout: 1s\nfailDuration: 1s\nretryBufferSize: 2KiB\n');
  const [next] = await change;
  assert.equal(next.holdTimeout, 9_000, 'flag wins');
  assert.equal(next.failDuration, 7_000, 'env wins');
  assert.equal(next.retryBufferSize, 2_048, 'file applies');
  // A change that only touches keys a flag overrides changes nothing: no event.
  changes = [];
  await writeFile(h.file, 'holdTimeout: 2s\nfailDuration: 1s\nretryBufferSize: 2KiB\n');
  await sleep(500);
  assert.equal(changes.length, 0);
  assert.equal(h.watcher.status().reloads, 1);
});

test('reload() re-reads on demand and bursts of events are debounced into one reload', async (t) => {
  const h = await harness(t, async (dir) => {
    const f = join(dir, 'bluegreen.yml');
    await writeFile(f, 'holdQueueSize: 1\n');
    return f;
  });
  let seen: number[] = [];
  h.watcher.on('change', (next) => seen.push(next.holdQueueSize));
  for (let i = 2; i <= 6; i++) await writeFile(h.file, `holdQueueSize: ${i}\n`);
  await h.watcher.reload();
  await sleep(400);
  assert.deepEqual(seen, [6]);
  seen = [];
  await writeFile(join(h.dir, 'unrelated.txt'), 'x');
  await sleep(400);
  assert.deepEqual(seen, []);
});

test('diffSettings names changed keys and which need a restart', () => {
  const a = defaultSettings();
  assert.deepEqual(diffSettings(a, defaultSettings()), { changed: [], restart: [], live: [] });
  const b: Settings = structuredClone(a);
  b.listen = { host: '127.0.0.1', port: 80 };
  b.admin = { ...b.admin, token: 'x' };
  b.holdTimeout = 1;
  b.trustedProxies = ['10.0.0.0/8'];
  b.docker = { enabled: false };
  b.staticUpstreams = [{ service: 'a', host: 'h', port: 1, hosts: [] }];
  b.tls = { ...b.tls, dir: '/x' };
  b.logLevel = 'debug';
  b.holdQueueSize = 2;
  assert.deepEqual(diffSettings(a, b), {
    changed: ['listen', 'admin.token', 'holdTimeout', 'holdQueueSize', 'logLevel', 'trustedProxies', 'docker.enabled', 'staticUpstreams', 'tls.dir'],
    restart: ['listen', 'holdQueueSize', 'docker.enabled', 'tls.dir'],
    live: ['admin.token', 'holdTimeout', 'logLevel', 'trustedProxies', 'staticUpstreams'],
  });
});
