// The bluegreen dashboard: plain browser JavaScript, served as a file, no build step.
//
// Live updates come from GET /api/events (server-sent events). EventSource cannot send an
// Authorization header, so the stream is read with fetch() and a ReadableStream instead: the token
// then travels only in the header, the one way the admin API accepts it, and never in a URL where
// it would end up in logs, history or Referer headers. A query-string token would also need a
// second, weaker auth path on the server.

const TOKEN_KEY = 'bluegreen-admin-token';
const $ = (id) => document.getElementById(id);

let status = null;
let lastHtml = '';
let lastAlerts = '';
let streamAbort = null;
/** Upstream id whose drain button was clicked once; a second click within 4 s drains. */
let armedDrain = null;
let armedTimer = 0;

function token() {
  return sessionStorage.getItem(TOKEN_KEY) || '';
}

function authHeaders(extra = {}) {
  const t = token();
  return t ? { ...extra, authorization: `Bearer ${t}` } : extra;
}

// ---- live stream -------------------------------------------------------------------------

async function streamStatus() {
  for (;;) {
    const ac = new AbortController();
    streamAbort = ac;
    try {
      const res = await fetch('/api/events', { headers: authHeaders({ accept: 'text/event-stream' }), signal: ac.signal, cache: 'no-store' });
      if (res.status === 401) {
        setConn('locked', 'token needed');
        await askToken(token() ? 'That token was refused.' : '');
        continue;
      }
      if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
      setConn('live', 'live');
      await readEvents(res.body, (event, data) => {
        if (event === 'status') {
          status = JSON.parse(data);
          render();
        }
      });
    } catch (err) {
      if (ac.signal.aborted && streamAbort !== ac) continue; // replaced on purpose (new token)
    }
    setConn('down', 'reconnecting…');
    await sleep(1500);
  }
}

/** Parses a text/event-stream body, calling `onEvent(name, data)` for each event. */
async function readEvents(body, onEvent) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value.replace(/\r\n?/g, '\n');
    let end;
    while ((end = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, end);
      buf = buf.slice(end + 2);
      let event = 'message';
      const data = [];
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const val = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') event = val;
        else if (field === 'data') data.push(val);
      }
      if (data.length) onEvent(event, data.join('\n'));
    }
  }
}

function setConn(state, text) {
  const el = $('conn');
  el.dataset.state = state;
  el.querySelector('span').textContent = text;
}

function askToken(message) {
  $('login').hidden = false;
  $('login-error').textContent = message;
  $('token').value = '';
  $('token').focus();
  return new Promise((resolve) => {
    $('login-form').onsubmit = (e) => {
      e.preventDefault();
      sessionStorage.setItem(TOKEN_KEY, $('token').value.trim());
      $('login').hidden = true;
      resolve();
    };
  });
}

// ---- actions -----------------------------------------------------------------------------

async function act(path, body, describe) {
  let res;
  try {
    res = await fetch(path, {
      method: 'POST',
      headers: authHeaders({ 'content-type': 'application/json' }),
      body: JSON.stringify(body ?? {}),
    });
  } catch (err) {
    return toast(`cannot reach the admin API: ${err.message}`, true);
  }
  const out = await res.json().catch(() => ({ code: 'BAD_RESPONSE', message: `HTTP ${res.status}` }));
  if (res.status === 401) {
    streamAbort?.abort();
    return toast('the admin token was refused', true);
  }
  if (!res.ok) return toast(`${out.code}: ${out.message}`, true);
  toast(describe(out));
}

const svcPath = (name, action) => `/api/services/${encodeURIComponent(name)}/${action}`;

document.addEventListener('click', (e) => {
  const btn = e.target.closest('button[data-action]');
  if (!btn || btn.disabled) return;
  const { action, service, color, upstream, mode } = btn.dataset;
  if (action === 'switch') {
    act(svcPath(service, 'switch'), { color }, (s) => `${s.name}: active color is now ${s.activeColor} (switching: ${s.colorMode})`);
  } else if (action === 'pause' || action === 'resume') {
    act(svcPath(service, action), {}, (s) => `${s.name}: ${s.paused ? 'paused; requests are held' : 'resumed'}`);
  } else if (action === 'color-mode') {
    act(svcPath(service, 'color-mode'), { mode }, (s) => `${s.name}: color switching is ${s.colorMode}`);
  } else if (action === 'drain') {
    if (armedDrain !== upstream) {
      armedDrain = upstream;
      clearTimeout(armedTimer);
      armedTimer = setTimeout(() => {
        armedDrain = null;
        render();
      }, 4000);
      return render();
    }
    armedDrain = null;
    act(`/api/upstreams/${encodeURIComponent(upstream)}/drain`, {}, (u) => `${u.name}: ${u.state === 'gone' ? 'drained and removed' : 'draining'}`);
  }
});

