// A playbook run: its steps (with deadlines) and the timeline of what happened.

import { api } from '../api.js';
import {
  announce, clear, countdown, debounce, h, nextId, notice, setTitle, statusBadge, timeEl, toast,
} from '../dom.js';
import { on } from '../live.js';

const BAD = /missed|failed|declined|timeout|expired|stale|error/;
const GOOD = /acknowledged|succeeded|closed|declared|resolved|acked/;

const SHA256 = /^[0-9a-f]{64}$/;

// A person completes an acknowledge, report or watch step: a note, and optionally evidence
// (where the filed document is, and its SHA-256). The node signs it as a step message.
function completeForm(run, step, reload) {
  const id = nextId(`c-${step.id}`);
  const err = h('p', { class: 'field-error', hidden: true, id: `${id}-err`, role: 'alert' });
  const note = h('textarea', { id: `${id}-note`, name: 'note', rows: 2 });
  const url = h('input', { id: `${id}-url`, name: 'url', type: 'url', placeholder: 'https://…' });
  const sha = h('input', { id: `${id}-sha`, type: 'text', name: 'sha256', placeholder: '64 hex digits', spellcheck: 'false' });
  const open = h('button', { type: 'button', class: 'btn btn-ack', 'aria-expanded': 'false' },
    step.action === 'report' ? 'Record the report as filed…' : 'Complete this step…');
  const form = h('form', { class: 'complete-form', hidden: true, novalidate: true, dataset: { step: step.id } },
    h('div', { class: 'field' }, h('label', { for: note.id }, step.action === 'report' ? 'What was filed, where, by whom' : 'Note'), note),
    h('div', { class: 'field' }, h('label', { for: url.id }, 'Evidence URL (optional)'), url),
    h('div', { class: 'field' }, h('label', { for: sha.id }, 'Evidence SHA-256'), sha), err,
    h('div', { class: 'btn-row' }, h('button', { type: 'submit', class: 'btn btn-ack' }, 'Complete step'),
      h('button', { type: 'button', class: 'btn', dataset: { cancel: '1' } }, 'Cancel')));
  const fail = (msg) => { err.hidden = false; err.textContent = msg; };
  open.addEventListener('click', () => {
    form.hidden = !form.hidden; open.setAttribute('aria-expanded', String(!form.hidden));
    if (!form.hidden) note.focus();
  });
  form.querySelector('[data-cancel]').addEventListener('click', () => { form.hidden = true; open.setAttribute('aria-expanded', 'false'); open.focus(); });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const evidence = [];
    if (url.value.trim() || sha.value.trim()) {
      if (!SHA256.test(sha.value.trim())) { fail('The SHA-256 is 64 lowercase hex digits (sha256sum prints it).'); sha.focus(); return; }
      evidence.push({ url: url.value.trim(), sha256: sha.value.trim() });
    }
    try {
      await api(`/api/v1/runs/${encodeURIComponent(run.id)}/steps/${encodeURIComponent(step.id)}/complete`,
        { method: 'POST', body: { note: note.value.trim(), evidence } });
      toast(`Step ${step.title || step.id} completed; signed and sent to the peers this run asked.`, 'ok');
      announce(`Step ${step.id} completed.`);
      reload();
    } catch (ex) { fail(ex.message); }
  });
  return h('div', { class: 'complete' }, open, form);
}

function filedBy(step) {
  if (!step.filed) return null;
  return h('div', { class: 'small' }, h('span', { class: 'muted' }, 'Done by '), h('strong', {}, step.filed.by),
    step.filed.at ? [' · ', timeEl(step.filed.at)] : '', step.filed.note ? h('div', { class: 'break' }, step.filed.note) : null,
    (step.filed.evidence || []).map((e) => h('div', { class: 'small break' }, h('a', { href: e.url, rel: 'noopener' }, e.url), h('span', { class: 'muted' }, ` sha256 ${e.sha256.slice(0, 12)}…`))));
}

