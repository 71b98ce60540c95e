// Peers: heartbeats, roster versions, outboxes, and how this node witnesses each peer's log.

import { api } from '../api.js';
import {
  ago, clear, debounce, h, notice, now, statusBadge, timeEl,
} from '../dom.js';
import { on } from '../live.js';

const BEAT_S = 2; // node/bus/transport.py HEARTBEAT_SECONDS

function liveness(beat) {
  if (!beat) return ['dot-unknown', 'no heartbeat yet'];
  const age = (now() - Date.parse(beat.seen_at || beat.at)) / 1000;
  if (age < BEAT_S * 3) return ['dot-ok', 'live'];
  if (age < BEAT_S * 15) return ['dot-warn', 'late'];
  return ['dot-bad', 'silent'];
}

function beatCell(beat) {
  const [dot, word] = liveness(beat);
  return h('span', { class: 'stat', dataset: { beat: beat ? (beat.seen_at || beat.at) : '' } },
    h('span', { class: `dot ${dot}` }), h('strong', {}, word),
    beat ? h('span', { class: 'muted small' }, ` · ${ago(beat.seen_at || beat.at)}`) : null);
}

function witnessCells(cp, self) {
  if (!cp) return [h('td', { class: 'muted' }, 'none seen'), h('td', { class: 'muted' }, '—')];
  const cosigners = cp.cosigned_by.filter((w) => w !== cp.origin);
  return [
    h('td', {}, h('strong', {}, `size ${cp.size}`), h('div', { class: 'small muted' }, timeEl(cp.issued_at, { relative: true }))),
    h('td', {}, statusBadge(cp.status),
      self ? null : ' ', self ? null : (cp.witnessed ? statusBadge('acked', 'witnessed') : statusBadge('pending', 'not yet witnessed')),
      h('div', { class: 'small muted' }, self ? 'this node\'s own log' : (cp.cosigned_by_me ? 'cosigned by this node' : 'not cosigned by this node')),
      h('div', { class: 'small' }, 'Cosigners: ', cosigners.length ? cosigners.join(', ') : 'none yet'),
      cp.detail ? h('div', { class: 'small muted' }, cp.detail) : null),
  ];
}

export async function render(root, ctx) {
  const warn = h('div', { id: 'equivocations' });
  const table = h('div', { id: 'peer-table' });
  root.append(h('p', { class: 'muted' }, 'Heartbeats arrive every few seconds over NATS; checkpoints are the signed sizes and roots of each member\'s transparency log, which peers verify and cosign.'), warn, table);
  const checkpoints = new Map();

  const loadCheckpoints = async (ids) => {
    await Promise.all(ids.map(async (id) => {
      try {
        const d = await api(`/api/v1/log/checkpoints/${encodeURIComponent(id)}?limit=1`);
        checkpoints.set(id, d.items[0] || null);
      } catch { checkpoints.set(id, null); }
    }));
  };

  const load = async ({ withCheckpoints = true } = {}) => {
    let peers;
    let hz;
    try {
      [peers, hz] = await Promise.all([api('/api/v1/peers'), api('/healthz')]);
    } catch (e) { clear(table).append(notice('error', h('p', {}, e.message))); return; }
    const ids = [ctx.node, ...peers.items.map((p) => p.id)];
    if (withCheckpoints || !checkpoints.size) await loadCheckpoints(ids);
    const self = { id: ctx.node, role: ctx.nodeRole, jurisdiction: ctx.vocab.members.find((m) => m.id === ctx.node)?.jurisdiction || '',
      heartbeat: { seen_at: new Date(now()).toISOString(), roster_version: hz.roster_version, outbox: hz.outbox_depth } };
    const rows = [self, ...peers.items].map((p) => {
      const isSelf = p.id === ctx.node;
      const beat = p.heartbeat;
      // Heartbeats are unsigned: the node checked their shape and ranges, not their truth.
      const reported = beat?.verified === false ? 'reported by the peer in an unsigned heartbeat (checked for shape and range only)' : null;
      const rosterBehind = beat && beat.roster_version !== undefined && beat.roster_version < hz.roster_version;
      return h('tr', { dataset: { peer: p.id } },
        h('th', { scope: 'row' }, h('strong', {}, p.id), isSelf ? h('span', { class: 'small muted' }, ' (this node)') : null,
          h('div', { class: 'small muted' }, p.jurisdiction)),
        h('td', {}, p.role),
        h('td', {}, isSelf ? h('span', { class: 'stat' }, h('span', { class: `dot ${hz.nats === 'connected' ? 'dot-ok' : 'dot-bad'}` }), h('strong', {}, hz.nats)) : beatCell(beat)),
        h('td', { class: rosterBehind ? 'stat-warn' : null, title: reported }, beat?.roster_version !== undefined ? `v${beat.roster_version}` : '—', rosterBehind ? ' (behind)' : ''),
        h('td', { title: reported }, beat?.outbox !== undefined ? String(beat.outbox) : '—'),
        ...witnessCells(checkpoints.get(p.id), isSelf));
    });
    clear(table).append(h('div', { class: 'table-wrap' }, h('table', {},
      h('caption', { class: 'visually-hidden' }, 'Members, their heartbeats and log witnessing'),
      h('thead', {}, h('tr', {}, ['Member', 'Role', 'Heartbeat', 'Roster', 'Outbox', 'Last checkpoint', 'Witnessing'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, rows))));
  };

  const loadEquivocations = async () => {
    try {
      const eq = await api('/api/v1/log/equivocations');
      clear(warn).append(...eq.items.slice(0, 5).map((e) => notice('error', h('p', {},
        h('strong', {}, `Equivocation by ${e.origin}: `), `two inconsistent checkpoints at size ${e.size}, detected `,
        timeEl(e.detected_at), e.incident_id ? [' — see ', h('a', { href: `/incidents/${encodeURIComponent(e.incident_id)}` }, e.incident_id)] : ''))));
    } catch { /* shown on the next load */ }
  };

  on('peer', debounce(() => load({ withCheckpoints: false }), 300));
  on('checkpoint', debounce(() => load(), 300));
  on('reconnected', debounce(() => { load(); loadEquivocations(); }, 300));
  on('incident', debounce(loadEquivocations, 500));
  // Ages and liveness change with time even without events.
  window.setInterval(() => {
    for (const el of document.querySelectorAll('[data-beat]')) {
      const at = el.dataset.beat;
      if (at) el.replaceWith(beatCell({ seen_at: at }));
    }
  }, 1000);
  await Promise.all([load(), loadEquivocations()]);
}
