// One registered model: its current registration, versions, the incidents that name it and
// its capability evaluations (approaching results flagged).

import { api } from '../api.js';
import { clear, empty, h, notice, timeEl } from '../dom.js';
import { on } from '../live.js';

const list = (title, items, row, none) => h('section', {}, h('h2', {}, title),
  items.length ? h('ul', { class: 'plain' }, items.map((i) => h('li', {}, row(i))))
    : h('p', { class: 'muted' }, none));

export async function render(root, ctx) {
  const load = async () => {
    let m;
    try { m = await api(`/api/v1/models/${encodeURIComponent(ctx.id)}`); } catch (e) {
      clear(root).append(notice('error', h('p', {}, e.message))); return;
    }
    document.getElementById('page-title').textContent = `${m.developer} ${m.model} ${m.version}`;
    const approaching = new Set(m.approaching);
    clear(root).append(
      h('dl', { class: 'card facts' },
        h('dt', {}, 'Registered by'), h('dd', {}, m.origin),
        h('dt', {}, 'Deployed in'), h('dd', {}, (m.deployment_jurisdictions || []).join(', ') || 'none stated'),
        h('dt', {}, 'Training compute'), h('dd', {}, m.training_compute_flop ? `${m.training_compute_flop.toExponential(1)} FLOP` : 'not stated'),
        h('dt', {}, 'Safety case'), h('dd', {}, m.safety_case ? `${m.safety_case.status} ${m.safety_case.reference || ''}` : 'missing')),
      list('Versions', m.versions, (v) => [`${v.version} (revision ${v.revision}) `, timeEl(v.issued_at)], 'None.'),
      list('Incidents', m.incidents, (i) => [h('a', { href: `/incidents/${encodeURIComponent(i.id)}` }, i.title), ` ${i.severity}, ${i.origin}`], 'No report names this model.'),
      list('Evaluations', m.evaluations, (e) => [
        h('span', { class: `badge level-${e.level}` }, approaching.has(e.id) ? 'approaching' : e.level),
        ` ${e.domain}: ${e.score} (${e.evaluator}, ${e.suite}) `,
        e.incident_id ? h('a', { href: `/incidents/${encodeURIComponent(e.incident_id)}` }, 'report') : null],
      'No evaluation recorded.'),
    );
  };
  on('model', () => load());
  on('evaluation', () => load());
  on('incident', () => load());
  await load();
}
