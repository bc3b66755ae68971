import { CoalescingRunner } from '../coalescing-runner.ts';
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { realpath } from 'node:fs/promises';
import { dirname } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { watch, type FSWatcher } from 'chokidar';
import type { Logger } from 'pino';
import { ConfigError, configFile, readConfigText, resolveSettings, type ConfigProblem, type LoadOptions, type LoadedSettings } from './load.ts';
import { SETTINGS, SETTING_KEYS, type SettingDoc, type Settings } from './schema.ts';

// Hot reload. The file's directory is watched (not the file), so an editor's atomic rename, a
// symlink swap and a Kubernetes ConfigMap update (a `..data` symlink renamed over) all count. Any
// event in the directory, after a quiet period, re-reads and re-validates; identical text is
// ignored. A valid change replaces the settings and emits 'change'; an invalid one is logged,
// recorded in status(), and the last good settings stay.

export interface SettingsDiff {
  /** Key paths (as in SETTINGS) whose value changed. */
  changed: string[];
  /** The changed keys that take effect only after a restart (listeners, discovery). */
  restart: string[];
  /** The changed keys that apply live. */
  live: string[];
}

/** Which keys differ between two resolved settings, split into restart-only and live. */
export function diffSettings(prev: Settings, next: Settings): SettingsDiff {
  const diff: SettingsDiff = { changed: [], restart: [], live: [] };
  for (const key of SETTING_KEYS) {
    if (isDeepStrictEqual(valueAt(prev, key), valueAt(next, key))) continue;
    diff.changed.push(key);
    const d: SettingDoc = SETTINGS[key];
    (d.restart ? diff.restart : diff.live).push(key);
  }
  return diff;
}

function valueAt(s: Settings, key: string): unknown {
  let cur: unknown = s;
  for (const p of key.split('.')) cur = (cur as Record<string, unknown> | undefined)?.[p];
  return cur;
}

export interface ConfigStatus {
  file: string;
  /** When the settings in force were loaded (ISO 8601). */
  lastLoadedAt: string;
  /** The last rejected change, until a valid one replaces it. */
  lastError?: { at: string; message: string };
  /** Valid changes applied since start. */
  reloads: number;
  /** Invalid changes rejected since start. */
  failures: number;
}

export interface ConfigWatcherEvents {
  change: [next: Settings, prev: Settings, diff: SettingsDiff];
  rejected: [error: ConfigError];
}

export interface ConfigWatcherOptions {
  logger: Logger;
  /** What loadSettings returned at startup. */
  initial: LoadedSettings;
  /** The same options given to loadSettings (flags and env keep their precedence on reload). */
  load?: LoadOptions;
  /** Quiet period after the last file event before reloading; default 100 ms. */
  debounceMs?: number;
}

const MISSING = '\u0000missing';

export class ConfigWatcher extends EventEmitter<ConfigWatcherEvents> {
  readonly #log: Logger;
  readonly #load: LoadOptions;
  #current: LoadedSettings;
  /** Text of the last attempt, good or bad: the same text is not reloaded twice. */
  #lastText: string;
  #status: ConfigStatus;
  #errors: readonly ConfigProblem[] = [];
  #watcher: FSWatcher | undefined;
  #watched = new Set<string>();
  readonly #runner: CoalescingRunner;

