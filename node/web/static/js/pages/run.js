// A playbook run: its steps (with deadlines) and the timeline of what happened.

import { api } from '../api.js';
import {
  clear, countdown, debounce, h, notice, setTitle, statusBadge, timeEl,
} from '../dom.js';
import { on } from '../live.js';

const BAD = /missed|failed|declined|timeout|expired|stale|error/;
const GOOD = /acknowledged|succeeded|closed|declared|resolved|acked/;

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
      h('div', { class: 'small muted' }, `${step.action} · ${step.id}`), who, quorum),
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
    const history = [...run.history].reverse();
    clear(root).append(
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
