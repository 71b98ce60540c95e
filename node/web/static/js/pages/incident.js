// One incident: the report, its signature and log inclusion, TLP, revisions, playbook runs.

import { api, ApiError, qs } from '../api.js';
import {
  clear, debounce, facts, h, nextId, notice, redLineTags, setTitle, severityBadge, statusBadge, tags,
  timeEl, tlpBadge, toast,
} from '../dom.js';
import { on } from '../live.js';
import { linksSection } from './incident-links.js';
import { incidentModelFlag } from './model-flag.js';
import { parseCheckpoint, verifyInclusion } from '../merkle.js';

const TLP_MEANING = {
  CLEAR: 'may be shared publicly',
  GREEN: 'shared with every member of the federation',
  AMBER: 'members only; never exported',
  'AMBER+STRICT': 'only the named recipient jurisdictions, encrypted end to end',
  RED: 'never leaves the origin node; peers receive only a statistical stub',
};

function check(kind, title, ...detail) {
  const icon = { ok: '✓', bad: '✗', wait: '…', info: 'i' }[kind];
  return h('div', { class: 'check' },
    h('span', { class: `check-icon ci-${kind}`, 'aria-hidden': 'true' }, icon),
    h('div', {}, h('p', {}, h('strong', {}, title)), ...detail.map((d) => h('p', { class: 'small muted' }, d))));
}

async function inclusionCheck(inc, ctx) {
  if (inc.origin !== ctx.node) {
    let cp = null;
    try {
      cp = (await api(`/api/v1/log/checkpoints/${encodeURIComponent(inc.origin)}?limit=1`)).items[0];
    } catch { /* shown as unknown below */ }
    if (!cp) {
      return check('wait', `Logged by ${inc.origin}`, `This node has not yet seen a checkpoint of ${inc.origin}'s log.`);
    }
    return check(cp.witnessed ? 'ok' : 'info', `Logged by ${inc.origin}; its log is witnessed`,
      `This node saw ${inc.origin}'s log at size ${cp.size} (${cp.status}), cosigned by `
      + `${cp.cosigned_by.join(', ') || 'no one yet'}. Prove this entry offline with beacon verify.`);
  }
  let note;
  let proof;
  try {
    note = parseCheckpoint(await api('/api/v1/log/checkpoint', { text: true }));
    proof = await api(`/api/v1/log/proof/inclusion${qs({ digest: inc.digest })}`);
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) {
      return check('info', 'Not in this node\'s log', 'Only messages this node signs are logged here.');
    }
    return check('bad', 'Inclusion could not be checked', e.message);
  }
  if (proof.leaf_index >= note.size) {
    return check('wait', 'Logged; awaiting the next checkpoint',
      `Entry #${proof.leaf_index} of ${ctx.node}'s log; the latest checkpoint covers ${note.size} entries.`);
  }
  const atCheckpoint = await api(`/api/v1/log/proof/inclusion${qs({ digest: inc.digest, size: note.size })}`);
  const ok = await verifyInclusion({ digest: inc.digest, index: atCheckpoint.leaf_index, size: note.size,
    pathB64: atCheckpoint.path, rootB64: note.root });
  const witnesses = note.signers.filter((s) => s !== note.origin);
  const detail = `Entry #${atCheckpoint.leaf_index} of ${note.origin}, checkpoint size ${note.size}; `
    + (witnesses.length ? `cosigned by ${witnesses.map((w) => w.replace('beacon/', '')).join(', ')}.` : 'no witness has cosigned it yet.');
  if (ok === null) return check('info', 'Included in this node\'s log (proof not checked here)', detail, 'This browser cannot compute SHA-256 outside a secure context.');
  return ok ? check('ok', 'Inclusion proof verified in this browser', detail)
    : check('bad', 'Inclusion proof does NOT match the checkpoint', detail);
}

