// The incident list: filters (origin, severity at least, since), full-text search, live rows.

import { api, qs } from '../api.js';
import {
  announce, clear, debounce, empty, h, notice, redLineTags, severityBadge, statusBadge, tags, timeEl,
  tlpBadge,
} from '../dom.js';
import { on } from '../live.js';

const PAGE = 50;

// A statistics chart's link (dashboard) names its group: where=dim:value (repeated), basis and
// the occurrence range. The list then shows the events that bar counts, and their total.
function chartFilter(params) {
  const where = params.getAll('where');
  const keys = ['basis', 'occurred_since', 'occurred_until'];
  if (!where.length && !keys.some((k) => params.has(k))) return null;
  const u = new URLSearchParams();
  for (const w of where) u.append('where', w);
  for (const k of keys) if (params.get(k)) u.set(k, params.get(k));
  const terms = where.map((w) => {
    const [dim, ...rest] = w.split(':');
    const value = rest.join(':');
    return `${dim.replace('_', ' ')} ${value || 'unknown'}`;
  });
  if (params.get('occurred_since') || params.get('occurred_until')) {
    terms.push(`occurred ${params.get('occurred_since') || '…'} to ${params.get('occurred_until') || '…'}`);
  }
  return { query: u.toString(), text: terms.join(', '), basis: params.get('basis') || 'all' };
}