let toastTimer = 0;
function toast(text, error = false) {
  const el = $('toast');
  el.textContent = text;
  el.className = error ? 'toast error' : 'toast';
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (el.hidden = true), error ? 8000 : 3500);
}

// ---- rendering ---------------------------------------------------------------------------

function esc(v) {
  return String(v ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

const KNOWN_HUES = { blue: 217, green: 145, red: 0, yellow: 45, orange: 28, purple: 270, black: 220 };
function hue(color) {
  if (color in KNOWN_HUES) return KNOWN_HUES[color];
  let h = 0;
  for (const ch of color) h = (h * 31 + ch.charCodeAt(0)) % 360;
  return h;
}

function routeText(s) {
  if (s.isDefault) return 'default service (every other request)';
  const hosts = s.route.hosts.length ? s.route.hosts.join(', ') : 'any host';
  return s.route.pathPrefix ? `${hosts} · ${s.route.pathPrefix}` : hosts;
}

function remaining(iso) {
  const ms = Date.parse(iso) - Date.now();
  return ms <= 0 ? 'now' : ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`;
}

function upstreamRow(u) {
  const armed = armedDrain === u.id;
  const canDrain = u.state !== 'draining' && u.state !== 'gone';
  const drainCell = canDrain
    ? `<button class="btn small ${armed ? 'danger' : 'ghost'}" data-action="drain" data-upstream="${esc(u.id)}">${armed ? 'Confirm drain' : 'Drain'}</button>`
    : u.drainDeadline
      ? `<span class="deadline" title="in-flight work is aborted at ${esc(u.drainDeadline)}">deadline in ${remaining(u.drainDeadline)}</span>`
      : '';
  return `<tr class="upstream" data-upstream="${esc(u.id)}" data-state="${esc(u.state)}">
    <td><div class="uname">${esc(u.name)}</div><div class="uid" title="id ${esc(u.id)}">${esc(u.address)}</div></td>
    <td><span class="state state-${esc(u.state)}">${esc(u.state)}</span></td>
    <td class="num inflight" title="in flight (WebSockets: ${u.webSockets})">${u.inFlight}${u.webSockets ? `<small> (${u.webSockets} ws)</small>` : ''}</td>
    <td class="num">${u.requests}</td>
    <td class="num ${u.failures ? 'warn' : ''}">${u.failures}</td>
    <td class="num">${u.retries}</td>
    <td class="act">${drainCell}</td>
  </tr>`;
}

function upstreamTable(list) {
  if (!list.length) return '<p class="none">no upstreams</p>';
  return `<div class="table-wrap"><table><thead><tr><th>upstream</th><th>state</th><th class="num">in flight</th><th class="num">requests</th><th class="num">failures</th><th class="num">retries</th><th></th></tr></thead>
    <tbody>${list.map(upstreamRow).join('')}</tbody></table></div>`;
}

function colorColumn(s, color) {
  const active = s.activeColor === color;
  const ups = s.upstreams.filter((u) => u.color === color);
  const ready = ups.filter((u) => u.state === 'ready').length;
  const button = active
    ? '<span class="badge active-badge">serving</span>'
    : `<button class="btn switch" data-action="switch" data-service="${esc(s.name)}" data-color="${esc(color)}" ${ready ? '' : 'disabled title="no ready upstream of this color"'}>Switch to ${esc(color)}</button>`;
  return `<div class="color ${active ? 'active' : ''}" data-color="${esc(color)}" data-hue="${hue(color)}">
    <div class="color-head"><span class="swatch"></span><span class="cname">${esc(color)}</span><span class="muted">${ready}/${ups.length} ready</span>${button}</div>
    ${upstreamTable(ups)}
  </div>`;
}

function serviceCard(s) {
  const colored = s.colors.length > 0;
  const plain = s.upstreams.filter((u) => u.color === null);
  const body = colored
    ? `<div class="colors">${s.colors.map((c) => colorColumn(s, c)).join('')}</div>${plain.length ? `<div class="plain"><h4>without a color</h4>${upstreamTable(plain)}</div>` : ''}`
    : `<div class="plain">${upstreamTable(s.upstreams)}</div>`;
  const modeBtn = colored
    ? `<button class="btn ghost" data-action="color-mode" data-service="${esc(s.name)}" data-mode="${s.colorMode === 'auto' ? 'manual' : 'auto'}" title="${s.colorMode === 'auto' ? 'the newest ready color takes over by itself' : 'colors switch only when an operator says so'}">Switching: ${esc(s.colorMode)}</button>`
    : '';
  const pauseBtn = s.paused
    ? `<button class="btn primary" data-action="resume" data-service="${esc(s.name)}">Resume</button>`
    : `<button class="btn ghost" data-action="pause" data-service="${esc(s.name)}">Pause</button>`;
  return `<article class="service ${s.paused ? 'paused' : ''}" data-service="${esc(s.name)}">
    <div class="service-head">
      <div class="title"><h2>${esc(s.name)}</h2><span class="route">${esc(routeText(s))}</span></div>
      <div class="facts">
        ${colored ? `<span class="fact">active <b class="active-color" data-hue="${hue(s.activeColor ?? '')}">${esc(s.activeColor ?? 'none')}</b></span>` : ''}
        ${s.paused ? '<span class="badge paused-badge">paused</span>' : ''}
        <span class="fact ${s.held ? 'warn' : ''}">held <b class="held">${s.held}</b></span>
        <span class="fact" title="longest wait so far">max hold <b>${s.maxHoldMs} ms</b></span>
      </div>
      <div class="buttons">${modeBtn}${pauseBtn}</div>
    </div>
    ${colored && s.colorNote ? `<p class="note">${esc(s.colorNote)}</p>` : ''}
    ${body}
  </article>`;
}

function alertList(title, items, fmt) {
  if (!items || !items.length) return '';
  return `<div class="alert"><h3>${esc(title)}</h3><ul>${items.map((i) => `<li>${fmt(i)}</li>`).join('')}</ul></div>`;
}

function describe(item) {
  if (typeof item === 'string') return esc(item);
  if (item && typeof item === 'object') {
    const name = item.name ?? item.id ?? item.path ?? '';
    const why = item.problems ?? item.reasons ?? item.reason ?? item.message ?? item.errors;
    const text = Array.isArray(why) ? why.map((w) => (typeof w === 'string' ? w : JSON.stringify(w))).join('; ') : why;
    if (name || text) return `<b>${esc(name)}</b> ${esc(text ?? '')}`;
  }
  return esc(JSON.stringify(item));
}

function ago(t) {
  return typeof t === 'number' ? `${Math.max(0, Math.round((Date.now() - t) / 1000))} s ago` : 'never';
}

/** Which Docker Engine (and swarm node) discovery follows, whether it is connected, its last sync. */
function renderEngine() {
  const el = $('engine');
  const d = status?.discovery?.status;
  if (!d || typeof d !== 'object') {
    el.innerHTML = status ? 'Docker discovery off' : '';
    el.dataset.connected = 'off';
    return;
  }
  const e = d.engine;
  const parts = [e && e.name ? `engine <b>${esc(e.name)}</b>` : `engine ${esc(d.endpoint)}`];
  if (e && e.role && e.role !== 'none') parts.push(`swarm ${esc(e.role)}, node ${esc(String(e.nodeId ?? '').slice(0, 12))}`);
  parts.push(d.connected ? 'connected' : `<span class="bad">disconnected${d.lastError ? `: ${esc(d.lastError)}` : ''}</span>`);
  parts.push(`synced ${ago(d.lastSyncAt)}`);
  if (d.swarmTasks) parts.push(`${esc(d.swarmTasks.services)} swarm services`);
  const html = parts.join(' · ');
  if (el.innerHTML !== html) el.innerHTML = html;
  el.title = String(d.endpoint ?? '');
  el.dataset.connected = d.connected ? 'yes' : 'no';
}

function render() {
  if (!status) return;
  renderEngine();
  const p = status.proxy;
  $('totals').innerHTML = [
    ['requests', p.requests],
    ['active', p.active],
    ['held', p.held],
    ['retries', p.retries],
    ['failed', p.failed],
  ]
    .map(([k, v]) => `<span><small>${k}</small><b>${v}</b></span>`)
    .join('');
  const alerts =
    alertList('Routing conflicts', status.routing.conflicts, esc) +
    alertList('Rejected containers', status.discovery?.rejected, describe) +
    alertList('Config errors', status.config?.errors, describe);
  if (alerts !== lastAlerts) $('alerts').innerHTML = lastAlerts = alerts;
  const html = status.services.length ? status.services.map(serviceCard).join('') : '<p class="empty">No services yet.</p>';
  if (html !== lastHtml) {
    $('services').innerHTML = lastHtml = html;
    // Colors are set through the CSSOM: the page's CSP forbids inline style attributes.
    for (const el of $('services').querySelectorAll('[data-hue]')) el.style.setProperty('--hue', el.dataset.hue);
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// "synced N s ago" counts up between snapshots.
setInterval(renderEngine, 1000);

// Drain deadlines count down between snapshots.
setInterval(() => {
  if (status?.services.some((s) => s.upstreams.some((u) => u.drainDeadline))) render();
}, 500);

streamStatus();
