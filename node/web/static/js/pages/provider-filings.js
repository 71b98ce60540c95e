// Provider filings held for review before exchange (exchange_provider_filings = "after-review"):
// each pending filing with what the provider sent, and, for an operator, Release (sign and
// publish now) and Reject (with a reason; never exchanged). Decided filings are listed below.

import { api } from '../api.js';
import { clear, empty, h, notice, timeEl, toast } from '../dom.js';
import { on } from '../live.js';

function summaryOf(f) {
  const b = f.body || {};
  if (f.kind === 'incident') return `${b.title || ''} (${b.severity || ''})`;
  if (f.kind === 'evaluation') return `${b.model} ${b.version}: ${b.domain} score ${b.score}`;
  if (f.kind === 'training-run') return `${b.model}: ${Number(b.compute_flop).toExponential(1)} FLOP`;
  if (f.kind === 'monitoring') return `${b.model} ${b.version}: ${b.check} failed; ${b.action}`;
  return '';
}

function pendingCard(f, ctx, reload) {
  const reason = h('input', { type: 'text', name: 'reason', id: `reason-${f.id}`, maxlength: 2000, 'aria-label': `Reason for ${f.id}` });
  const decide = async (action) => {
    const text = reason.value.trim();
    if (action === 'reject' && !text) { toast('Say why the filing is rejected.', 'error'); reason.focus(); return; }
    try {
      const out = await api(`/api/v1/provider-filings/${encodeURIComponent(f.id)}/${action}`,
        { method: 'POST', body: text ? { reason: text } : {} });
      toast(action === 'release' ? `Released: signed and sent as ${out.message_id}.` : 'Rejected: it will not be exchanged.', 'ok');
      reload();
    } catch (e) { toast(e.message, 'error'); }
  };
  return h('li', { class: 'card filing', dataset: { filing: f.id, kind: f.kind } },
    h('p', {}, h('span', { class: 'badge' }, f.kind), ' ', h('strong', {}, f.developer), ` · ${summaryOf(f)}`),
    h('p', { class: 'small muted' }, `${f.id} · filed by token ${f.filed_by} · `, timeEl(f.filed_at)),
    h('details', {}, h('summary', {}, 'What the provider sent'), h('pre', { class: 'raw' }, JSON.stringify(f.body, null, 2))),
    ctx.can('operator') ? h('div', { class: 'filing-actions' },
      h('label', { for: `reason-${f.id}` }, 'Reason ', reason),
      h('button', { type: 'button', class: 'btn btn-primary', onclick: () => decide('release') }, 'Release'),
      h('button', { type: 'button', class: 'btn btn-danger', onclick: () => decide('reject') }, 'Reject')) : null);
}

export async function render(root, ctx) {
  const load = async () => {
    let pending; let decided;
    try {
      [pending, decided] = await Promise.all([api('/api/v1/provider-filings?state=pending'), api('/api/v1/provider-filings')]);
    } catch (e) { clear(root).append(notice('error', h('p', {}, e.message))); return; }
    const done = decided.items.filter((f) => f.state !== 'pending');
    clear(root).append(
      h('p', { class: 'muted', id: 'filing-policy' }, pending.policy === 'after-review'
        ? 'This node holds a provider\'s reports, declarations, evaluations and monitoring signals until an operator releases them; nothing pending leaves the node.'
        : 'This node exchanges provider filings immediately (exchange_provider_filings = "immediately").'),
      h('section', { 'aria-labelledby': 'p-h' }, h('h2', { id: 'p-h' }, `Pending (${pending.items.length})`),
        pending.items.length ? h('ul', { class: 'plain', id: 'pending' }, pending.items.map((f) => pendingCard(f, ctx, load)))
          : h('div', { class: 'card' }, empty('Nothing is waiting for review.', ''))),
      h('section', { 'aria-labelledby': 'd-h' }, h('h2', { id: 'd-h' }, 'Decided'),
        done.length ? h('ul', { class: 'plain small', id: 'decided' }, done.map((f) => h('li', { dataset: { filing: f.id, state: f.state } },
          h('span', { class: 'badge' }, f.state), ` ${f.kind} · ${f.developer} · ${summaryOf(f)} · by ${f.decided_by} `,
          timeEl(f.decided_at), f.reason ? ` · “${f.reason}”` : '',
          f.message_id && f.kind === 'incident' ? [' · ', h('a', { href: `/incidents/${encodeURIComponent(f.message_id)}` }, f.message_id)] : '')))
          : h('p', { class: 'muted' }, 'None yet.')));
  };
  on('provider-filing', () => load());
  on('reconnected', () => load());
  await load();
}