function reportSection(inc) {
  const sys = inc.ai_system || {};
  const hq = inc.harm_quantification || {};
  const mats = (inc.supporting_materials || []).map((m) => h('li', {},
    m.url && /^https?:\/\//.test(m.url) ? h('a', { href: m.url, rel: 'noopener noreferrer nofollow', target: '_blank' }, m.description) : m.description,
    m.url ? h('div', { class: 'small muted break' }, m.url) : null));
  const more = facts([
    ['First occurred', inc.occurred_at ? timeEl(inc.occurred_at) : null],
    ['Became aware', inc.aware_at ? timeEl(inc.aware_at) : null],
    ['Countries', inc.countries?.join(', ')],
    ['Infrastructure sector', inc.critical_infrastructure_sector],
    ['Sector of deployment', inc.sector],
    ['How each field is known', inc.provenance ? Object.entries(inc.provenance).map(([f, b]) => `${f}: ${b}`).join(', ') : null],
    ['Deployment', inc.deployment_breadth],
    ['Autonomy', inc.autonomy_level],
    ['Deaths', hq.deaths], ['Injuries', hq.injuries], ['People affected', hq.people_affected],
    ['Economic loss (USD)', hq.economic_loss_usd], ['Harm notes', hq.notes],
    ['Stakeholders', inc.affected_stakeholders?.join(', ')],
    ['Tripwires', inc.tripwire_ids?.join(', ')],
    ['Actions taken', inc.actions_taken ? h('span', { class: 'prose' }, inc.actions_taken) : null],
    ...Object.entries(inc.classifications || {}).map(([ns, terms]) => [ns, terms.join(', ')]),
  ]);
  return [
    h('section', { class: 'card', 'aria-labelledby': 'h-report' }, h('h2', { id: 'h-report' }, 'Report'),
      h('p', { class: 'prose' }, inc.description),
      facts([['Harm types', tags(inc.harm_types)], ['Affected', inc.affected_jurisdictions?.length ? tags(inc.affected_jurisdictions) : 'none named'],
        ['Red lines', inc.red_lines?.length ? h('span', { class: 'tags' }, redLineTags(inc.red_lines)) : 'none']]),
      more.childElementCount ? [h('h3', {}, 'Details'), more] : null),
    h('section', { class: 'card', 'aria-labelledby': 'h-system' }, h('h2', { id: 'h-system' }, 'AI system and submitter'),
      facts([['System', [sys.name, sys.version].filter(Boolean).join(' ')], ['Developer', sys.developer],
        ['Deployer', sys.deployer], ['Model reference', sys.model_ref],
        ['Role in the incident', sys.role ? h('span', { class: 'prose' }, sys.role) : null],
        ['Submitted by', inc.submitter?.organisation], ['Contact', inc.submitter?.contact]])),
    h('section', { class: 'card', 'aria-labelledby': 'h-materials' }, h('h2', { id: 'h-materials' }, 'Supporting materials'),
      mats.length ? h('ul', {}, mats) : h('p', { class: 'muted' }, 'None supplied.')),
  ];
}

function revisionForm(inc, ctx, reload) {
  const status = h('select', { id: 'rev-status', name: 'status' },
    ctx.vocab.status.map((s) => h('option', { value: s, selected: s === inc.status }, s)));
  const sev = h('select', { id: 'rev-severity', name: 'severity' },
    ctx.vocab.severities.map((s) => h('option', { value: s, selected: s === inc.severity }, s)));
  const err = h('p', { class: 'field-error', id: 'rev-error', hidden: true });
  const form = h('form', { class: 'form', 'aria-describedby': 'rev-error' },
    h('div', { class: 'field' }, h('label', { for: 'rev-status' }, 'Status'), status),
    h('div', { class: 'field' }, h('label', { for: 'rev-severity' }, 'Severity'), sev), err,
    h('button', { type: 'submit', class: 'btn btn-primary' }, 'Sign new revision'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const change = {};
    if (status.value !== inc.status) change.status = status.value;
    if (sev.value !== inc.severity) change.severity = sev.value;
    if (!Object.keys(change).length) { err.hidden = false; err.textContent = 'Change the status or the severity first.'; return; }
    try {
      const r = await api(`/api/v1/incidents/${encodeURIComponent(inc.id)}/revisions`, { method: 'POST', body: change });
      toast(`Revision ${r.revision} signed and sent.`, 'ok');
      reload();
    } catch (ex) { err.hidden = false; err.textContent = ex.message; }
  });
  return h('section', { class: 'card', 'aria-labelledby': 'h-revise' }, h('h2', { id: 'h-revise' }, 'Update this incident'),
    h('p', { class: 'small muted' }, 'A revision is a new signed version of the report, sent to every peer that received it.'), form);
}

// Start a playbook by hand on this incident, own or a peer's, whatever its trigger says.
function startForm(inc, running, ctx) {
  const id = nextId('playbook');
  const taken = new Set(running.map((r) => r.playbook.id));
  const choice = h('select', { id, name: 'playbook_id' }, (ctx.vocab.playbooks || []).filter((p) => !taken.has(p.id))
    .map((p) => h('option', { value: p.id }, `${p.title} (${p.id})`)));
  const form = h('form', { class: 'start-form' },
    h('div', { class: 'field' }, h('label', { for: id }, 'Start a playbook by hand'), choice),
    h('div', { class: 'btn-row' }, h('button', { type: 'submit', class: 'btn' }, 'Start playbook')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      const run = await api('/api/v1/runs', { method: 'POST', body: { incident_id: inc.id, playbook_id: choice.value } });
      toast(`Started ${run.playbook.title}.`, 'ok');
      window.location.assign(`/runs/${encodeURIComponent(run.id)}`);
    } catch (ex) { toast(ex.message, 'error'); }
  });
  return form;
}

