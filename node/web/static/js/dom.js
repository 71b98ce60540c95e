// DOM helpers for the console. Text from the API is only ever inserted as text nodes or
// attribute values (never as HTML), so a report cannot inject markup into the console.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = Boolean(v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const c of [children].flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

export function clear(el) { el.replaceChildren(); return el; }

let uid = 0;
export function nextId(prefix = 'id') { uid += 1; return `${prefix}-${uid}`; }

// -- announcements and toasts ---------------------------------------------------------------
export function announce(message) {
  const region = document.getElementById('announcer');
  if (!region) return;
  region.textContent = '';
  window.setTimeout(() => { region.textContent = message; }, 50);
}

export function toast(message, kind = 'info', ms = 7000) {
  const box = document.getElementById('toasts');
  if (!box) return;
  const close = h('button', { type: 'button', 'aria-label': 'Dismiss' }, '×');
  const t = h('div', { class: `toast toast-${kind}`, role: kind === 'error' ? 'alert' : 'status' },
    h('span', {}, message), close);
  close.addEventListener('click', () => t.remove());
  box.append(t);
  if (ms) window.setTimeout(() => t.remove(), ms);
}

export function notice(kind, ...children) {
  return h('div', { class: `notice notice-${kind}`, role: kind === 'error' ? 'alert' : null },
    ...children);
}

export function empty(title, text) {
  return h('div', { class: 'empty' }, h('strong', {}, title), text ? h('span', {}, text) : null);
}

// -- time -----------------------------------------------------------------------------------
// The node's clock, learned from the Date header of API answers; countdowns use it so a
// responder's laptop with a wrong clock still shows the true time left.
let serverOffsetMs = 0;
export function noteServerDate(header) {
  const t = Date.parse(header || '');
  if (!Number.isNaN(t)) {
    const off = t - Date.now();
    serverOffsetMs = Math.abs(off) > 2000 ? off : 0;
  }
}
export function now() { return Date.now() + serverOffsetMs; }

export function fmtTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${d.toISOString().slice(0, 10)} ${d.toISOString().slice(11, 19)} UTC`;
}

export function duration(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  const d = Math.floor(s / 86400);
  const hh = Math.floor((s % 86400) / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = s % 60;
  if (d) return `${d} d ${hh} h`;
  if (hh) return `${hh} h ${mm} min`;
  if (mm) return `${mm} min ${String(ss).padStart(2, '0')} s`;
  return `${ss} s`;
}

export function ago(iso) {
  const t = Date.parse(iso || '');
  if (Number.isNaN(t)) return 'never';
  const ms = now() - t;
  return ms < 1500 ? 'just now' : `${duration(ms)} ago`;
}

export function timeEl(iso, { relative = false } = {}) {
  const el = h('time', { datetime: iso || '', title: fmtTime(iso) },
    relative ? ago(iso) : fmtTime(iso));
  if (relative) el.dataset.relative = '1';
  return el;
}

// A live countdown to ``deadline``: amber under half the window, red under a fifth, then overdue.
export function countdown(deadline, { start = null, done = null } = {}) {
  const el = h('span', { class: 'countdown', dataset: { deadline } });
  if (start) el.dataset.start = start;
  if (done) el.dataset.done = done;
  tickCountdown(el);
  return el;
}

export function tickCountdown(el) {
  const end = Date.parse(el.dataset.deadline);
  if (el.dataset.done) {
    el.className = 'countdown cd-done';
    el.textContent = el.dataset.done;
    return;
  }
  const left = end - now();
  const start = Date.parse(el.dataset.start || '');
  const window_ = Number.isNaN(start) ? null : end - start;
  let cls = 'cd-ok';
  if (left <= 0) cls = 'cd-overdue';
  else if (window_ ? left < window_ * 0.2 : left < 3600e3) cls = 'cd-danger';
  else if (window_ ? left < window_ * 0.5 : left < 4 * 3600e3) cls = 'cd-warn';
  el.className = `countdown ${cls}`;
  const card = el.closest('.esc');
  if (card) {
    card.classList.remove('esc-ok', 'esc-warn', 'esc-danger', 'esc-overdue');
    card.classList.add(`esc-${cls.slice(3)}`);
  }
  el.textContent = left <= 0 ? `overdue by ${duration(-left)}` : `due in ${duration(left)}`;
  el.setAttribute('title', `deadline ${fmtTime(el.dataset.deadline)}`);
}

window.setInterval(() => {
  for (const el of document.querySelectorAll('.countdown[data-deadline]')) tickCountdown(el);
  for (const el of document.querySelectorAll('time[data-relative]')) {
    el.textContent = ago(el.getAttribute('datetime'));
  }
}, 1000);

// -- badges ---------------------------------------------------------------------------------
export function severityBadge(sev) {
  return h('span', { class: `badge sev sev-${sev}`, title: `severity: ${sev}` },
    String(sev || '?').replace('-', ' '));
}

export function tlpBadge(tlp) {
  return h('span', { class: `badge tlp tlp-${tlp}`, title: `Traffic Light Protocol: ${tlp}` },
    `TLP:${tlp}`);
}

export function statusBadge(status, label) {
  return h('span', { class: `badge st st-${status}` }, label || String(status).replace(/-/g, ' '));
}

export function redLineTags(lines) {
  return (lines || []).map((l) => h('span', { class: 'badge redline', title: 'red line crossed' },
    `red line: ${l.replace(/-/g, ' ')}`));
}

export function tags(list) {
  return h('span', { class: 'tags' }, (list || []).map((t) => h('span', { class: 'tag' }, t)));
}

export function facts(pairs) {
  const dl = h('dl', { class: 'facts' });
  for (const [k, v] of pairs) {
    if (v === null || v === undefined || v === '' || (Array.isArray(v) && !v.length)) continue;
    dl.append(h('dt', {}, k), h('dd', {}, v));
  }
  return dl;
}

export function setTitle(text) {
  const h1 = document.getElementById('page-title');
  if (h1) h1.textContent = text;
  document.title = `${text} · Beacon ${document.body.dataset.node}`;
}

// Coalesce bursts (a batch of 200 imported incidents is one reload, not 200).
export function debounce(fn, ms = 250) {
  let timer = null;
  return (...args) => {
    window.clearTimeout(timer);
    timer = window.setTimeout(() => fn(...args), ms);
  };
}