function stepItem(step, current, history) {
  // The step's window opened when it last started waiting: its countdown turns amber and red
  // against that window.
  const opened = [...history].reverse().find((e) => e.step === step.id)?.at || null;
  const who = step.targets ? h('div', { class: 'small' },
    h('span', { class: 'muted' }, 'To: '), step.targets.map((t, i) => {
      const state = step.acked_by?.includes(t) ? 'acked' : step.declined_by?.includes(t) ? 'declined' : 'waiting';
      return [i ? ', ' : '', h('strong', {}, t), ` (${state})`];
    })) : null;
  const quorum = step.threshold ? h('div', { class: 'small' },
    `Quorum: ${step.declarations?.length || 0} of ${step.threshold} declarations`) : null;
  const clock = step.deadline ? (step.status === 'waiting' || step.status === 'running'
    ? countdown(step.deadline, { start: opened }) : h('span', { class: 'small muted' }, 'deadline ', timeEl(step.deadline))) : null;
  return h('li', { class: current ? 'step-current' : null, 'aria-current': current ? 'step' : null },
    h('span', { class: 'step-no', 'aria-hidden': 'true' }),
    h('div', {}, h('strong', {}, step.title || step.id),
      h('div', { class: 'small muted' }, `${step.action} · ${step.id}`), who, quorum, filedBy(step), step.complete || null),
    h('div', { class: 'btn-row' }, statusBadge(step.status), clock));
}

export async function render(root, ctx) {
  const load = async () => {
    let run;
    try { run = await api(`/api/v1/runs/${encodeURIComponent(ctx.id)}`); } catch (e) {
      setTitle(e.status === 404 ? 'Run not found' : 'Playbook run');
      clear(root).append(notice(e.status === 404 ? 'warn' : 'error', h('p', {},
        e.status === 404 ? `This node holds no run ${ctx.id}. Runs live at the node whose incident started them.` : e.message)));
      return;
    }
    setTitle(run.playbook.title);
    if (!run.read_only && ctx.can('responder', 'operator')) {
      for (const s of run.steps) if (s.completable) s.complete = completeForm(run, s, reload);
    }
    const history = [...run.history].reverse();
    clear(root).append(
      ...(run.read_only ? [notice('info', h('p', {}, `This run belongs to ${run.owner}, which escalated to this node: a read-only copy as ${run.owner} last published it. Answer its escalations in the inbox.`))] : []),
      h('div', { class: 'meta-strip' }, statusBadge(run.state), h('span', { class: 'badge st' }, `tier ${run.tier}`),
        run.emergency ? h('span', { class: 'badge sev sev-disaster' }, `emergency ${run.emergency.state}`) : null,
        h('span', { class: 'small muted' }, `${run.id} · playbook ${run.playbook.id} v${run.playbook.version} · incident `,
          h('a', { href: `/incidents/${encodeURIComponent(run.incident_id)}` }, run.incident_id),
          ' · started ', timeEl(run.started_at), run.closed_at ? [' · closed ', timeEl(run.closed_at)] : '',
          run.close_reason ? ` (${run.close_reason})` : '')),
      h('div', { class: 'grid-2' },
        h('section', { class: 'card', 'aria-labelledby': 'h-steps' }, h('h2', { id: 'h-steps' }, 'Steps'),
          h('ol', { class: 'steps' }, run.steps.map((s) => stepItem(s, s.id === run.current_step, run.history)))),
        h('section', { class: 'card', 'aria-labelledby': 'h-timeline' },
          h('h2', { id: 'h-timeline' }, 'Timeline'), h('p', { class: 'small muted' }, 'Newest first.'),
          h('ol', { class: 'timeline', reversed: true }, history.map((e) => h('li', { class: BAD.test(e.event) ? 'tl-bad' : GOOD.test(e.event) ? 'tl-ok' : null },
            h('div', { class: 'tl-time' }, timeEl(e.at)),
            h('div', {}, h('span', { class: 'tl-event' }, e.event.replace(/-/g, ' ')), ' by ', h('strong', {}, e.by),
              e.step ? h('span', { class: 'muted' }, ` · ${e.step}`) : null),
            e.detail ? h('div', { class: 'small muted break' }, e.detail) : null))))));
  };
  const reload = debounce(load, 150);
  on('run', (d) => { if (d.id === ctx.id) reload(); });
  on('reconnected', reload);
  await load();
}
