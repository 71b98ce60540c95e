// The assurance flag of a registered model (GET /api/v1/models[/{id}] assurance_flag): shown
// wherever the model appears (Models list, Model page, the incidents that name it), so a model
// above a threshold without an approved safety case is never seen without the warning.

import { api } from '../api.js';
import { h, notice } from '../dom.js';

export function flagBadge(flag) {
  if (!flag || !flag.flagged) return null;
  return h('span', { class: 'badge flag-unassured', title: flag.reason, 'data-flag': 'unassured' },
    `Above threshold · safety case ${flag.safety_case}`);
}

export function flagNotice(flag, modelLink = null) {
  if (!flag || !flag.flagged) return null;
  return h('div', { class: 'model-flag', 'data-flag': 'unassured' }, notice('warn',
    h('p', {}, h('strong', {}, 'Above a threshold without an approved safety case'),
      modelLink ? [' (', modelLink, ')'] : '', `: ${flag.reason}.`),
    h('p', { class: 'small' }, `Thresholds: ${flag.thresholds.join(', ')}`)));
}

// For an incident page: the flag of the registered model the report names (ai_system.model_ref).
export async function incidentModelFlag(inc) {
  const ref = inc.ai_system && inc.ai_system.model_ref;
  if (!ref) return null;
  let m;
  try { m = await api(`/api/v1/models/${encodeURIComponent(ref)}`); } catch { return null; }
  const link = h('a', { href: `/models/${encodeURIComponent(ref)}` }, `${m.developer} ${m.model} ${m.version}`);
  return flagNotice(m.assurance_flag, link);
}

// The safety case's standing: the newest review's verdict, else the status the registration states.
export function caseStatus(m) {
  const stated = m.safety_case ? m.safety_case.status : 'missing';
  const now = m.assurance_flag ? m.assurance_flag.safety_case : stated;
  return now === stated ? stated : `${now} (registered as ${stated})`;
}
