// The escalation inbox: what peers escalated to this node, with live deadline countdowns and,
// for responders, Acknowledge / Decline. The server refuses other roles (403) in any case.

import { api } from '../api.js';
import {
  announce, clear, countdown, debounce, empty, h, nextId, notice, redLineTags, severityBadge,
  statusBadge, timeEl, toast,
} from '../dom.js';
import { on } from '../live.js';

// Take an escalation (or hand it to someone): who at this node owns the answer.
function assignRow(item, ctx, reload) {
  if (!ctx.can('responder', 'operator')) return item.assignee ? h('p', { class: 'small' }, 'Taken by ', h('strong', {}, item.assignee)) : null;
  const id = nextId('assignee');
  const who = h('input', { id, type: 'text', name: 'assignee', value: item.assignee || '', placeholder: 'name or desk', size: 18 });
  const form = h('form', { class: 'assign-form btn-row' },
    h('label', { for: id, class: 'small' }, item.assignee ? 'Taken by' : 'Assign to'), who,
    h('button', { type: 'submit', class: 'btn' }, item.assignee ? 'Reassign' : 'Assign'),
    h('button', { type: 'button', class: 'btn', dataset: { take: '1' } }, 'Take it'));
  const send = async (assignee) => {
    try {
      await api(`/api/v1/escalations/${encodeURIComponent(item.id)}/assign`, { method: 'POST', body: assignee ? { assignee } : {} });
      toast(assignee ? `Escalation ${item.id} assigned to ${assignee}.` : `You took escalation ${item.id}.`, 'ok');
      reload();
    } catch (e) { toast(e.message, 'error'); }
  };
  form.addEventListener('submit', (e) => { e.preventDefault(); if (who.value.trim()) send(who.value.trim()); else who.focus(); });
  form.querySelector('[data-take]').addEventListener('click', () => send(null));
  return form;
}

// Operators co-sign a pending emergency here: how many have, and how many it takes.
async function emergencyCard(ctx, reload) {
  let em;
  try { em = await api('/api/v1/emergency'); } catch { return null; }
  if (em.state === 'none') return null;
  const mine = em.declarations.some((d) => d.by === ctx.node);
  const card = h('section', { class: 'card esc esc-overdue', 'aria-labelledby': 'h-emergency', dataset: { emergency: em.id } },
    h('h2', { id: 'h-emergency' }, `Emergency ${em.state}: ${em.count} of ${em.threshold} co-signatures`),
    h('p', { class: 'small' }, `Proposed by ${em.origin} for incident `, h('a', { href: `/incidents/${encodeURIComponent(em.incident_id)}` }, em.incident_id),
      `. Declared by: ${em.declarations.map((d) => d.by).join(', ') || 'nobody yet'}. Members asked: ${em.members.join(', ')}.`));
  if (em.state === 'pending' && ctx.can('operator') && em.members.includes(ctx.node) && !mine) {
    const btn = h('button', { type: 'button', class: 'btn btn-danger' }, 'Co-sign the emergency');
    btn.addEventListener('click', async () => {
      btn.disabled = true;
      try {
        await api(`/api/v1/runs/${encodeURIComponent(em.run_id)}/declare`, { method: 'POST', body: {} });
        toast('Emergency co-signed: the declaration is signed and sent.', 'ok');
        reload();
      } catch (e) { btn.disabled = false; toast(e.message, 'error'); }
    });
    card.append(h('div', { class: 'btn-row' }, btn));
  } else if (mine) card.append(h('p', { class: 'small' }, `${ctx.node} has co-signed.`));
  return card;
}

