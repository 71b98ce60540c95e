// File an incident report. The node validates it against schemas/incident.v1.json; each
// {path, message} it returns is shown next to its field and in a summary at the top.

import { api, ApiError } from '../api.js';
import { announce, clear, h, nextId } from '../dom.js';
import { area, field, filedNotice, fixedDeveloper, problemsView, select, showApiError, text, utc } from './form-kit.js';

const TLP_HELP = {
  CLEAR: 'May be published; goes to every member.',
  GREEN: 'Goes to every member of the federation.',
  AMBER: 'Members only; never exported outside the federation.',
  'AMBER+STRICT': 'Only the affected jurisdictions, encrypted end to end.',
  RED: 'Never leaves this node; peers receive only a statistical stub.',
};

function choices(path, legend, type, options, { hint, required, labels = {}, checked = [] } = {}) {
  const name = nextId('c');
  const hintId = hint ? `${name}-hint` : null;
  const box = h('fieldset', { class: `group field${type === 'radio' ? '' : ''}`, dataset: { path, field: path },
    'aria-describedby': hintId },
  h('legend', {}, legend, required ? h('span', { class: 'req' }, ' (required)') : null),
  hint ? h('p', { class: 'hint', id: hintId }, hint) : null,
  h('div', { class: 'errors' }),
  h('div', { class: type === 'radio' ? 'radios' : 'checks' }, options.map((o) => {
    const value = typeof o === 'string' ? o : o.value;
    const text_ = typeof o === 'string' ? o : o.label;
    return h('label', {}, h('input', { type, name, value, checked: checked.includes(value) }),
      h('span', {}, text_, labels[value] ? h('span', { class: 'muted small' }, ` — ${labels[value]}`) : null));
  })));
  return box;
}

function materialRow(i) {
  const row = h('div', { class: 'material', dataset: { index: String(i) } },
    field(`$.supporting_materials[${i}].description`, `Material ${i + 1}: description`, text('description')),
    field(`$.supporting_materials[${i}].url`, `Material ${i + 1}: link (https://…)`, h('input', { type: 'url', name: 'url', autocomplete: 'off' })),
    h('button', { type: 'button', class: 'btn btn-small', 'aria-label': `Remove material ${i + 1}`, dataset: { remove: '1' } }, 'Remove'));
  return row;
}

const csv = (s) => s.split(',').map((x) => x.trim()).filter(Boolean);
const num = (s) => (s.trim() === '' ? undefined : (Number.isNaN(Number(s)) ? s : Number(s)));