export async function render(root, ctx) {
  const params = new URLSearchParams(window.location.search);
  const chart = chartFilter(params);
  const field = (id, label, control) => h('div', { class: 'field' }, h('label', { for: id }, label), control);
  const q = h('input', { id: 'f-q', name: 'q', type: 'search', value: params.get('q') || '',
    placeholder: 'Words in the title, description, system, developer…', autocomplete: 'off' });
  const origin = h('select', { id: 'f-origin', name: 'origin' }, h('option', { value: '' }, 'Any origin'),
    ctx.vocab.members.map((m) => h('option', { value: m.id }, `${m.id} — ${m.jurisdiction}`)));
  origin.value = params.get('origin') || '';
  const severity = h('select', { id: 'f-severity', name: 'severity' }, h('option', { value: '' }, 'Any severity'),
    ctx.vocab.severities.map((s) => h('option', { value: s }, `${s} or worse`)));
  severity.value = params.get('severity') || '';
  const since = h('input', { id: 'f-since', name: 'since', type: 'date', value: params.get('since') || '' });
  const form = h('form', { class: 'card filters', role: 'search', 'aria-label': 'Filter incidents' },
    field('f-q', 'Search', q), field('f-origin', 'Origin', origin),
    field('f-severity', 'Severity', severity), field('f-since', 'Issued since (UTC)', since),
    h('div', { class: 'btn-row' }, h('button', { type: 'submit', class: 'btn btn-primary' }, 'Apply'),
      h('button', { type: 'reset', class: 'btn' }, 'Clear')));
  const count = h('p', { id: 'result-count', role: 'status' }, '');
  if (chart) {
    root.append(h('div', { class: 'card chart-filter', id: 'chart-filter' },
      h('p', {}, 'Showing the events behind one bar of the statistics dashboard: ',
        h('strong', {}, chart.text), ` (values: ${chart.basis}). Reports linked as the same event appear once. `,
        h('a', { href: '/dashboard' }, 'Back to the dashboard'), ' · ', h('a', { href: '/' }, 'All incidents'))));
  }
  const actions = ctx.can('operator') ? h('a', { class: 'btn btn-small', href: '/file' }, 'File a report') : null;
  const results = h('div', { id: 'results' });
  const more = h('div', { class: 'btn-row', style: null });
  root.append(form, h('div', { class: 'result-line' }, count, actions), results, more);

  let seen = null; // ids on screen, to highlight rows that arrive live
  let items = [];
  let next = null;
  let total = null; // the chart's count, when the list shows a chart's bar

  const filters = () => ({
    q: q.value.trim(), origin: origin.value, severity: severity.value,
    since: since.value ? `${since.value}T00:00:00Z` : '',
  });

  async function load({ append = false, live = false } = {}) {
    const f = filters();
    let data;
    try {
      const extra = chart ? `&${chart.query}` : '';
      data = await api(`/api/v1/incidents${qs({ ...f, limit: PAGE, cursor: append ? next : '' }) || '?'}${extra}`);
    } catch (e) {
      clear(results).append(notice('error', h('p', {}, e.message)));
      return;
    }
    const fresh = live && seen ? data.items.filter((i) => !seen.has(i.id)) : [];
    items = append ? items.concat(data.items) : data.items;
    next = data.next;
    total = data.total ?? null;
    seen = new Set(items.map((i) => i.id));
    draw(new Set(fresh.map((i) => i.id)));
    for (const i of fresh.slice(0, 3)) announce(`New incident from ${i.origin}: ${i.title}`);
  }

  function draw(newIds) {
    const f = filters();
    const filtered = Boolean(f.q || f.origin || f.severity || f.since);
    count.textContent = `${items.length}${next ? '+' : ''} incident${items.length === 1 ? '' : 's'}`
      + (filtered ? ' match these filters' : '') + ', newest first';
    if (total !== null) {
      count.dataset.total = String(total);
      count.textContent = `${total} event${total === 1 ? '' : 's'} in this bar`
        + (total > items.length ? ` (${items.length}${next ? '+' : ''} shown, newest first;`
          + ' the others are reports whose detail stays at their origin, or more pages)' : ', newest first')
        + (filtered ? '; the filters above narrow the list' : '');
    }
    clear(results);
    clear(more);
    if (!items.length) {
      results.append(h('div', { class: 'card' }, filtered
        ? empty('No incidents match these filters.', 'Clear the filters or search for fewer words.')
        : empty('No incidents yet.', 'Reports filed at this node or received from peers appear here as they arrive.')));
      return;
    }
    const rows = items.map((i) => h('tr', { class: newIds.has(i.id) ? 'row-new' : null, dataset: { id: i.id } },
      h('td', {}, severityBadge(i.severity)),
      h('td', {}, tlpBadge(i.tlp)),
      h('td', { class: 'title' }, h('a', { href: `/incidents/${encodeURIComponent(i.id)}` }, i.title),
        h('div', { class: 'id' }, i.id, i.revision > 1 ? ` · revision ${i.revision}` : ''),
        i.red_lines?.length ? h('div', { class: 'tags' }, redLineTags(i.red_lines)) : null),
      h('td', { class: 'nowrap' }, h('strong', {}, i.origin)),
      h('td', {}, statusBadge(i.status)),
      h('td', {}, tags(i.harm_types)),
      h('td', {}, tags(i.affected_jurisdictions)),
      h('td', { class: 'nowrap' }, timeEl(i.issued_at, { relative: true }))));
    results.append(h('div', { class: 'table-wrap' }, h('table', {},
      h('caption', { class: 'visually-hidden' }, 'Incidents, newest first'),
      h('thead', {}, h('tr', {}, ['Severity', 'TLP', 'Title', 'Origin', 'Status', 'Harm', 'Affected', 'Issued']
        .map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, rows))));
    if (next) {
      more.append(h('button', { type: 'button', class: 'btn', onclick: () => load({ append: true }) },
        'Load older incidents'));
    }
  }

  function syncUrl() {
    const f = filters();
    const s = qs({ q: f.q, origin: f.origin, severity: f.severity, since: since.value });
    const keep = chart ? `${s ? '&' : '?'}${chart.query}` : '';
    window.history.replaceState(null, '', `/${s}${keep}`);
  }

  form.addEventListener('submit', (e) => { e.preventDefault(); syncUrl(); load(); });
  form.addEventListener('reset', () => {
    window.setTimeout(() => { q.value = ''; origin.value = ''; severity.value = ''; since.value = ''; syncUrl(); load(); }, 0);
  });
  for (const el of [origin, severity, since]) el.addEventListener('change', () => { syncUrl(); load(); });
  let typing = null;
  q.addEventListener('input', () => {
    window.clearTimeout(typing);
    typing = window.setTimeout(() => { syncUrl(); load(); }, 300);
  });

  const liveLoad = debounce(() => load({ live: true }), 200);
  on('incident', liveLoad);
  on('reconnected', liveLoad);
  await load();
}
