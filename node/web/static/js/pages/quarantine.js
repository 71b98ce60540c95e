// The quarantine (auditor, operator): inbound messages this node refused, with the reason.

import { api, qs } from '../api.js';
import {
  announce, clear, debounce, empty, h, notice, timeEl,
} from '../dom.js';
import { on } from '../live.js';

export async function render(root) {
  const reason = h('select', { id: 'q-reason', name: 'reason' }, h('option', { value: '' }, 'Every reason'));
  const counts = h('p', { id: 'q-counts', class: 'tags' });
  const table = h('div', { id: 'q-table' });
  const more = h('div', { class: 'btn-row' });
  root.append(
    h('p', { class: 'muted' }, 'Messages that failed verification (signature, origin, subject, clock skew, schema, size) are kept here with the bytes received, so an auditor can examine them. They were never applied.'),
    h('form', { class: 'card toolbar', role: 'search', 'aria-label': 'Filter the quarantine' },
      h('div', { class: 'field' }, h('label', { for: 'q-reason' }, 'Reason'), reason)),
    counts, table, more);
  let items = [];
  let next = null;

  const load = async ({ append = false } = {}) => {
    let data;
    try {
      data = await api(`/api/v1/quarantine${qs({ reason: reason.value, limit: 50, cursor: append ? next : '' })}`);
    } catch (e) { clear(table).append(notice('error', h('p', {}, e.message))); return; }
    items = append ? items.concat(data.items) : data.items;
    next = data.next;
    const current = reason.value;
    clear(reason).append(h('option', { value: '' }, 'Every reason'),
      Object.keys(data.counts).sort().map((r) => h('option', { value: r }, `${r} (${data.counts[r]})`)));
    reason.value = current;
    const byReason = Object.entries(data.counts);
    clear(counts).append(...(byReason.length ? [h('span', { class: 'muted small' }, 'Refused so far, by reason:')] : []),
      ...byReason.map(([r, n]) => h('span', { class: 'tag' }, `${r}: ${n}`)));
    clear(more);
    if (!items.length) {
      clear(table).append(h('div', { class: 'card' }, empty('Nothing in quarantine.', 'Every message this node received passed verification.')));
      return;
    }
    clear(table).append(h('div', { class: 'table-wrap' }, h('table', {},
      h('caption', { class: 'visually-hidden' }, 'Refused messages, newest first'),
      h('thead', {}, h('tr', {}, ['When', 'Reason', 'Subject', 'Detail', 'Bytes'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, items.map((i) => h('tr', {},
        h('td', { class: 'nowrap' }, timeEl(i.at)),
        h('td', {}, h('span', { class: 'badge reason' }, i.reason)),
        h('td', { class: 'mono small break' }, i.subject),
        h('td', { class: 'small break' }, i.detail, i.digest ? h('div', { class: 'digest' }, i.digest) : null),
        h('td', { class: 'small' }, h('details', {}, h('summary', { class: 'nowrap' }, `${i.size} bytes`),
          h('pre', { class: 'raw' }, i.data_b64)))))))));
    if (next) more.append(h('button', { type: 'button', class: 'btn', onclick: () => load({ append: true }) }, 'Load older entries'));
  };
  reason.addEventListener('change', () => load());
  on('quarantine', debounce((d) => { announce(`${d.count || 'New'} message(s) quarantined.`); load(); }, 300));
  on('reconnected', debounce(() => load(), 300));
  await load();
}