function openCard(item, ctx, reload) {
  const headingId = nextId('esc');
  const left = Date.parse(item.deadline) - Date.now();
  const card = h('article', { class: `card esc${item.overdue ? ' esc-overdue' : ''}`, 'aria-labelledby': headingId, dataset: { escalation: item.id } });
  const cd = countdown(item.deadline, { start: item.received_at });
  const actions = h('div', { class: 'esc-actions' });
  if (ctx.can('responder')) {
    const ack = h('button', { type: 'button', class: 'btn btn-ack' }, 'Acknowledge');
    const decline = h('button', { type: 'button', class: 'btn btn-danger', 'aria-expanded': 'false' }, 'Decline…');
    const reasonId = nextId('reason');
    const reason = h('textarea', { id: reasonId, name: 'reason', rows: 2, required: true });
    const err = h('p', { class: 'field-error', hidden: true, id: `${reasonId}-err` });
    const declineForm = h('form', { class: 'decline-form', hidden: true, novalidate: true },
      h('div', { class: 'field' }, h('label', { for: reasonId }, 'Why do you decline? (required)'), err, reason),
      h('div', { class: 'btn-row' }, h('button', { type: 'submit', class: 'btn btn-danger' }, 'Send decline'),
        h('button', { type: 'button', class: 'btn', dataset: { cancel: '1' } }, 'Cancel')));
    const answer = async (kind, body) => {
      ack.disabled = true;
      try {
        await api(`/api/v1/escalations/${encodeURIComponent(item.id)}/${kind}`, { method: 'POST', body });
        const what = kind === 'ack' ? 'Acknowledged' : 'Declined';
        toast(`${what}: escalation from ${item.origin} on ${item.incident_id}. Signed and sent to ${item.origin}.`, 'ok');
        announce(`${what} the escalation from ${item.origin}.`);
        reload();
      } catch (e) {
        ack.disabled = false;
        if (kind === 'decline') { err.hidden = false; err.textContent = e.message; reason.setAttribute('aria-invalid', 'true'); reason.setAttribute('aria-describedby', err.id); } else toast(e.message, 'error');
      }
    };
    ack.addEventListener('click', () => answer('ack', {}));
    decline.addEventListener('click', () => {
      declineForm.hidden = !declineForm.hidden;
      decline.setAttribute('aria-expanded', String(!declineForm.hidden));
      if (!declineForm.hidden) reason.focus();
    });
    declineForm.addEventListener('submit', (e) => {
      e.preventDefault();
      if (!reason.value.trim()) { err.hidden = false; err.textContent = 'Say why you decline.'; reason.setAttribute('aria-invalid', 'true'); reason.setAttribute('aria-describedby', err.id); reason.focus(); return; }
      answer('decline', { reason: reason.value.trim() });
    });
    declineForm.querySelector('[data-cancel]').addEventListener('click', () => { declineForm.hidden = true; decline.setAttribute('aria-expanded', 'false'); decline.focus(); });
    actions.append(h('div', { class: 'btn-row' }, ack, decline), declineForm);
  }
  card.append(h('div', { class: 'esc-grid' },
    h('div', {},
      h('h2', { id: headingId }, `Tier ${item.tier} escalation from ${item.origin}`),
      h('div', { class: 'meta-strip' }, item.severity ? severityBadge(item.severity) : null, statusBadge(item.status),
        h('span', { class: 'badge st' }, `tier ${item.tier}`), (item.red_lines || []).length ? redLineTags(item.red_lines) : null,
        h('span', { class: 'small muted' }, 'received ', timeEl(item.received_at, { relative: true }))),
      h('p', {}, item.reason || 'No reason given.'),
      item.request ? h('p', {}, h('strong', {}, 'Requested: '), typeof item.request === 'string' ? item.request : JSON.stringify(item.request)) : null,
      h('p', { class: 'small' }, 'Incident ', h('a', { href: `/incidents/${encodeURIComponent(item.incident_id)}` }, item.incident_id),
        h('span', { class: 'muted' }, ' · run '), h('a', { href: `/runs/${encodeURIComponent(item.run_id)}` }, item.run_id),
        h('span', { class: 'muted' }, ` at ${item.origin} (read-only)`)), assignRow(item, ctx, reload)),
    h('div', { class: 'esc-clock' }, h('span', { class: 'small muted' }, 'Answer'), cd,
      h('span', { class: 'small muted' }, 'deadline ', timeEl(item.deadline)))), actions);
  if (left < 0) card.classList.add('esc-overdue');
  return card;
}

