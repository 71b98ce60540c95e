// Boots a console page: status bar, inbox counter, live updates, then the page's own module.

import { api } from './api.js';
import { clear, h, notice } from './dom.js';
import { on, onState, ready, startLive } from './live.js';

const body = document.body;
const vocab = JSON.parse(document.getElementById('vocabulary')?.textContent || '{}');
const ctx = {
  page: body.dataset.page,
  role: body.dataset.role,
  node: body.dataset.node,
  nodeRole: body.dataset.nodeRole,
  id: body.dataset.id || null,
  developer: body.dataset.developer || null, // a provider's, fixed in its forms
  organisation: body.dataset.organisation || null, // an evaluator's
  vocab,
  can: (...roles) => roles.includes(body.dataset.role),
};

function stat(id, content, cls = '') {
  const el = document.getElementById(id);
  if (!el) return;
  el.className = `stat ${cls}`.trim();
  el.replaceChildren(...content);
}

function showHealth(hz) {
  if (hz.status !== undefined) {
    const ok = hz.status === 'ok';
    stat('st-health', [h('span', { class: `dot ${ok ? 'dot-ok' : 'dot-bad'}` }),
      'Node ', h('strong', {}, ok ? 'healthy' : 'degraded')], ok ? '' : 'stat-bad');
  }
  if (hz.nats !== undefined) {
    stat('st-nats', ['NATS: ', h('strong', {}, hz.nats)], hz.nats === 'connected' ? '' : 'stat-bad');
  }
  if (hz.outbox_depth !== undefined) {
    const n = hz.outbox_depth;
    stat('st-outbox', ['Outbox: ', h('strong', {}, n < 0 ? 'unknown' : `${n} queued`)],
      n > 20 || n < 0 ? 'stat-bad' : n > 0 ? 'stat-warn' : '');
  }
  if (hz.roster_version !== undefined) {
    stat('st-roster', ['Roster: ', h('strong', {}, `v${hz.roster_version}`)]);
  }
}

async function refreshHealth() {
  try {
    showHealth(await api('/healthz'));
  } catch (e) {
    stat('st-health', [h('span', { class: 'dot dot-bad' }), 'Node ', h('strong', {}, 'unreachable')],
      'stat-bad');
  }
}

function showInboxCount(n) {
  const el = document.getElementById('inbox-count');
  if (!el) return;
  el.hidden = !n;
  el.textContent = n ? String(n) : '';
  el.setAttribute('aria-label', `${n} open`);
}

async function refreshInboxCount() {
  try {
    const data = await api('/api/v1/escalations?status=open');
    showInboxCount(data.items.length);
  } catch { /* the counter is a convenience */ }
}

// Live updates and the inbox are for the authority's staff; a provider or an evaluator reads
// neither (the API answers them 403), so their pages load without waiting for a stream.
const STAFF = ['operator', 'responder', 'auditor', 'viewer'];

async function boot() {
  const staff = STAFF.includes(ctx.role);
  if (!staff) {
    stat('st-live', ['Live updates: ', h('strong', {}, 'not for this role')], 'stat-live');
    refreshHealth();
  }
  const root = document.getElementById('page');
  if (staff) await bootLive();
  if (!root || !ctx.page) return;
  try {
    const mod = await import(`./pages/${ctx.page}.js`);
    clear(root);
    await mod.render(root, ctx);
  } catch (e) {
    console.error(e);
    clear(root).append(notice('error', h('p', {}, h('strong', {}, 'This page could not be shown. '),
      e.message || String(e))));
  } finally {
    root.setAttribute('aria-busy', 'false');
  }
}

async function bootLive() {
  onState((s) => {
    const label = { live: 'live', reconnecting: 'reconnecting…', offline: 'offline, retrying',
      connecting: 'connecting…' }[s] || s;
    const dot = s === 'live' ? 'dot-ok' : s === 'offline' ? 'dot-bad' : 'dot-warn';
    stat('st-live', [h('span', { class: `dot ${dot}` }), 'Live updates: ', h('strong', {}, label)],
      s === 'offline' ? 'stat-live stat-bad' : 'stat-live');
  });
  startLive();
  on('health', showHealth);
  on('escalation', (d) => showInboxCount(d.open));
  on('reconnected', () => { refreshHealth(); refreshInboxCount(); });
  refreshHealth();
  refreshInboxCount();
  if (!document.getElementById('page') || !ctx.page) return;
  // Subscribe before fetching (no gap in which a change goes unseen), but never wait long:
  // the page must work even when live updates do not.
  await Promise.race([ready, new Promise((resolve) => { window.setTimeout(resolve, 1500); })]);
}

boot();
