// One registered model: its current registration, versions, the incidents that name it and
// its capability evaluations (approaching results flagged), the safety case's reviews (each
// re-verified against the signer's roster key), and the assurance flag.

import { api } from '../api.js';
import { clear, empty, h, notice, timeEl } from '../dom.js';
import { on } from '../live.js';
import { caseStatus, flagBadge, flagNotice } from './model-flag.js';

const list = (title, items, row, none) => h('section', { class: 'model-section' }, h('h2', {}, title),
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
    const reviews = m.safety_case.reviews || [];
    clear(root).append(
      flagNotice(m.assurance_flag),
      h('dl', { class: 'card facts' },
        h('dt', {}, 'Registered by'), h('dd', {}, m.origin),
        h('dt', {}, 'Deployed in'), h('dd', {}, (m.deployment_jurisdictions || []).join(', ') || 'none stated'),
        h('dt', {}, 'Training compute'), h('dd', {}, m.training_compute_flop ? `${m.training_compute_flop.toExponential(1)} FLOP` : 'not stated'),
        h('dt', {}, 'Safety case'), h('dd', { id: 'safety-case' }, `${caseStatus(m)} `,
          m.safety_case.reference ? h('span', { class: 'mono small' }, `${m.safety_case.reference} `) : null, flagBadge(m.assurance_flag))),
      list('Safety-case reviews', reviews, (r) => h('span', { class: 'review', dataset: { verified: String(r.verified), kind: r.reviewer_kind || 'member' } },
        h('span', { class: `badge state-${r.verdict === 'approved' ? 'met' : 'overdue'}` }, r.verdict), ' ',
        r.verified ? h('span', { class: 'verified-mark', title: `signature verified against ${r.origin}'s roster key` }, '✓ verified')
          : h('span', { class: 'unverified-mark' }, '✗ not verified'),
        ` ${r.reviewer}`, r.reviewer_kind === 'independent' ? h('span', { class: 'muted' }, ' (independent evaluator)') : null,
        ` · signed by ${r.origin} · `, timeEl(r.issued_at), h('div', { class: 'small prose' }, r.findings)),
      'No review recorded.'),
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
  on('safety-case-review', () => load());
  on('training-run', () => load());
  on('evaluation', () => load());
  on('incident', () => load());
  await load();
}
