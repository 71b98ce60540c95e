// The model registry: every registered model (current revision), and the deadlines
// training-run declarations started.

import { api } from '../api.js';
import { clear, empty, h, notice, timeEl } from '../dom.js';
import { on } from '../live.js';
import { caseStatus, flagBadge } from './model-flag.js';

const table = (caption, cols, rows) => h('div', { class: 'table-wrap' }, h('table', {},
  h('caption', { class: 'visually-hidden' }, caption),
  h('thead', {}, h('tr', {}, cols.map((c) => h('th', { scope: 'col' }, c)))),
  h('tbody', {}, rows)));

export async function render(root, ctx) {
  // An evaluator reads the registry only: no deadlines, no preparedness figures (403 for it).
  const staff = !ctx.can('evaluator');
  if (ctx.can('operator', 'provider')) {
    root.append(h('nav', { class: 'btn-row', 'aria-label': 'Declarations', id: 'declare' },
      h('a', { class: 'btn', href: '/file/training-run' }, 'Declare a training run'),
      h('a', { class: 'btn', href: '/file/evaluation' }, 'Record an evaluation'),
      h('a', { class: 'btn', href: '/file/monitoring' }, 'Report a failed check')));
  }
  if (ctx.can('evaluator')) {
    root.append(notice('info', h('p', {}, `You review as ${ctx.organisation}, an independent evaluator registered at ${ctx.node}. Open a model to record a review of its safety case.`)));
  }
  const figures = h('section', { 'aria-labelledby': 's-h' });
  const models = h('section', { 'aria-labelledby': 'm-h' });
  const clocks = h('section', { 'aria-labelledby': 'd-h' });
  root.append(figures, models, clocks);
  const load = async () => {
    let m; let d; let s;
    try {
      [m, d, s] = await Promise.all([api('/api/v1/models'),
        staff ? api('/api/v1/deadlines') : null, staff ? api('/api/v1/preparedness/summary') : null]);
    } catch (e) { clear(models).append(notice('error', h('p', {}, e.message))); return; }
    if (staff) clear(figures).append(h('h2', { id: 's-h' }, 'Preparedness'), h('ul', { class: 'plain' },
      h('li', { id: 'flagged-count' }, `Above a threshold without an approved safety case: ${s.models_above_threshold_without_approved_safety_case}`),
      h('li', {}, `Models without an approved safety case: ${s.models_without_approved_safety_case}`),
      h('li', {}, `Declarations above a compute threshold: ${Object.entries(s.declarations_above_threshold).map(([k, n]) => `${k} ${n}`).join(', ') || 'none'}`),
      h('li', {}, `Tripwire crossings: ${s.tripwire_crossings.map((c) => `${c.domain} ${c.level} ${c.n}`).join(', ') || 'none'}`)));
    clear(models).append(h('h2', { id: 'm-h' }, 'Registered models'), m.items.length
      ? table('Registered models', ['Model', 'Developer', 'Version', 'Deployed in', 'Safety case', 'Registered by'],
        m.items.map((i) => h('tr', { dataset: { model: i.id, flagged: String(Boolean(i.assurance_flag && i.assurance_flag.flagged)) } },
          h('td', {}, h('a', { href: `/models/${encodeURIComponent(i.id)}` }, i.model)),
          h('td', {}, i.developer), h('td', {}, i.version),
          h('td', {}, (i.deployment_jurisdictions || []).join(', ')),
          h('td', {}, caseStatus(i), ' ', flagBadge(i.assurance_flag)),
          h('td', {}, i.origin))))
      : h('div', { class: 'card' }, empty('No model is registered.', 'POST /api/v1/models registers one.')));
    if (staff) clear(clocks).append(h('h2', { id: 'd-h' }, 'Regulatory deadlines'), d.items.length
      ? table('Deadlines, soonest first', ['Subject', 'Developer', 'Model', 'Regime', 'Due', 'State'],
        d.items.map((i) => h('tr', {}, h('td', { class: 'mono small' }, i.subject),
          h('td', {}, i.developer || ''), h('td', {}, i.model || ''), h('td', {}, i.regime),
          h('td', { class: 'nowrap' }, timeEl(i.due_at)),
          h('td', {}, h('span', { class: `badge state-${i.state}` }, i.state)))))
      : h('div', { class: 'card' }, empty('No deadline is running.', 'A training-run declaration above a compute threshold starts one.')));
  };
  on('model', () => load());
  on('evaluation', () => load());
  on('training-run', () => load());
  on('deadline', () => load());
  on('reconnected', () => load());
  await load();
}