export async function render(root, ctx) {
  const id = ctx.id;
  let current = null;
  const load = async () => {
    let inc;
    try {
      inc = await api(`/api/v1/incidents/${encodeURIComponent(id)}`);
    } catch (e) {
      setTitle(e.status === 404 ? 'Incident not found' : 'Incident');
      clear(root).append(notice(e.status === 404 ? 'warn' : 'error', h('p', {},
        e.status === 404 ? `This node holds no incident ${id}. It may not have arrived yet, or its TLP kept it at its origin.` : e.message),
        h('p', {}, h('a', { href: '/' }, 'Back to the incidents'))));
      return;
    }
    setTitle(inc.title);
    const runs = await api(`/api/v1/runs${qs({ incident: id })}`).catch(() => ({ items: [] }));
    const keyids = (inc.envelope?.signatures || []).map((s) => `${String(s.keyid).slice(0, 16)}…`).join(', ');
    const integrity = h('section', { class: 'card', 'aria-labelledby': 'h-integrity' },
      h('h2', { id: 'h-integrity' }, 'Integrity'),
      inc.verified ? check('ok', `Signature verified: signed by ${inc.origin}`, `Ed25519 over DSSE, key ${keyids}, checked against the roster this node trusts now.`)
        : check('bad', 'Signature does NOT verify against the roster', `Claimed key ${keyids}. Treat the content as untrusted.`),
      h('div', { id: 'inclusion' }, check('wait', 'Checking log inclusion…')),
      h('p', { class: 'small muted', style: null }, 'Message digest (SHA-256)'), h('p', { class: 'digest' }, inc.digest));
    const tlp = h('section', { class: 'card', 'aria-labelledby': 'h-tlp' }, h('h2', { id: 'h-tlp' }, 'Sharing'),
      h('p', {}, tlpBadge(inc.tlp), ' ', TLP_MEANING[inc.tlp] || ''));
    const revs = h('section', { class: 'card', 'aria-labelledby': 'h-revs' }, h('h2', { id: 'h-revs' }, 'Revisions'),
      h('ol', { class: 'small' }, (inc.revisions || []).map((r) => h('li', {},
        `Revision ${r.revision}`, r.revision === inc.revision ? h('strong', {}, ' (current)') : '',
        h('div', { class: 'digest' }, r.digest)))));
    const runList = h('section', { class: 'card', 'aria-labelledby': 'h-runs' }, h('h2', { id: 'h-runs' }, 'Playbook runs'),
      runs.items.length ? h('ul', {}, runs.items.map((r) => h('li', {},
        h('a', { href: `/runs/${encodeURIComponent(r.id)}` }, r.playbook.title), ' ', statusBadge(r.state),
        h('div', { class: 'small muted' }, `tier ${r.tier}`, r.current_step ? ` · now: ${r.current_step}` : ''))))
        : h('p', { class: 'muted' }, inc.origin === ctx.node ? 'No playbook matched this incident.' : `Runs for this incident are kept at its origin, ${inc.origin}; escalations to this node appear in the inbox.`));
    if (ctx.can('responder', 'operator')) runList.append(startForm(inc, runs.items, ctx));
    const canRevise = ctx.can('operator') && inc.origin === ctx.node;
    clear(root).append(
      h('div', { class: 'meta-strip' }, severityBadge(inc.severity), tlpBadge(inc.tlp), statusBadge(inc.status),
        ...redLineTags(inc.red_lines),
        h('span', { class: 'small muted' }, `${inc.id} · revision ${inc.revision} · from `, h('strong', {}, inc.origin),
          ' · issued ', timeEl(inc.issued_at), ' · received ', timeEl(inc.received_at, { relative: true }))),
      h('div', { id: 'model-flag-slot' }),
      h('div', { class: 'grid-2' },
        h('div', {}, reportSection(inc),
          h('details', { class: 'card' }, h('summary', {}, 'Signed envelope (DSSE, verbatim)'),
            h('pre', { class: 'raw' }, JSON.stringify(inc.envelope, null, 2)))),
        h('div', {}, integrity, tlp, h('div', { id: 'links-slot' }), runList, revs,
          canRevise ? revisionForm(inc, ctx, load) : null)));
    document.getElementById('links-slot').replaceChildren(await linksSection(inc, ctx, load));
    document.getElementById('model-flag-slot').replaceChildren(await incidentModelFlag(inc) || '');
    current = inc;
    const slot = document.getElementById('inclusion');
    slot.replaceChildren(await inclusionCheck(inc, ctx));
  };
  // A new checkpoint may cover an entry that was waiting: re-check only the inclusion.
  const recheck = debounce(async () => {
    const slot = document.getElementById('inclusion');
    if (current && slot && !slot.querySelector('.ci-ok')) slot.replaceChildren(await inclusionCheck(current, ctx));
  }, 300);
  const reload = debounce(load, 200);
  on('incident', (d) => { if (d.id === id) reload(); });
  on('run', (d) => { if (d.incident_id === id) reload(); });
  on('checkpoint', recheck);
  on('reconnected', reload);
  await load();
}
