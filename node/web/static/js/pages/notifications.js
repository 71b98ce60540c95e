// Notifications: what playbook runs asked this node's people to do, and (operators) the
// webhooks that carry them out of the console, with their delivery status and log.

import { api } from '../api.js';
import {
  announce, clear, debounce, empty, h, nextId, notice, statusBadge, tags, timeEl, toast,
} from '../dom.js';
import { on } from '../live.js';

const EVENTS_OF = {
  operator: 'every event',
  responder: 'notify steps for duty roles, escalations, deadlines, emergencies',
  auditor: 'missed deadlines, emergencies',
  viewer: 'emergencies',
};

function notificationsTable(items) {
  if (!items.length) {
    return h('div', { class: 'card' }, empty('No notifications yet.', 'Notify steps of playbook runs appear here.'));
  }
  return h('div', { class: 'table-wrap' }, h('table', {},
    h('caption', { class: 'visually-hidden' }, 'Notifications, newest first'),
    h('thead', {}, h('tr', {}, ['When', 'For', 'Message', 'Run step', 'Due'].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, items.map((n) => h('tr', {},
      h('td', { class: 'nowrap' }, timeEl(n.created_at)),
      h('td', {}, h('span', { class: 'tag' }, n.role)),
      h('td', { class: 'break' }, n.message),
      h('td', { class: 'small' }, h('a', { href: `/runs/${encodeURIComponent(n.run_id)}` }, n.step_id)),
      h('td', { class: 'nowrap small' }, n.due ? timeEl(n.due) : '—'))))));
}

function lastDelivery(w) {
  const d = w.last_delivery;
  if (!d) return h('span', { class: 'muted small' }, 'no attempt yet');
  const ok = d.status === 'delivered';
  return h('div', { class: 'small' }, statusBadge(d.status === 'pending' ? 'pending' : d.status,
    d.status === 'pending' ? `retrying (${d.attempts} tried)` : d.status),
  ' ', d.event, ' · ', timeEl(d.last_attempt_at),
  ok ? null : h('div', { class: 'field-error' }, d.last_error || `HTTP ${d.response_code}`));
}

function logTable(items) {
  if (!items.length) return h('p', { class: 'muted small' }, 'No deliveries yet.');
  return h('div', { class: 'table-wrap' }, h('table', {},
    h('caption', { class: 'visually-hidden' }, 'Delivery log, newest first'),
    h('thead', {}, h('tr', {}, ['Queued', 'Event', 'Status', 'Attempts', 'Last answer', 'Next try'].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, items.map((d) => h('tr', {},
      h('td', { class: 'nowrap small' }, timeEl(d.created_at)),
      h('td', { class: 'small' }, d.event, h('div', { class: 'muted' }, d.body.incident_id || '')),
      h('td', {}, statusBadge(d.status)),
      h('td', {}, String(d.attempts)),
      h('td', { class: 'small break' }, d.response_code ? `HTTP ${d.response_code}` : (d.last_error || '—')),
      h('td', { class: 'nowrap small' }, d.next_at ? timeEl(d.next_at) : '—'))))));
}

function webhookRow(w, reload) {
  const log = h('tr', { hidden: true }, h('td', { colspan: 5 }, h('p', { class: 'muted' }, 'Loading…')));
  const showLog = h('button', { type: 'button', class: 'btn', 'aria-expanded': 'false' }, 'Delivery log');
  showLog.addEventListener('click', async () => {
    const open = log.hidden;
    log.hidden = !open;
    showLog.setAttribute('aria-expanded', String(open));
    if (!open) return;
    try {
      const data = await api(`/api/v1/webhooks/${encodeURIComponent(w.id)}/deliveries?limit=50`);
      clear(log.firstChild).append(logTable(data.items));
    } catch (e) { clear(log.firstChild).append(notice('error', h('p', {}, e.message))); }
  });
  const del = h('button', { type: 'button', class: 'btn btn-danger' }, 'Delete');
  del.addEventListener('click', async () => {
    if (!window.confirm(`Delete the webhook to ${w.url} and its delivery log?`)) return;
    del.disabled = true;
    try {
      await api(`/api/v1/webhooks/${encodeURIComponent(w.id)}`, { method: 'DELETE' });
      toast(`Webhook to ${w.url} deleted.`, 'ok');
      reload();
    } catch (e) { del.disabled = false; toast(e.message, 'error'); }
  });
  const c = w.deliveries;
  return [h('tr', { id: `wh-${w.id}` },
    h('td', { class: 'break' }, h('span', { class: 'mono small' }, w.url), h('div', { class: 'muted small' }, `${w.id} · since `, timeEl(w.created_at))),
    h('td', {}, tags(w.roles)),
    h('td', { class: 'nowrap' },
      h('span', { class: 'badge st st-succeeded', title: 'delivered' }, `${c.delivered} delivered`), ' ',
      c.pending ? h('span', { class: 'badge st st-pending', title: 'pending' }, `${c.pending} pending`) : null, ' ',
      c.failed ? h('span', { class: 'badge st st-failed', title: 'failed after every retry' }, `${c.failed} failed`) : null),
    h('td', {}, lastDelivery(w)),
    h('td', {}, h('div', { class: 'btn-row' }, showLog, del))), log];
}

function addForm(roles, reload) {
  const ids = { url: nextId('wh-url'), secret: nextId('wh-secret') };
  const errors = {};
  const field = (path, label, input, hint) => {
    errors[path] = h('p', { class: 'field-error', id: nextId('err'), hidden: true });
    return h('div', { class: 'field', dataset: { path } }, h('label', { for: input.id }, label),
      hint ? h('p', { class: 'hint' }, hint) : null, errors[path], input);
  };
  const url = h('input', { id: ids.url, name: 'url', type: 'url', required: true, placeholder: 'https://oncall.example.org/beacon', autocomplete: 'off' });
  const secret = h('input', { id: ids.secret, name: 'secret', type: 'password', required: true, minlength: 16, autocomplete: 'new-password' });
  const boxes = roles.map((r) => h('label', { class: 'check' },
    h('input', { type: 'checkbox', name: 'roles', value: r, checked: r === 'responder' }), ` ${r} `,
    h('span', { class: 'muted small' }, `(${EVENTS_OF[r] || ''})`)));
  errors['$.roles'] = h('p', { class: 'field-error', hidden: true });
  const form = h('form', { class: 'card form', novalidate: true, 'aria-labelledby': 'wh-add-title' },
    h('h3', { id: 'wh-add-title' }, 'Add a webhook'),
    field('$.url', 'URL', url, 'https://… receives a JSON POST; mailto:… an e-mail (if the node has an SMTP server). Receivers check X-Beacon-Signature: sha256=HMAC-SHA256(secret, body).'),
    h('fieldset', { class: 'field', dataset: { path: '$.roles' } }, h('legend', {}, 'Roles: which events it receives'), errors['$.roles'], ...boxes),
    field('$.secret', 'Shared secret (16 characters or more; never shown again)', secret),
    h('div', { class: 'btn-row' }, h('button', { type: 'submit', class: 'btn btn-primary' }, 'Add webhook')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    Object.values(errors).forEach((e) => { e.hidden = true; e.closest('.field')?.classList.remove('has-error'); });
    const body = { url: url.value.trim(), secret: secret.value, roles: [...form.querySelectorAll('input[name=roles]:checked')].map((b) => b.value) };
    try {
      const w = await api('/api/v1/webhooks', { method: 'POST', body });
      toast(`Webhook ${w.id} added.`, 'ok');
      announce(`Webhook to ${w.url} added.`);
      form.reset();
      reload();
    } catch (e) {
      const problems = e.problems || [{ path: '$', message: e.message }];
      problems.forEach((p) => {
        const el = errors[p.path];
        if (!el) { toast(p.message, 'error'); return; }
        el.hidden = false;
        el.textContent = p.message;
        el.closest('.field')?.classList.add('has-error');
      });
    }
  });
  return form;
}

export async function render(root, ctx) {
  const list = h('div', { id: 'n-list' });
  const hooks = h('div', { id: 'wh-list' });
  root.append(h('section', { 'aria-labelledby': 'n-title' },
    h('h2', { id: 'n-title' }, 'Notifications'),
    h('p', { class: 'muted' }, 'What playbook runs asked this node\'s people to do. Webhooks deliver the same to your on-call tools.'),
    list));
  const loadNotes = async () => {
    try { clear(list).append(notificationsTable((await api('/api/v1/notifications')).items)); } catch (e) { clear(list).append(notice('error', h('p', {}, e.message))); }
  };
  const loadHooks = async () => {
    let data;
    try { data = await api('/api/v1/webhooks'); } catch (e) { clear(hooks).append(notice('error', h('p', {}, e.message))); return; }
    if (!data.items.length) { clear(hooks).append(h('div', { class: 'card' }, empty('No webhooks.', 'Add one below to have notifications POSTed to your on-call tools.'))); return; }
    clear(hooks).append(h('div', { class: 'table-wrap' }, h('table', {},
      h('caption', { class: 'visually-hidden' }, 'Webhooks'),
      h('thead', {}, h('tr', {}, ['URL', 'Roles', 'Deliveries', 'Last delivery', ''].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, data.items.flatMap((w) => webhookRow(w, loadHooks))))));
  };
  if (ctx.can('operator')) {
    const refresh = h('button', { type: 'button', class: 'btn' }, 'Refresh');
    refresh.addEventListener('click', () => { loadHooks(); });
    root.append(h('section', { 'aria-labelledby': 'wh-title' },
      h('h2', { id: 'wh-title' }, 'Webhooks'),
      h('p', { class: 'muted' }, 'Each event is POSTed with its HMAC signature and retried with backoff (6 attempts over about 5 minutes at time scale 1); a delivery that never succeeds is marked failed.'),
      h('div', { class: 'btn-row' }, refresh), hooks, addForm(ctx.vocab.webhook_roles || Object.keys(EVENTS_OF), loadHooks)));
  }
  const reload = debounce(() => { loadNotes(); if (ctx.can('operator')) loadHooks(); }, 400);
  on('run', reload);
  on('escalation', reload);
  on('reconnected', reload);
  on('webhook', reload);
  await loadNotes();
  if (ctx.can('operator')) await loadHooks();
}