function answeredTable(items) {
  return h('div', { class: 'table-wrap' }, h('table', {},
    h('caption', { class: 'visually-hidden' }, 'Answered and closed escalations'),
    h('thead', {}, h('tr', {}, ['Status', 'From', 'Tier', 'Incident', 'Reason', 'Deadline', 'Answered'].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, items.map((i) => h('tr', { dataset: { escalation: i.id } },
      h('td', {}, statusBadge(i.status)), h('td', {}, h('strong', {}, i.origin)), h('td', {}, String(i.tier)),
      h('td', {}, h('a', { class: 'id-link', href: `/incidents/${encodeURIComponent(i.incident_id)}` }, i.incident_id)),
      h('td', { class: 'break' }, i.reason || ''), h('td', { class: 'nowrap' }, timeEl(i.deadline)),
      h('td', { class: 'small' }, i.answered_at ? [timeEl(i.answered_at, { relative: true }), h('div', { class: 'muted' }, i.answered_by || '')] : '—'))))));
}

export async function render(root, ctx) {
  const intro = ctx.can('responder') ? null : notice('info', h('p', {},
    `Only a responder can acknowledge or decline an escalation; you are signed in as ${ctx.role}.`));
  const openBox = h('section', { 'aria-labelledby': 'h-open' });
  const doneBox = h('section', { 'aria-labelledby': 'h-done' });
  root.append(...[intro, openBox, doneBox].filter(Boolean));
  let known = null;

  const load = async () => {
    let data;
    try { data = await api('/api/v1/escalations'); } catch (e) {
      clear(openBox).append(notice('error', h('p', {}, e.message)));
      return;
    }
    // Grouped by incident (soonest deadline first within and across groups).
    const open = data.items.filter((i) => i.status === 'open').sort((a, b) => a.deadline.localeCompare(b.deadline));
    const groups = new Map();
    for (const i of open) (groups.get(i.incident_id) || groups.set(i.incident_id, []).get(i.incident_id)).push(i);
    const rest = data.items.filter((i) => i.status !== 'open');
    if (known) {
      for (const i of open) if (!known.has(i.id)) announce(`New tier ${i.tier} escalation from ${i.origin}, deadline ${i.deadline}.`);
    }
    known = new Set(data.items.map((i) => i.id));
    const active = document.activeElement;
    const keepFocus = active && openBox.contains(active) && active.tagName === 'TEXTAREA' ? active : null;
    if (keepFocus) return; // a responder is typing a decline reason: do not redraw under them
    const emergency = await emergencyCard(ctx, reload);
    clear(openBox).append(...(emergency ? [emergency] : []), h('h2', { id: 'h-open' }, `Waiting for an answer (${open.length})`),
      ...(open.length ? [...groups.values()].map((items) => h('section', { class: 'esc-group', dataset: { incident: items[0].incident_id } },
        h('h3', {}, items[0].title || items[0].incident_id, ' ', h('span', { class: 'small muted' }, `${items[0].incident_id} · ${items.length} escalation(s)`)),
        ...items.map((i) => openCard(i, ctx, reload)))) : [ h('div', { class: 'card' }, empty('Nothing is waiting for this node.', 'Escalations from peers appear here live, with their deadlines.'))]));
    clear(doneBox).append(h('h2', { id: 'h-done' }, `Answered and closed (${rest.length})`),
      rest.length ? answeredTable(rest) : h('p', { class: 'muted' }, 'None yet.'));
  };
  const reload = debounce(load, 150);
  on('escalation', reload);
  on('run', reload);
  on('reconnected', reload);
  await load();
}