export async function render(root, ctx) {
  const v = ctx.vocab;
  const peers = v.members.filter((m) => m.id !== ctx.node && m.role === 'member')
    .map((m) => ({ value: m.id, label: `${m.id} (${m.jurisdiction})` }));
  const materials = h('div', { id: 'materials' });
  const addMaterial = h('button', { type: 'button', class: 'btn btn-small' }, 'Add a supporting material');
  const summary = h('div', { id: 'error-summary', tabindex: '-1' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Sign and send report');
  const form = h('form', { class: 'form', novalidate: true, id: 'report-form', 'aria-describedby': 'form-intro' },
    summary,
    h('p', { id: 'form-intro', class: 'muted' }, `The report is signed by ${ctx.node}, logged, and sent to the peers its TLP allows. Fields marked required follow the OECD common reporting framework.`),
    h('fieldset', {}, h('legend', {}, 'What happened'), h('div', { class: 'form-grid' },
      field('$.title', 'Title', text('title', { maxlength: 300 }), { required: true, wide: true, hint: 'One line, 3 to 300 characters.' }),
      field('$.description', 'Description', area('description', 5), { required: true, wide: true }),
      field('$.severity', 'Severity', select('severity', v.severities, 'Choose a severity'), { required: true, hint: 'serious-incident matches EU AI Act Art. 3(49).' }),
      field('$.status', 'Status', select('status', v.status), { hint: 'A new report is usually open.' }),
      field('$.occurred_at', 'First occurred (UTC)', h('input', { type: 'datetime-local', name: 'occurred_at', step: 1 })),
      field('$.aware_at', 'Became aware (UTC)', h('input', { type: 'datetime-local', name: 'aware_at', step: 1 }), { hint: 'Reporting deadlines run from here.' }),
      h('div', { class: 'wide' }, choices('$.harm_types', 'Harm types', 'checkbox', v.harm_types, { required: true })),
      h('div', { class: 'wide' }, choices('$.red_lines', 'Red lines crossed', 'checkbox', v.red_lines, { hint: 'Any red line sends the report to the top escalation tier.' })))),
    h('fieldset', {}, h('legend', {}, 'Sharing'),
      choices('$.tlp', 'Traffic Light Protocol label', 'radio', v.tlp, { required: true, labels: TLP_HELP, checked: ['GREEN'] }),
      peers.length ? choices('$.affected_jurisdictions', 'Affected jurisdictions', 'checkbox', peers, { hint: 'Their authorities are escalated to under the matching playbook.' }) : null),
    h('fieldset', {}, h('legend', {}, 'AI system'), h('div', { class: 'form-grid' },
      field('$.ai_system.name', 'System name', text('name'), { required: true }),
      field('$.ai_system.version', 'Version', text('version')),
      ctx.developer ? fixedDeveloper('$.ai_system.developer', ctx) : field('$.ai_system.developer', 'Developer', text('developer')),
      field('$.ai_system.deployer', 'Deployer', text('deployer')),
      field('$.ai_system.role', 'Role of the AI system in the incident', area('role', 3), { required: true, wide: true }),
      field('$.ai_system.model_ref', 'Registered model reference', text('model_ref')))),
    h('fieldset', {}, h('legend', {}, 'Submitter'), h('div', { class: 'form-grid' },
      field('$.submitter.organisation', 'Organisation', text('organisation'), { required: true }),
      field('$.submitter.contact', 'Contact', text('contact', { autocomplete: 'email' })))),
    h('fieldset', { dataset: { path: '$.supporting_materials', field: '$.supporting_materials' } },
      h('legend', {}, 'Supporting materials'), h('div', { class: 'errors' }), materials, addMaterial),
    h('details', { class: 'card' }, h('summary', {}, 'More detail (optional)'), h('div', { class: 'form-grid' },
      field('$.countries', 'Countries (ISO codes, comma-separated)', text('countries', { placeholder: 'FR, DE' })),
      field('$.critical_infrastructure_sector', 'Critical-infrastructure sector', text('critical_infrastructure_sector')),
      field('$.deployment_breadth', 'Breadth of deployment', select('deployment_breadth', v.deployment_breadth, 'Not stated')),
      field('$.autonomy_level', 'Autonomy level', select('autonomy_level', v.autonomy_level, 'Not stated')),
      field('$.harm_quantification.deaths', 'Deaths', h('input', { type: 'number', min: 0, name: 'deaths' })),
      field('$.harm_quantification.injuries', 'Injuries', h('input', { type: 'number', min: 0, name: 'injuries' })),
      field('$.harm_quantification.people_affected', 'People affected', h('input', { type: 'number', min: 0, name: 'people_affected' })),
      field('$.harm_quantification.economic_loss_usd', 'Economic loss (USD)', h('input', { type: 'number', min: 0, name: 'economic_loss_usd' })),
      field('$.affected_stakeholders', 'Affected stakeholders (comma-separated)', text('affected_stakeholders'), { wide: true }),
      field('$.actions_taken', 'Actions taken', area('actions_taken', 3), { wide: true }))),
    h('div', { class: 'form-actions btn-row' }, submit, h('a', { href: ctx.role === 'provider' ? '/file' : '/', class: 'btn' }, 'Cancel')));
  root.append(form);

  let rows = 0;
  const add = () => { materials.append(materialRow(rows)); rows += 1; };
  add();
  addMaterial.addEventListener('click', () => { add(); materials.lastElementChild.querySelector('input').focus(); });
  materials.addEventListener('click', (e) => {
    const btn = e.target.closest('[data-remove]');
    if (btn) btn.closest('.material').remove();
  });

  const val = (path) => form.querySelector(`[data-path="${path}"]`);
  const str = (path) => (val(path)?.value ?? '').trim();
  const picked = (path) => [...val(path).querySelectorAll('input:checked')].map((i) => i.value);

  function collect() {
    const doc = {
      title: str('$.title'), description: str('$.description'), severity: str('$.severity'),
      harm_types: picked('$.harm_types'), red_lines: picked('$.red_lines'), tlp: picked('$.tlp')[0],
      ai_system: { name: str('$.ai_system.name'), role: str('$.ai_system.role') },
      submitter: { organisation: str('$.submitter.organisation') },
      supporting_materials: [],
    };
    if (!doc.severity) delete doc.severity;
    if (!doc.tlp) delete doc.tlp;
    const opt = (obj, key, value) => { if (value !== undefined && value !== '' && !(Array.isArray(value) && !value.length)) obj[key] = value; };
    opt(doc, 'status', str('$.status'));
    if (val('$.affected_jurisdictions')) doc.affected_jurisdictions = picked('$.affected_jurisdictions');
    for (const k of ['version', 'developer', 'deployer', 'model_ref']) opt(doc.ai_system, k, str(`$.ai_system.${k}`));
    opt(doc.submitter, 'contact', str('$.submitter.contact'));
    opt(doc, 'occurred_at', utc(str('$.occurred_at')));
    opt(doc, 'aware_at', utc(str('$.aware_at')));
    opt(doc, 'countries', csv(str('$.countries')));
    opt(doc, 'critical_infrastructure_sector', str('$.critical_infrastructure_sector'));
    opt(doc, 'deployment_breadth', str('$.deployment_breadth'));
    opt(doc, 'autonomy_level', str('$.autonomy_level'));
    opt(doc, 'affected_stakeholders', csv(str('$.affected_stakeholders')));
    opt(doc, 'actions_taken', str('$.actions_taken'));
    const hq = {};
    for (const k of ['deaths', 'injuries', 'people_affected', 'economic_loss_usd']) opt(hq, k, num(str(`$.harm_quantification.${k}`)));
    opt(doc, 'harm_quantification', Object.keys(hq).length ? hq : undefined);
    // Rows are renumbered in order, so the server's $.supporting_materials[i] is the i-th row shown.
    [...materials.querySelectorAll('.material')].forEach((row, i) => {
      const d = row.querySelector('[name=description]');
      const u = row.querySelector('[name=url]');
      d.dataset.path = `$.supporting_materials[${i}].description`;
      u.dataset.path = `$.supporting_materials[${i}].url`;
      d.closest('.field').dataset.field = d.dataset.path;
      u.closest('.field').dataset.field = u.dataset.path;
      const m = {};
      opt(m, 'description', d.value.trim());
      opt(m, 'url', u.value.trim());
      if (Object.keys(m).length) doc.supporting_materials.push(m.description === undefined ? { description: '', ...m } : m);
    });
    return doc;
  }

  const { clearErrors, showErrors } = problemsView(form, summary, 'the report');
  const done = h('div', { id: 'filed-slot' });
  form.before(done);

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    submit.disabled = true;
    submit.textContent = 'Signing…';
    try {
      const r = await api('/api/v1/incidents', { method: 'POST', body: collect() });
      clearErrors();
      if (ctx.role !== 'provider') {
        announce('Report signed and sent.');
        window.location.assign(`/incidents/${encodeURIComponent(r.id)}`);
        return;
      }
      // A provider reads no incident: say what became of the report, here.
      clear(done).append(filedNotice(ctx, r, { what: 'report' }));
      announce(r.state === 'pending' ? 'Report held for review.' : 'Report signed and sent.');
      done.scrollIntoView({ block: 'start' });
    } catch (ex) {
      if (ex instanceof ApiError) showApiError({ showErrors }, ex);
      else showErrors([{ path: '$', message: ex.message }]);
    } finally {
      submit.disabled = false;
      submit.textContent = 'Sign and send report';
    }
  });
}
