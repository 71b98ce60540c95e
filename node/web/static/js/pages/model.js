// One registered model: its current registration, versions, the incidents that name it and
// its capability evaluations (approaching results flagged), the safety case's reviews (each
// re-verified against the signer's roster key), and the assurance flag.

import { api, ApiError } from '../api.js';
import { announce, clear, h, notice, timeEl } from '../dom.js';
import { area, field, problemsView, showApiError } from './form-kit.js';
import { on } from '../live.js';
import { caseStatus, flagBadge, flagNotice } from './model-flag.js';

const list = (title, items, row, none) => h('section', { class: 'model-section' }, h('h2', {}, title),
  items.length ? h('ul', { class: 'plain' }, items.map((i) => h('li', {}, row(i))))
    : h('p', { class: 'muted' }, none));

// "Record a review": an evaluator (under its organisation, signed by this node) or an operator
// of another member (a member may not review a model it registered) posts a verdict.
function reviewForm(ctx, reload) {
  const verdicts = h('fieldset', { class: 'group field', dataset: { field: '$.verdict' } },
    h('legend', {}, 'Verdict', h('span', { class: 'req' }, ' (required)')), h('div', { class: 'errors' }),
    h('div', { class: 'radios' }, ['approved', 'rejected'].map((v) => h('label', {},
      h('input', { type: 'radio', name: 'verdict', value: v }), h('span', {}, v)))));
  const findings = area('findings', 4);
  const summary = h('div', { id: 'review-errors', tabindex: '-1' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Sign and record the review');
  const who = ctx.organisation ? `as ${ctx.organisation} (independent evaluator); ${ctx.node} signs it`
    : `signed by ${ctx.node}`;
  const form = h('form', { class: 'form card', id: 'review-form', novalidate: true, 'aria-labelledby': 'review-h' },
    h('h2', { id: 'review-h' }, 'Record a review'), summary,
    h('p', { class: 'muted' }, `A verdict on this model's safety case, ${who}; every member verifies it.`),
    verdicts, field('$.findings', 'Findings', findings, { required: true, wide: true }),
    h('div', { class: 'form-actions btn-row' }, submit));
  const view = problemsView(form, summary, 'the review');
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    submit.disabled = true;
    try {
      const verdict = form.querySelector('input[name=verdict]:checked')?.value;
      const body = { findings: findings.value.trim(), ...(verdict ? { verdict } : {}) };
      await api(`/api/v1/safety-cases/${encodeURIComponent(ctx.id)}/reviews`, { method: 'POST', body });
      view.clearErrors();
      form.reset();
      announce('Review signed and recorded.');
      await reload();
    } catch (ex) {
      if (ex instanceof ApiError) showApiError(view, ex);
      else view.showErrors([{ path: '$', message: ex.message }]);
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

export async function render(root, ctx) {
  const shown = h('div', { id: 'model-view' });
  const reviewSlot = h('div', { id: 'review-slot' });
  root.append(shown, reviewSlot);
  const staff = !ctx.can('evaluator');
  const load = async () => {
    let m;
    try { m = await api(`/api/v1/models/${encodeURIComponent(ctx.id)}`); } catch (e) {
      clear(shown).append(notice('error', h('p', {}, e.message))); return;
    }
    // Kept across reloads (a live update must not wipe a half-written review).
    const mayReview = ctx.can('evaluator') || (ctx.can('operator') && m.origin !== ctx.node);
    if (mayReview && !reviewSlot.firstChild) reviewSlot.append(reviewForm(ctx, load));
    document.getElementById('page-title').textContent = `${m.developer} ${m.model} ${m.version}`;
    const approaching = new Set(m.approaching);
    const reviews = m.safety_case.reviews || [];
    // flagNotice is null for a model that is not flagged: append() would print "null".
    clear(shown).append(...[
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
        ` ${r.reviewer}`, r.reviewer_kind === 'independent' && !r.reviewer.includes('independent') ? h('span', { class: 'muted' }, ' (independent evaluator)') : null,
        ` · signed by ${r.origin} · `, timeEl(r.issued_at), h('div', { class: 'small prose' }, r.findings)),
      'No review recorded.'),
      list('Versions', m.versions, (v) => [`${v.version} (revision ${v.revision}) `, timeEl(v.issued_at)], 'None.'),
      list('Incidents', m.incidents, (i) => [staff ? h('a', { href: `/incidents/${encodeURIComponent(i.id)}` }, i.title) : i.title, ` ${i.severity}, ${i.origin}`], 'No report names this model.'),
      list('Evaluations', m.evaluations, (e) => [
        h('span', { class: `badge level-${e.level}` }, approaching.has(e.id) ? 'approaching' : e.level),
        ` ${e.domain}: ${e.score} (${e.evaluator}, ${e.suite}) `,
        e.incident_id ? h('a', { href: `/incidents/${encodeURIComponent(e.incident_id)}` }, 'report') : null],
      'No evaluation recorded.'),
    ].filter(Boolean));
  };
  on('model', () => load());
  on('safety-case-review', () => load());
  on('training-run', () => load());
  on('evaluation', () => load());
  on('incident', () => load());
  await load();
}
