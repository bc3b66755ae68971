import { setTimeout as sleep } from 'node:timers/promises';
import type { ServiceStatus, StatusSnapshot, UpstreamStatus } from '../control/status.ts';
import type { WaitState } from '../control/wait-query.ts';
import { AdminApiError, type CallOptions } from './admin-client.ts';
import type { Compose } from './deploy-compose.ts';
import { drainTargets, findService, planDeploy, planRollback, type Color } from './deploy-plan.ts';
import { composeImage, composeServicesFor, imageEnvVar } from './deploy-services.ts';
import { formatDuration, StepFailed, StepLog } from './deploy-steps.ts';
import { describeWait, waitFor, type WaitAnswer } from './wait-client.ts';

// `bluegreen deploy SERVICE` step by step (see docs/deploy.md). Until the switch every failure
// undoes what the deploy started (the new color is stopped, the color mode restored) and exits 4;
// after the switch the new color serves whatever happens, and a failure to drain or stop the old
// color exits 5.

export const DEPLOY_EXIT = { ok: 0, apiError: 1, usage: 2, unreachable: 3, failed: 4, cleanup: 5 } as const;

/** The admin API calls deploy makes (AdminClient; a fake in tests). */
export interface Admin {
  get<T>(path: string, opts?: CallOptions): Promise<T>;
  post<T>(path: string, body?: Record<string, unknown>): Promise<T>;
}

export interface DeployRequest {
  service: string;
  rollback: boolean;
  /** Leave the old color running (idle, warm) instead of draining and stopping it. */
  keepOld: boolean;
  image: string | undefined;
  /** The variable that carries --image; default from the compose service name (web-green -> WEB_IMAGE). */
  imageVar: string | undefined;
  /** How long the new color may take to become ready once compose started it. */
  timeoutMs: number;
  /** Drain deadline for the old color's upstreams (the API's `timeout`); default: each one's own. */
  drainTimeout: string | undefined;
}

export interface DeployContext {
  admin: Admin;
  /** Compose is looked up only when needed (a rollback runs no compose command). */
  compose: () => Promise<Compose>;
  out: (text: string) => void;
  err: (text: string) => void;
  /** Aborting it before the switch abandons the deploy (the CLI aborts on SIGINT/SIGTERM). */
  signal?: AbortSignal;
  /** Called once the switch happened: from then on there is nothing to undo. */
  onSwitched?: () => void;
}

const statusPath = '/api/status';
const svcPath = (name: string, action: string) => `/api/services/${encodeURIComponent(name)}/${action}`;

export async function runDeploy(req: DeployRequest, ctx: DeployContext): Promise<number> {
  const log = new StepLog(ctx.out);
  const status = await log.step('read status', () => ctx.admin.get<StatusSnapshot>(statusPath), (s) => describeService(s, req.service));
  if (req.rollback) return rollback(req, ctx, log, status);
  const planned = planDeploy(status, req.service);
  if (!planned.ok) return failed(ctx, planned.reason);
  return new Release(req, ctx, log, planned.plan.from, planned.plan.to, planned.plan.mode).run();
}

async function rollback(req: DeployRequest, ctx: DeployContext, log: StepLog, status: StatusSnapshot): Promise<number> {
  const planned = planRollback(status, req.service);
  if (!planned.ok) return failed(ctx, planned.reason);
  const { from, to, warm } = planned.plan;
  const s = await log.step(`switch ${req.service} to ${to}`, () => ctx.admin.post<ServiceStatus>(svcPath(req.service, 'switch'), { color: to }), (v) => `active ${v.activeColor ?? 'none'}`);
  if (s.activeColor !== to) return failed(ctx, `the proxy answered the switch with active color ${s.activeColor ?? 'none'}`);
  log.line(`rolled back ${req.service}: ${to} is active (${warm} ready upstream${warm === 1 ? '' : 's'}); ${from} keeps running, idle (${formatDuration(log.elapsedMs)})`);
  return DEPLOY_EXIT.ok;
}

function failed(ctx: DeployContext, reason: string): number {
  ctx.err(`bluegreen deploy: deploy failed, nothing switched: ${reason}\n`);
  return DEPLOY_EXIT.failed;
}

class Release {
  readonly #req: DeployRequest;
  readonly #ctx: DeployContext;
  readonly #log: StepLog;
  readonly #from: Color | null;
  readonly #to: Color;
  /** The mode to restore when the deploy is abandoned; undefined when deploy did not change it. */
  #restoreMode: ServiceStatus['colorMode'] | undefined;
  readonly #mode: ServiceStatus['colorMode'] | null;
  #compose: Compose | undefined;
  #newService = '';
  #oldService: string | undefined;
  #started = false;
  /** Extra environment for compose: the image variable. */
  #env: Record<string, string> = {};
  /** The new color's containers, from `compose ps -q`. */
  #ids: string[] = [];

