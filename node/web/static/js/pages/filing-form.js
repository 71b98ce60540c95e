// The three declarations an operator or a provider files about a model: a training run (AI Act
// Art. 52(1): notify within two weeks of crossing 10^25 FLOP), a capability evaluation against
// the shared tripwires, and a failed run-time check. A provider's developer is fixed to its
// token's; the node's problems are shown next to their fields.

import { api, ApiError } from '../api.js';
import { announce, clear, h } from '../dom.js';
import { area, field, filedNotice, fixedDeveloper, problemsView, select, showApiError, text, utc } from './form-kit.js';

const stamp = (name) => h('input', { type: 'datetime-local', name, step: 1 });
const number = (name, attrs = {}) => h('input', { type: 'text', inputmode: 'decimal', name, autocomplete: 'off', ...attrs });
const num = (s) => (s === '' ? undefined : (Number.isNaN(Number(s)) ? s : Number(s)));

// kind -> what it posts, how it is named, its fields ([path, label, control, options, convert])
const KINDS = {
  'training-run': {
    path: '/api/v1/training-runs', what: 'training-run declaration', button: 'Declare the training run',
    intro: 'Declaring a run records which compute thresholds it crosses and starts their regulatory clocks (AI Act Art. 52(1): notify the Commission within two weeks of knowing a model crosses 10^25 FLOP).',
    fields: () => [
      ['model', 'Model', text('model'), { required: true }],
      ['compute_flop', 'Training compute (FLOP)', number('compute_flop', { placeholder: '3e25' }), { required: true, hint: 'Cumulative compute, e.g. 3e25.' }, num],
      ['started_at', 'Training started (UTC)', stamp('started_at'), { required: true }, utc],
      ['expected_end', 'Expected end (UTC)', stamp('expected_end'), {}, utc],
      ['threshold_known_at', 'Known to cross a threshold (UTC)', stamp('threshold_known_at'), { hint: 'The clock runs from here when given.' }, utc],
      ['notified_at', 'Commission notified (UTC)', stamp('notified_at'), {}, utc],
      ['notes', 'Notes', area('notes', 3), { wide: true }],
    ],
    href: () => '/models',
  },
  evaluation: {
    path: '/api/v1/evaluations', what: 'evaluation', button: 'Record the evaluation',
    intro: 'The score is compared with the shared tripwire of its domain: at the red line the node also files an incident report, at early warning a serious hazard.',
    fields: (ctx) => [
      ['model', 'Model', text('model'), { required: true, hint: 'A registered model.' }],
      ['version', 'Version', text('version'), { required: true }],
      ['suite', 'Evaluation suite', text('suite'), { required: true }],
      ['domain', 'Domain', select('domain', (ctx.vocab.tripwire_domains || []).map((t) => ({ value: t.domain, label: `${t.domain} (${t.title})` })), 'Choose a domain'), { required: true }],
      ['score', 'Score (0 to 1)', number('score'), { required: true }, num],
      ['evaluator', 'Evaluator', text('evaluator'), { required: true, hint: 'Who ran the evaluation.' }],
      ['evaluated_at', 'Evaluated at (UTC)', stamp('evaluated_at'), { required: true }, utc],
      ['notes', 'Notes', area('notes', 3), { wide: true }],
    ],
    href: (r) => (r.incident_id ? `/incidents/${encodeURIComponent(r.incident_id)}` : null),
  },
  monitoring: {
    path: '/api/v1/monitoring', what: 'monitoring signal', button: 'Report the failed check',
    intro: 'A failed run-time check files an incident report carrying the signal, naming the safety-case assumption it guarded.',
    fields: () => [
      ['model', 'Model', text('model'), { required: true, hint: 'A registered model.' }],
      ['version', 'Version', text('version'), { required: true }],
      ['check', 'Check that failed', text('check'), { required: true }],
      ['assumption', 'Safety-case assumption it guarded', area('assumption', 2), { required: true, wide: true }],
      ['environment', 'Environment', text('environment'), { required: true }],
      ['action', 'Action taken', area('action', 2), { required: true, wide: true, hint: 'e.g. the model was shut down' }],
      ['observed_at', 'Observed at (UTC)', stamp('observed_at'), {}, utc],
      ['details', 'Details', area('details', 3), { wide: true }],
    ],
    href: (r) => (r.incident_id ? `/incidents/${encodeURIComponent(r.incident_id)}` : null),
  },
};

export async function filingForm(root, ctx, kind) {
  const spec = KINDS[kind];
  const summary = h('div', { id: 'error-summary', tabindex: '-1' });
  const done = h('div', { id: 'filed-slot' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, spec.button);
  const rows = spec.fields(ctx);
  const developer = ctx.developer ? fixedDeveloper('$.developer', ctx)
    : field('$.developer', 'Developer', text('developer'), { required: true });
  const form = h('form', { class: 'form', novalidate: true, id: `${kind}-form`, dataset: { kind } },
    summary,
    h('p', { class: 'muted' }, spec.intro),
    h('fieldset', {}, h('legend', {}, `The ${spec.what}`), h('div', { class: 'form-grid' },
      developer, rows.map(([name, label, control, opts]) => field(`$.${name}`, label, control, opts)))),
    h('div', { class: 'form-actions btn-row' }, submit));
  root.append(done, form);
  const view = problemsView(form, summary, `the ${spec.what}`);

  const collect = () => {
    const body = { developer: form.querySelector('[data-path="$.developer"]').value.trim() };
    for (const [name, , control, , convert] of rows) {
      const value = (convert || ((s) => s || undefined))(control.value.trim());
      if (value !== undefined) body[name] = value;
    }
    return body;
  };

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    submit.disabled = true;
    clear(done);
    try {
      const r = await api(spec.path, { method: 'POST', body: collect() });
      view.clearErrors();
      done.append(filedNotice(ctx, r, { what: spec.what, href: spec.href(r) }));
      announce(r.state === 'pending' ? `The ${spec.what} is held for review.` : `The ${spec.what} was signed and filed.`);
      done.scrollIntoView({ block: 'start' });
    } catch (ex) {
      if (ex instanceof ApiError) showApiError(view, ex);
      else view.showErrors([{ path: '$', message: ex.message }]);
    } finally {
      submit.disabled = false;
    }
  });
}
