// What the console's filing forms share: a field bound to a JSON path, and the node's
// {path, message} problems shown next to their field and in a summary at the top of the form.

import { clear, h, nextId, notice } from '../dom.js';

// One form control bound to a JSON path such as "$.ai_system.role".
export function field(path, label, control, { hint, required, wide } = {}) {
  const id = control.id || nextId('f');
  control.id = id;
  control.dataset.path = path;
  const hintId = hint ? `${id}-hint` : null;
  if (hintId) control.setAttribute('aria-describedby', hintId);
  if (required) control.setAttribute('aria-required', 'true');
  return h('div', { class: `field${wide ? ' wide' : ''}`, dataset: { field: path } },
    h('label', { for: id }, label, required ? h('span', { class: 'req' }, ' (required)') : null),
    hint ? h('p', { class: 'hint', id: hintId }, hint) : null,
    h('div', { class: 'errors' }), control);
}

export const text = (name, attrs = {}) => h('input', { type: 'text', name, autocomplete: 'off', ...attrs });
export const area = (name, rows = 4) => h('textarea', { name, rows });
export const select = (name, options, blank) => h('select', { name },
  blank ? h('option', { value: '' }, blank) : null,
  options.map((o) => (typeof o === 'string' ? h('option', { value: o }, o) : h('option', { value: o.value }, o.label))));
export const utc = (s) => (!s ? undefined : (s.length === 16 ? `${s}:00Z` : `${s}Z`));

// The developer a provider token files for: shown, not editable (the API refuses another, 403).
export function fixedDeveloper(path, ctx, name = 'developer') {
  const input = text(name, { value: ctx.developer, readonly: true });
  return field(path, 'Developer', input, { hint: `Your provider token files for ${ctx.developer} only.` });
}

// Problems from the node shown in ``form``; ``summary`` is the element at its top.
export function problemsView(form, summary, noun = 'the form') {
  // The field for "$.harm_types[1]" is the one for "$.harm_types": strip indices and keys
  // from the end until a field claims the path.
  function fieldFor(path) {
    let p = path;
    while (p && p !== '$') {
      const el = form.querySelector(`[data-field="${CSS.escape(p)}"]`);
      if (el) return el;
      p = p.replace(/(\[\d+\]|\.[^.[\]]+)$/, '');
    }
    return null;
  }

  function clearErrors() {
    clear(summary);
    summary.className = '';
    summary.removeAttribute('role');
    for (const el of form.querySelectorAll('.has-error')) el.classList.remove('has-error');
    for (const el of form.querySelectorAll('.errors')) clear(el);
    for (const el of form.querySelectorAll('[aria-invalid]')) {
      el.removeAttribute('aria-invalid');
      const ids = (el.getAttribute('aria-describedby') || '').split(' ').filter((x) => x && !x.endsWith('-err'));
      if (ids.length) el.setAttribute('aria-describedby', ids.join(' ')); else el.removeAttribute('aria-describedby');
    }
  }

  function showErrors(problems, heading) {
    clearErrors();
    const links = [];
    for (const p of problems) {
      const f = fieldFor(p.path);
      const control = f ? (f.matches('fieldset') ? f.querySelector('input') : f.querySelector('input, select, textarea')) : null;
      if (f) {
        f.classList.add('has-error');
        const slot = f.querySelector('.errors');
        const errId = `${control?.id || nextId('e')}-err`;
        slot.append(h('p', { class: 'field-error', id: errId }, h('span', { class: 'visually-hidden' }, 'Error: '), p.message));
        const target = f.matches('fieldset') ? f : control;
        if (target) {
          target.setAttribute('aria-invalid', 'true');
          const ids = (target.getAttribute('aria-describedby') || '').split(' ').filter(Boolean);
          target.setAttribute('aria-describedby', [...ids, errId].join(' '));
        }
      }
      const label = f ? (f.querySelector('label, legend')?.firstChild?.textContent || p.path) : p.path;
      links.push(h('li', {}, control ? h('a', { href: `#${control.id}` }, `${label}: ${p.message}`) : (p.path === '$' ? p.message : `${p.path}: ${p.message}`)));
    }
    summary.className = 'error-summary';
    summary.setAttribute('role', 'alert');
    summary.append(h('h2', {}, heading || (problems.length === 1 ? `There is a problem with ${noun}` : `There are ${problems.length} problems with ${noun}`)), h('ul', {}, links));
    summary.focus();
  }

  summary.addEventListener('click', (e) => {
    const a = e.target.closest('a[href^="#"]');
    if (!a) return;
    e.preventDefault();
    const el = document.getElementById(a.getAttribute('href').slice(1));
    el?.focus();
    el?.scrollIntoView({ block: 'center' });
  });
  return { showErrors, clearErrors };
}

// An API error (400 with its problems, 403, anything else) in the form's summary.
export function showApiError(view, ex) {
  if (ex.status === 400) view.showErrors(ex.problems);
  else if (ex.status === 403) view.showErrors(ex.problems, 'The node refused this filing (403)');
  else view.showErrors([{ path: '$', message: ex.message }]);
}

// What a filing became: held for review (202), or signed and filed (201) with a link to it
// where this role may read it, and always a receipt to keep.
export function filedNotice(ctx, answer, { what, href }) {
  const el = filedBody(ctx, answer, { what, href });
  el.id = 'filed';
  el.setAttribute('role', 'status');
  el.dataset.state = answer.state === 'pending' ? 'pending' : 'filed';
  return el;
}

function filedBody(ctx, answer, { what, href }) {
  const receipt = URL.createObjectURL(new Blob([JSON.stringify(answer, null, 2)], { type: 'application/json' }));
  const save = h('a', { href: receipt, download: `${answer.filing_id || answer.id}.json`, class: 'btn btn-small' }, 'Save the receipt (JSON)');
  if (answer.state === 'pending') {
    return notice('warn', h('p', {}, h('strong', {}, `Held for review by the authority: ${what} `,
      h('span', { class: 'mono' }, answer.filing_id), '. '),
      `${ctx.node} checked it and keeps it unsigned until one of its operators releases it; nothing is exchanged before then.`),
    h('p', {}, save));
  }
  const staff = ['operator', 'responder', 'auditor', 'viewer'].includes(ctx.role);
  const id = answer.id;
  return notice('ok', h('p', {}, h('strong', {}, `Signed and filed by ${ctx.node}: `),
    staff && href ? h('a', { href, class: 'mono' }, id) : h('span', { class: 'mono' }, id)),
  answer.incident_id ? h('p', {}, 'It also filed the incident report ', staff
    ? h('a', { href: `/incidents/${encodeURIComponent(answer.incident_id)}`, class: 'mono' }, answer.incident_id)
    : h('span', { class: 'mono' }, answer.incident_id), '.') : null,
  staff ? null : h('p', { class: 'muted small' }, 'A provider token files but reads nothing of the federation: keep the receipt, it carries the signed digest.'),
  h('p', {}, save));
}