  constructor(req: DeployRequest, ctx: DeployContext, log: StepLog, from: Color | null, to: Color, mode: ServiceStatus['colorMode'] | null) {
    this.#req = req;
    this.#ctx = ctx;
    this.#log = log;
    this.#from = from;
    this.#to = to;
    this.#mode = mode;
  }

  async run(): Promise<number> {
    try {
      await this.#prepare();
      await this.#startNew();
      await this.#waitReady();
    } catch (err) {
      return this.#abandon(err);
    }
    const switched = await this.#switch();
    if (switched !== true) return switched;
    this.#ctx.onSwitched?.();
    return this.#retireOld();
  }

  #checkInterrupt(): void {
    if (this.#ctx.signal?.aborted) throw new StepFailed('interrupted');
  }

  async #prepare(): Promise<void> {
    const { service, image } = this.#req;
    const compose = await this.#log.step('find compose', () => this.#ctx.compose(), (c) => c.describe);
    this.#compose = compose;
    await this.#log.step('read compose config', async () => {
      const first = await compose.config({});
      const r = composeServicesFor(first, service);
      if (!r.ok) throw new StepFailed(r.reason);
      this.#newService = r.services[this.#to];
      this.#oldService = this.#from ? r.services[this.#from] : undefined;
      if (image === undefined) return `${r.services.blue} is blue, ${r.services.green} is green`;
      // --image must reach the compose file: check that the variable really sets the new color's image.
      const name = this.#req.imageVar ?? imageEnvVar(this.#newService);
      const config = first === undefined ? undefined : await compose.config({ [name]: image });
      const got = composeImage(config, this.#newService);
      if (config !== undefined && got !== image) {
        throw new StepFailed(`--image ${image}: with ${name}=${image} compose still gives ${this.#newService} the image ${got ?? '(none)'}; make its image: read \${${name}} (or pass --image-var)`);
      }
      this.#env = { [name]: image };
      return `${r.services.blue} is blue, ${r.services.green} is green; ${name} sets the image`;
    }, (said) => said);
    this.#log.line(`deploy ${service}: ${this.#from ? `${this.#from} (${this.#oldService}) is active` : 'no color is active'}; starting ${this.#to} (${this.#newService})`);
    if (this.#mode === 'auto') {
      await this.#log.step('set color mode manual (the deploy decides the switch)', () =>
        this.#ctx.admin.post<ServiceStatus>(svcPath(service, 'color-mode'), { mode: 'manual' }),
      );
      this.#restoreMode = 'auto';
    }
    this.#checkInterrupt();
  }

  async #startNew(): Promise<void> {
    const compose = this.#compose!;
    const env = this.#env;
    const what = Object.entries(env).map(([k, v]) => ` with ${k}=${v}`).join('');
    this.#started = true;
    const ids = await this.#log.step(`compose up -d --no-deps --force-recreate ${this.#newService}${what}`, async () => {
      await compose.up(this.#newService, env);
      return compose.containerIds(this.#newService);
    }, (ids) => `${ids.length} container${ids.length === 1 ? '' : 's'} ${ids.map((i) => i.slice(0, 12)).join(' ')}`);
    if (ids.length === 0) throw new StepFailed(`compose started no container for ${this.#newService}`);
    this.#ids = ids;
    this.#checkInterrupt();
  }

  /**
   * GET /api/wait?state=ready for every new container at once: answered the moment the proxy has
   * it as a ready upstream, at once when it is rejected or stops, else at the timeout with why.
   */
  async #waitReady(): Promise<void> {
    const { timeoutMs } = this.#req;
    await this.#log.step(`wait for ${this.#to} ready (timeout ${formatDuration(timeoutMs)})`, async () => {
      const deadline = Date.now() + timeoutMs;
      const ac = new AbortController();
      const signal = this.#ctx.signal ? AbortSignal.any([ac.signal, this.#ctx.signal]) : ac.signal;
      const outcomes = await Promise.all(
        this.#ids.map(async (id) => {
          const o = await this.#waitOne(id, 'ready', deadline, signal);
          if (o.fatal) ac.abort(); // waiting for the others cannot help any more
          return o;
        }),
      );
      this.#checkInterrupt();
      const fatal = outcomes.flatMap((o) => (o.fatal ? [o.fatal] : []));
      if (fatal.length) throw new StepFailed(fatal.join('; '));
      const ready = outcomes.filter((o) => o.reached).length;
      if (ready < outcomes.length) throw new StepFailed(await this.#notReady(outcomes));
      return { ready, total: outcomes.length };
    }, (r) => `${r.ready}/${r.total} ready`);
  }

  /**
   * One container's wait until `deadline`. An admin API that cannot be reached is asked again
   * (every 250 ms) until the deadline; a refusal (a 4xx other than the wait's own) is fatal.
   */
  async #waitOne(id: string, state: WaitState, deadline: number, signal: AbortSignal): Promise<WaitOutcome> {
    let lastError = '';
    for (;;) {
      if (signal.aborted) return { id, reached: false, lastError };
      try {
        const r = await waitFor(this.#ctx.admin, id, state, Math.max(0, deadline - Date.now()), { fail: state === 'gone' ? [] : ['rejected', 'stopped'], signal });
        if (!r.ok) return { id, reached: false, answer: r.answer, fatal: r.answer.code === 'WAIT_FAILED' ? r.answer.message : undefined, lastError };
        return { id, reached: true, answer: r.answer, fatal: state === 'gone' ? undefined : this.#misplaced(r.answer), lastError };
      } catch (err) {
        if (signal.aborted) return { id, reached: false, lastError };
        if (err instanceof AdminApiError) return { id, reached: false, fatal: `the proxy refused to wait for ${id.slice(0, 12)}: ${err.code}: ${err.message}`, lastError };
        lastError = (err as Error).message;
        if (Date.now() >= deadline) return { id, reached: false, lastError };
        await sleep(250, undefined, { signal }).catch(() => {});
      }
    }
  }

  /** A ready container registered under another service or color: the labels are wrong. */
  #misplaced(a: WaitAnswer): string | undefined {
    const up = a.upstream;
    if (!up) return undefined;
    if (up.service !== this.#req.service) return `container ${up.name} is an upstream of service ${up.service}, not ${this.#req.service}: check its bluegreen.service label`;
    if (up.color !== this.#to) return `container ${up.name} has color ${up.color ?? 'none'}, not ${this.#to}: check its bluegreen.color label`;
    return undefined;
  }

  async #notReady(outcomes: readonly WaitOutcome[]): Promise<string> {
    const parts = [`${this.#newService} did not become ready within ${formatDuration(this.#req.timeoutMs)}`];
    const said = outcomes.map((o) => (o.answer ? describeWait(o.answer) : `${o.id.slice(0, 12)}: no answer from the proxy`));
    parts.push(`the proxy says ${said.join(', ')}`);
    const errors = [...new Set(outcomes.map((o) => o.lastError).filter((e) => e !== ''))];
    if (errors.length) parts.push(`last admin API error: ${errors.join('; ')}`);
    const docker = await this.#compose!.containerStates(this.#ids);
    if (docker.length) parts.push(`docker says ${docker.join(', ')}`);
    return parts.join('; ');
  }

  /** True once switched, else the exit code (the deploy was abandoned, or it is unknown whether it switched). */
  async #switch(): Promise<true | number> {
    const { service } = this.#req;
    try {
      const s = await this.#log.step(`switch ${service} to ${this.#to}`, () =>
        this.#ctx.admin.post<ServiceStatus>(svcPath(service, 'switch'), { color: this.#to }),
      );
      if (s.activeColor === this.#to) return true;
      return this.#abandon(new StepFailed(`the proxy answered the switch with active color ${s.activeColor ?? 'none'}`));
    } catch (err) {
      if (err instanceof AdminApiError) return this.#abandon(new StepFailed(`the proxy refused the switch: ${err.code}: ${err.message}`));
      // The request may or may not have arrived: look before undoing anything.
      const active = await this.#activeColor();
      if (active === this.#to) return true;
      if (active !== undefined) return this.#abandon(err);
      this.#ctx.err(
        `bluegreen deploy: cannot tell whether ${service} switched to ${this.#to}: ${(err as Error).message}; ` +
          `${this.#newService} is left running: check bluegreen status, then switch or stop it\n`,
      );
      return DEPLOY_EXIT.unreachable;
    }
  }

  async #activeColor(): Promise<string | null | undefined> {
    for (let i = 0; i < 5; i++) {
      try {
        const s = await this.#ctx.admin.get<StatusSnapshot>(statusPath);
        return findService(s, this.#req.service)?.activeColor ?? null;
      } catch {
        await sleep(500);
      }
    }
    return undefined;
  }

  /** Before the switch: stop what was started, put the color mode back, exit 4. */
  async #abandon(err: unknown): Promise<number> {
    const reason = err instanceof StepFailed || err instanceof Error ? err.message : String(err);
    let stopped = !this.#started;
    if (this.#started) {
      try {
        await this.#log.step(`compose stop ${this.#newService} (undo)`, () => this.#compose!.stop(this.#newService));
        stopped = true;
      } catch {
        // reported by the step line; the mode stays manual so the new color cannot take over
      }
    }
    if (this.#restoreMode && stopped) {
      const mode = this.#restoreMode;
      await this.#log
        .step(`set color mode ${mode} again`, () => this.#ctx.admin.post<ServiceStatus>(svcPath(this.#req.service, 'color-mode'), { mode }))
        .catch(() => {});
    }
    const left = stopped ? '' : ` (${this.#newService} could not be stopped and color switching stays manual)`;
    return failed(this.#ctx, `${reason}${left}`);
  }

  /** After the switch: drain the old color through the proxy, wait until it is gone, stop it. */
  async #retireOld(): Promise<number> {
    const { service } = this.#req;
    const from = this.#from;
    const problems: string[] = [];
    if (from === null || this.#oldService === undefined) {
      this.#log.line(`deployed ${service}: ${this.#to} is active (${formatDuration(this.#log.elapsedMs)})`);
      return DEPLOY_EXIT.ok;
    }
    if (this.#req.keepOld) {
      this.#log.skip(`drain ${from}, compose stop ${this.#oldService}`, `--keep-old: ${from} stays running, idle, for --rollback`);
      this.#log.line(`deployed ${service}: ${this.#to} is active, ${from} kept running (${formatDuration(this.#log.elapsedMs)})`);
      return DEPLOY_EXIT.ok;
    }
    try {
      await this.#log.step(`drain ${from} through the proxy`, () => this.#drainOld(from), (n) => (n ? `${n} upstream${n === 1 ? '' : 's'} drained and removed` : 'nothing to drain'));
    } catch (err) {
      problems.push(`draining ${from}: ${(err as Error).message}`);
    }
    try {
      await this.#log.step(`compose stop ${this.#oldService}`, () => this.#compose!.stop(this.#oldService!));
    } catch (err) {
      problems.push(`stopping ${this.#oldService}: ${(err as Error).message}`);
    }
    const took = formatDuration(this.#log.elapsedMs);
    if (problems.length) {
      this.#ctx.err(`bluegreen deploy: ${service} switched to ${this.#to}, which serves; but ${problems.join('; ')}\n`);
      return DEPLOY_EXIT.cleanup;
    }
    this.#log.line(`deployed ${service}: ${this.#to} is active, ${from} stopped (${took})`);
    return DEPLOY_EXIT.ok;
  }

  async #drainOld(from: Color): Promise<number> {
    const { service, drainTimeout } = this.#req;
    const targets = drainTargets(await this.#ctx.admin.get<StatusSnapshot>(statusPath), service, from);
    const ids = [...targets.drain, ...targets.draining].map((u) => u.id);
    const deadlines = targets.draining.map((u) => u.drainDeadline);
    for (const u of targets.drain) {
      try {
        const r = await this.#ctx.admin.post<UpstreamStatus>(`/api/upstreams/${encodeURIComponent(u.id)}/drain`, drainTimeout ? { timeout: drainTimeout } : {});
        deadlines.push(r.drainDeadline);
      } catch (err) {
        if (err instanceof AdminApiError && err.status === 404) continue; // gone already
        throw err;
      }
    }
    // The proxy aborts what is left at each deadline and removes the upstream: wait a little past the last one.
    const last = Math.max(Date.now(), ...deadlines.map((d) => (d ? Date.parse(d) : 0)));
    const until = last + 3_000;
    const signal = new AbortController().signal;
    const outcomes = await Promise.all(ids.map((id) => this.#waitOne(id, 'gone', until, signal)));
    const left = outcomes.filter((o) => !o.reached);
    if (left.length === 0) return ids.length;
    const what = left.map((o) => {
      const u = o.answer?.upstream;
      return u ? `${u.name} ${u.state}, ${u.inFlight} in flight` : `${o.id.slice(0, 12)}: ${o.fatal ?? (o.lastError || 'no answer from the proxy')}`;
    });
    throw new StepFailed(`still in the proxy after their drain deadline: ${what.join('; ')}`);
  }
}

/** How one container's wait ended. */
interface WaitOutcome {
  id: string;
  reached: boolean;
  /** The proxy's last answer about it. */
  answer?: WaitAnswer;
  /** Why waiting cannot help (rejected, stopped, wrong service or color, refused). */
  fatal?: string | undefined;
  /** The last error reaching the admin API, '' when none. */
  lastError: string;
}

function describeService(s: StatusSnapshot, name: string): string {
  const svc = findService(s, name);
  if (!svc) return `the proxy does not know ${name} yet`;
  const byColor = svc.colors.map((c) => {
    const ups = svc.upstreams.filter((u) => u.color === c);
    return `${c} ${ups.filter((u) => u.state === 'ready').length}/${ups.length} ready`;
  });
  return `${name} active ${svc.activeColor ?? 'none'}, mode ${svc.colorMode}${byColor.length ? `; ${byColor.join(', ')}` : ''}`;
}