  constructor(opts: ConfigWatcherOptions) {
    super();
    this.#log = opts.logger;
    this.#load = opts.load ?? {};
    this.#runner = new CoalescingRunner(() => this.#reloadOnce(), opts.debounceMs ?? 100, (err) =>
      this.#log.error({ err }, 'unexpected error reloading config'),
    );
    this.#current = opts.initial;
    this.#lastText = opts.initial.text ?? MISSING;
    this.#status = { file: opts.initial.file, lastLoadedAt: new Date(opts.initial.loadedAt).toISOString(), reloads: 0, failures: 0 };
  }

  /** The settings in force (the last good ones). */
  get settings(): Settings {
    return this.#current.settings;
  }

  get current(): LoadedSettings {
    return this.#current;
  }

  status(): ConfigStatus {
    const s = { ...this.#status };
    if (s.lastError) s.lastError = { ...s.lastError };
    return s;
  }

  /** The problems of the last rejected change; [] once a valid change (or the same good text) loads. */
  get errors(): readonly ConfigProblem[] {
    return this.#errors;
  }

  /** Starts watching; resolves once the watcher has scanned the directory. */
  async start(): Promise<void> {
    if (this.#watcher || this.#runner.closed) return;
    const dirs = await this.#wantedDirs();
    this.#watcher = watch([...dirs], { ignoreInitial: true, depth: 0, persistent: true });
    this.#watched = dirs;
    this.#watcher.on('all', () => this.#schedule());
    this.#watcher.on('error', (err) => this.#log.warn({ err, file: this.#current.file }, 'config watcher error'));
    if (dirs.size === 0) {
      this.#log.info({ file: this.#current.file }, 'config directory does not exist; not watching it');
      return;
    }
    await new Promise<void>((resolve) => this.#watcher!.once('ready', () => resolve()));
  }

  /** Re-reads the file now (SIGHUP, admin action). Resolves when done; never throws. */
  reload(): Promise<void> {
    return this.#runner.run();
  }

  async close(): Promise<void> {
    await this.#watcher?.close();
    await this.#runner.close();
  }

  #schedule(): void {
    this.#runner.schedule();
  }

  async #reloadOnce(): Promise<void> {
    const ref = configFile(this.#load);
    let text: string | undefined;
    let next: LoadedSettings;
    try {
      text = await readConfigText(ref);
      if ((text ?? MISSING) === this.#lastText) return;
      this.#lastText = text ?? MISSING;
      next = resolveSettings({ ...ref, text, flags: this.#load.flags, env: this.#load.env ?? process.env });
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      if (text === undefined) {
        // The file could not be read: only report it once until it changes.
        if (this.#lastText === MISSING) return;
        this.#lastText = MISSING;
      }
      this.#reject(err);
      return;
    } finally {
      await this.#updateWatched();
    }
    const prev = this.#current;
    this.#current = next;
    const changed = !isDeepStrictEqual(prev.settings, next.settings);
    delete this.#status.lastError;
    this.#errors = [];
    this.#status.lastLoadedAt = new Date(next.loadedAt).toISOString();
    if (!changed) {
      this.#log.debug({ file: next.file }, 'config file changed; settings are the same');
      return;
    }
    this.#status.reloads++;
    const diff = diffSettings(prev.settings, next.settings);
    this.#log.info({ file: next.file, changed: diff.changed, live: diff.live, restart: diff.restart }, 'config reloaded');
    if (diff.restart.length > 0) {
      this.#log.warn({ file: next.file, keys: diff.restart }, 'config changes that take effect only after a restart');
    }
    try {
      this.emit('change', next.settings, prev.settings, diff);
    } catch (err) {
      this.#log.error({ err, file: next.file }, 'error applying the new config');
    }
  }

  #reject(err: ConfigError): void {
    const at = new Date().toISOString();
    this.#status.failures++;
    this.#status.lastError = { at, message: err.message };
    this.#errors = err.problems;
    this.#log.error(
      {
        file: this.#current.file,
        problems: err.problems.map((p) => ({ source: p.source, key: p.key, reason: p.reason })),
        error: err.message,
      },
      'config change rejected; the last good config stays in force',
    );
    if (this.listenerCount('rejected') > 0) this.emit('rejected', err);
  }

  /** The file's directory and, when the file is a symlink, its target's directory. */
  async #wantedDirs(): Promise<Set<string>> {
    const file = configFile(this.#load).file;
    const want = new Set<string>();
    const dir = dirname(file);
    if (existsSync(dir)) want.add(dir);
    try {
      const real = dirname(await realpath(file));
      if (real !== dir) want.add(real);
    } catch {
      // missing file, or a dangling link: its directory is enough
    }
    return want;
  }

  async #updateWatched(): Promise<void> {
    if (!this.#watcher || this.#runner.closed) return;
    const want = await this.#wantedDirs();
    const remove = [...this.#watched].filter((d) => !want.has(d));
    const add = [...want].filter((d) => !this.#watched.has(d));
    if (remove.length > 0) this.#watcher.unwatch(remove);
    if (add.length > 0) this.#watcher.add(add);
    this.#watched = want;
  }
}
