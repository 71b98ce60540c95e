// One incident's links: the same-as cluster it is counted in, its links, and candidate
// duplicates (same source URL, same system and developer within 30 days, similar title), each
// with a button for the owner's operator to sign a link.

import { api } from '../api.js';
import { h, toast } from '../dom.js';

function idLink(id) {
  return h('a', { href: `/incidents/${encodeURIComponent(id)}`, class: 'mono' }, id);
}

export async function linksSection(inc, ctx, reload) {
  let data;
  try {
    data = await api(`/api/v1/incidents/${encodeURIComponent(inc.id)}/links`);
  } catch (e) {
    return h('section', { class: 'card', id: 'links' }, h('h2', {}, 'Same event?'), h('p', { class: 'muted' }, e.message));
  }
  const canLink = ctx.can('operator') && inc.origin === ctx.node;
  const link = async (other, relation) => {
    try {
      await api(`/api/v1/incidents/${encodeURIComponent(inc.id)}/links`, { method: 'POST', body: { incident_id: other, relation } });
      toast(`Link signed and sent: ${relation} ${other}.`, 'ok');
      reload();
    } catch (e) { toast(e.message, 'error'); }
  };
  const others = data.cluster.filter((i) => i !== inc.id);
  const candidates = data.candidates.filter((c) => !data.cluster.includes(c.incident_id));
  return h('section', { class: 'card', id: 'links', 'aria-labelledby': 'h-links' },
    h('h2', { id: 'h-links' }, 'Same event?'),
    others.length ? h('p', {}, 'Counted once in the statistics together with ', others.map((o, i) => [i ? ', ' : '', idLink(o)]), '.')
      : h('p', { class: 'small muted' }, 'Not linked to another report as the same event.'),
    data.links.length ? h('ul', { class: 'small' }, data.links.map((l) => h('li', {},
      idLink(l.incident_id), ` ${l.relation} `, idLink(l.linked_id), h('span', { class: 'muted' }, ` · signed by ${l.origin}`)))) : null,
    candidates.length ? [h('h3', {}, 'Possibly the same event'),
      h('ul', { class: 'small', id: 'candidates' }, candidates.slice(0, 8).map((c) => h('li', { dataset: { id: c.incident_id } },
        idLink(c.incident_id), ` (${c.origin}) ${c.title}`, h('div', { class: 'muted' }, c.reasons.join('; ')),
        canLink ? h('div', { class: 'btn-row' },
          h('button', { type: 'button', class: 'btn btn-small', onclick: () => link(c.incident_id, 'same-as') }, 'Same event'),
          h('button', { type: 'button', class: 'btn btn-small', onclick: () => link(c.incident_id, 'related-to') }, 'Related')) : null)))]
      : null);
}
