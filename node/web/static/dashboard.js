// Beacon statistics dashboard: reads this node's /api/v1/stats endpoints and draws inline SVG.
// Hand-written, no dependencies, nothing fetched from outside the node. Every text that comes
// from a report (a developer's name, an id) goes into the page as textContent, never as markup.
// The API is called with the console's session cookie (same origin); the page itself is only
// served to a signed-in session (node/web/dashboard.py).
"use strict";

(() => {
  const {COLOR, fmt, h, fmtDuration, fmtTime, ago, empty, wireTooltip, stackedColumns, hbars,
         legend} = window.BeaconCharts;
  const {presetRange, drillHref, addExports} = window.BeaconTools;
  const SEVERITIES = ["hazard", "serious-hazard", "incident", "serious-incident", "disaster"];
  const SEVERITY_LABEL = {
    "hazard": "Hazard", "serious-hazard": "Serious hazard", "incident": "Incident",
    "serious-incident": "Serious incident", "disaster": "Disaster",
  };
  // Okabe–Ito colours, distinguishable with every common colour-vision deficiency: blues for
  // hazards, orange and vermillion for incidents, near-black for a disaster.
  const SEVERITY_COLOR = {
    "hazard": "#56B4E9", "serious-hazard": "#0072B2", "incident": "#E69F00",
    "serious-incident": "#D55E00", "disaster": "#222222",
  };
  const HARM_LABEL = {
    "physical": "Physical", "psychological": "Psychological",
    "economic-property": "Economic or property", "reputational": "Reputational",
    "environmental": "Environmental", "public-interest": "Public interest",
    "human-rights": "Human rights",
  };
  const RED_LINE_LABEL = {
    "autonomous-replication-or-improvement": "Autonomous replication or improvement",
    "power-seeking": "Power seeking", "assisting-weapon-development": "Assisting weapon development",
    "cyberattacks": "Cyberattacks", "deception": "Deception",
  };
  const TIER_LABEL = {1: "Tier 1 · affected peers", 2: "Tier 2 · all members", 3: "Tier 3 · global emergency"};
  const MONTHS_SHOWN = 36;
  const REFRESH_MS = 30000;

  const state = {unit: "year", since: "", until: "", basis: "all", auto: true, data: null,
                 loading: false};
  const BASIS_NOTE = {
    all: "Showing every value: as the sources state it (observed), as an import rule read it "
      + "from them (derived), and defaults. Choose \u201cobserved only\u201d to leave out what "
      + "no source states.",
    derived: "Showing observed and derived values; a default (e.g. the severity given to an "
      + "unclassified imported report) counts as unknown.",
    observed: "Showing only what the sources state; derived and default values count as "
      + "unknown, so totals stay the same and the unknown bars grow.",
  };
  const drill = (where) => drillHref(where, state);
  const unknownLabel = (k, what) => (k === null ? `${what} unknown` : String(k));
  const $ = (id) => document.getElementById(id);

  // -- data shaping -----------------------------------------------------------------------------
  function byKey(result, dim) {
    const out = new Map();
    for (const g of result.groups) out.set(g.key[dim], (out.get(g.key[dim]) || 0) + g.count);
    return out;
  }

  function monthAdd(ym, n) {
    const [y, m] = ym.split("-").map(Number);
    const t = y * 12 + (m - 1) + n;
    return `${Math.floor(t / 12)}-${String((t % 12) + 1).padStart(2, "0")}`;
  }

  // Continuous time categories (no gaps: an empty year is a fact worth seeing).
  function timeCategories(groups, unit, withUnknown) {
    const keys = [...new Set(groups.map((g) => g.key[unit]).filter((k) => k !== null))].sort();
    const unknown = withUnknown && groups.some((g) => g.key[unit] === null);
    if (!keys.length) return {cats: unknown ? [null] : [], hidden: 0};
    const cats = [];
    if (unit === "year") {
      for (let yv = keys[0]; yv <= keys[keys.length - 1]; yv++) cats.push(yv);
    } else {
      const last = keys[keys.length - 1];
      let first = keys[0];
      if (monthAdd(first, MONTHS_SHOWN - 1) < last) first = monthAdd(last, -(MONTHS_SHOWN - 1));
      for (let k = first; k <= last; k = monthAdd(k, 1)) cats.push(k);
    }
    // Undated reports are a column of their own, never dropped silently.
    if (unknown) cats.push(null);
    return {cats};
  }

  function monthLabel(ym) {
    if (ym === null) return "month unknown";
    const [y, m] = ym.split("-").map(Number);
    return new Date(Date.UTC(y, m - 1, 1)).toLocaleString("en-GB", {month: "short", timeZone: "UTC"})
      + " " + String(y).slice(2);
  }

  function severitySeries(groups, unit, cats) {
    const index = new Map(cats.map((c, i) => [c, i]));
    return SEVERITIES.map((sev) => {
      const values = new Array(cats.length).fill(0);
      for (const g of groups) {
        if (g.key.severity === sev && index.has(g.key[unit])) values[index.get(g.key[unit])] += g.count;
      }
      return {key: sev, name: SEVERITY_LABEL[sev], color: SEVERITY_COLOR[sev], values};
    }).filter((sr) => sr.values.some(Boolean));
  }

  // -- panels -----------------------------------------------------------------------------------
  function setTile(id, value, sub, hot) {
    const tile = $(id);
    tile.querySelector(".value").textContent = value === null ? "–" : fmt(value);
    tile.querySelector(".sub").textContent = sub || "";
    tile.classList.toggle("hot", Boolean(hot));
    tile.dataset.value = value === null ? "" : String(value);
  }

  function renderTiles(d) {
    const total = d.severity.total;
    const sev = byKey(d.severity, "severity");
    const serious = (sev.get("serious-incident") || 0) + (sev.get("disaster") || 0);
    const range = state.since || state.until
      ? `occurred ${state.since || "…"} to ${state.until || "…"}` : "all time";
    const undated = d.severity.undated
      ? ` · ${fmt(d.severity.undated)} more with date unknown` : "";
    const clusters = d.summary.clusters
      ? ` · ${fmt(d.summary.clusters)} reported by several members, counted once` : "";
    setTile("tile-total", total, range + undated + clusters);
    setTile("tile-serious", serious, total ? `${((100 * serious) / total).toFixed(1)} % of all` : "");
    setTile("tile-redlines", d.summary.red_line_reports, "reports naming a red line",
            d.summary.red_line_reports > 0);
    setTile("tile-stubs", d.summary.stubs, "TLP:RED and AMBER+STRICT");
    const esc = d.summary.escalations;
    // An upgraded store counts its old escalations in the background (node/pipeline/statistics.py):
    // until then the figures cover only what is counted so far, and the tile says so.
    const counting = esc.counting
      ? ` · still counting: ${fmt(esc.counting.folded)} of ${fmt(esc.counting.stored)} stored messages read`
      : "";
    setTile("tile-open", esc.open, `${fmt(esc.seen)} escalations seen${counting}`);
    $("tile-open").dataset.counting = esc.counting ? "true" : "false";
    setTile("tile-overdue", esc.overdue, esc.overdue ? "past their deadline, unanswered" : "none past deadline",
            esc.overdue > 0);
    // prep: the assurance flag (GET /api/v1/preparedness/summary), as on the Models page
    const prep = d.preparedness;
    const flagged = prep.models_above_threshold_without_approved_safety_case;
    setTile("tile-unassured", flagged,
            `${fmt(prep.models_without_approved_safety_case)} without an approved safety case in all`,
            flagged > 0);
  }

  function renderTimeline(d) {
    const unit = state.unit;
    const groups = d.time.groups;
    const {cats} = timeCategories(groups, unit, true);
    const el = $("chart-timeline");
    el.dataset.by = `${unit},severity`;
    const note = $("timeline-note");
    legend($("legend-severity"), SEVERITIES.map((sv) => [SEVERITY_LABEL[sv], SEVERITY_COLOR[sv]]));
    if (!cats.length) {
      empty(el, "No dated incident to show yet.");
      note.textContent = "";
      return;
    }
    const series = severitySeries(groups, unit, cats);
    const shown = series.reduce((a, sr) => a + sr.values.reduce((x, y) => x + y, 0), 0);
    stackedColumns(el, {
      categories: cats, series, height: 280,
      label: unit === "year" ? (c) => unknownLabel(c, "date") : monthLabel,
      title: `Incidents by ${unit} of occurrence and severity`,
      href: (cat, severity) => drill({[unit]: cat, severity}),
    });
    const undated = groups.filter((g) => g.key[unit] === null).reduce((a, g) => a + g.count, 0);
    const parts = [];
    if (unit === "month" && d.time.total > shown) {
      parts.push(`Showing the last ${MONTHS_SHOWN} months with data; ${fmt(d.time.total - shown)} earlier incidents are in the yearly view.`);
    }
    if (undated) {
      parts.push(unit === "month"
        ? `${fmt(undated)} incidents have no known month (no occurrence date, a stub whose week spans two months, or a date the chosen values leave out): the last column.`
        : `${fmt(undated)} incidents have no known date: the \u201cdate unknown\u201d column.`);
    }
    if (d.time.undated) {
      parts.push(`${fmt(d.time.undated)} reports with no date cannot lie in the chosen range and are not counted here; choose \u201cAll time\u201d to see them.`);
    }
    note.textContent = parts.join(" ");
    el.dataset.total = String(shown);
  }

  function renderBreakdowns(d) {
    const origins = [...byKey(d.origin, "origin")].sort((a, b) => b[1] - a[1]);
    hbars($("chart-origin"), origins.map(([k, v]) => ({label: k === null ? "unknown" : k.toUpperCase(), value: v,
                                                       tip: `${k}: ${fmt(v)} incidents`,
                                                       href: drill({origin: k})})),
          {color: COLOR.blue, title: "Incidents by reporting jurisdiction", emptyText: "No incident yet."});

    const harms = [...byKey(d.harm, "harm_type")].filter(([k]) => k !== null).sort((a, b) => b[1] - a[1]);
    hbars($("chart-harm"), harms.map(([k, v]) => ({label: HARM_LABEL[k] || k, value: v,
                                                  href: drill({harm_type: k})})),
          {color: COLOR.green, title: "Incidents by harm type", emptyText: "No incident yet."});

    // AIID names an unidentified party "unknown" or "unknown-<something>": a placeholder, not a
    // developer, so it is counted in the note rather than ranked.
    const placeholder = (k) => k === null || /^unknown(-|$)/i.test(k);
    const devs = [...byKey(d.developer, "developer")];
    const known = devs.filter(([k]) => !placeholder(k))
      .sort((a, b) => b[1] - a[1] || String(a[0]).localeCompare(b[0]));
    const unnamed = devs.filter(([k]) => k === null).reduce((a, [, v]) => a + v, 0);
    const unidentified = devs.filter(([k]) => k !== null && placeholder(k)).reduce((a, [, v]) => a + v, 0);
    hbars($("chart-developer"), known.slice(0, 10).map(([k, v]) => ({label: k, value: v, tip: `${k}: ${fmt(v)}`,
                                                                    href: drill({developer: k})})),
          {color: COLOR.purple, title: "Top 10 AI system developers", maxLabel: 230,
           emptyText: "No report names a developer yet."});
    $("developer-note").textContent = [
      known.length > 10 ? `${fmt(known.length)} developers in all.` : "",
      unidentified ? `${fmt(unidentified)} reports name an unidentified developer ("unknown…").` : "",
      unnamed ? `${fmt(unnamed)} name none (stubs never do).` : "",
    ].filter(Boolean).join(" ");

    const sev = byKey(d.severity, "severity");
    hbars($("chart-severity"), SEVERITIES.map((k) => ({label: SEVERITY_LABEL[k], value: sev.get(k) || 0,
                                                      color: SEVERITY_COLOR[k], keepZero: d.severity.total > 0,
                                                      href: drill({severity: k})})),
          {title: "Incidents by severity", emptyText: "No incident yet."});
    const sevUnknown = sev.get(null) || 0;
    $("chart-severity").dataset.unknown = String(sevUnknown);
    if (sevUnknown) {
      $("chart-severity").append(h("p", {class: "note"},
        h("a", {href: drill({severity: null})}, `${fmt(sevUnknown)} with severity unknown`),
        " under the chosen values (a default severity)."));
    }
    renderFacet(d.country, "country", "Incidents by affected country", 15, "affected country");
    renderFacet(d.sector, "sector", "Incidents by sector of deployment", 10, "sector");
    renderFacet(d.model, "model", "Incidents by AI system or model", 10, "system");
  }

  // A ranked breakdown with its "unknown" bar last: what cannot be known is shown, not hidden.
  function renderFacet(result, dim, title, top, what) {
    const all = [...byKey(result, dim)];
    const known = all.filter(([k]) => k !== null).sort((a, b) => b[1] - a[1] || String(a[0]).localeCompare(b[0]));
    const unknown = all.filter(([k]) => k === null).reduce((a, [, v]) => a + v, 0);
    const items = known.slice(0, top).map(([k, v]) => ({label: String(k), value: v, href: drill({[dim]: k})}));
    if (unknown) items.push({label: `${what} unknown`, value: unknown, color: COLOR.grey, href: drill({[dim]: null})});
    hbars($(`chart-${dim}`), items, {color: COLOR.sky, title, maxLabel: 230, emptyText: "No incident yet."});
    $(`${dim}-note`).textContent = known.length > top ? `${fmt(known.length)} in all; the top ${top} shown.` : "";
  }

  function renderSummary(d) {
    const sm = d.summary;
    const reds = Object.entries(sm.red_lines);
    const anyRed = reds.some(([, v]) => v > 0);
    hbars($("chart-redlines"), reds.map(([k, v]) => ({label: RED_LINE_LABEL[k] || k, value: v, keepZero: true,
                                                     href: drill({red_line: k})})),
          {color: COLOR.vermillion, title: "Red-line crossings", maxLabel: 300, labelShare: 0.5});
    $("chart-redlines").dataset.any = String(anyRed);

    const trips = Object.entries(sm.tripwires).slice(0, 10);
    hbars($("chart-tripwires"), trips.map(([k, v]) => ({label: k, value: v})),
          {color: COLOR.orange, title: "Tripwire crossings",
           emptyText: "No report names a tripwire crossing."});

    renderAck(sm.ack_times);
    renderEscalations(sm.escalations);
  }

  function renderAck(ack) {
    const el = $("chart-ack");
    legend($("legend-ack"), ack.length ? [["Median", COLOR.blue], ["90th percentile", COLOR.sky]] : []);
    if (!ack.length) {
      empty(el, "No escalation has been acknowledged yet.");
      return;
    }
    const items = [];
    for (const t of ack) {
      const name = `${TIER_LABEL[t.tier] || "Tier " + t.tier} (n=${t.count})`;
      items.push({label: name, value: t.median_seconds, color: COLOR.blue, keepZero: true,
                  tip: `${name}\nmedian ${fmtDuration(t.median_seconds)}`});
      items.push({label: "90th percentile", value: t.p90_seconds, color: COLOR.sky, keepZero: true,
                  tip: `${name}\n90th percentile ${fmtDuration(t.p90_seconds)}`});
    }
    hbars(el, items, {format: fmtDuration, title: "Acknowledgement time per tier", maxLabel: 230});
  }

  function renderEscalations(esc) {
    hbars($("chart-escalations"), [
      {label: "Answered", value: esc.answered, color: COLOR.green, keepZero: true},
      {label: "Open, within deadline", value: esc.open, color: COLOR.blue, keepZero: true},
      {label: "Overdue", value: esc.overdue, color: COLOR.vermillion, keepZero: true},
      {label: "Closed by resolution", value: esc.closed, color: COLOR.grey, keepZero: true},
    ], {title: esc.counting ? "Escalations by state (still counting; figures so far)"
                            : "Escalations by state", emptyText: "No escalation seen yet."});
    const list = $("overdue-list");
    if (!esc.seen) {
      list.replaceChildren(h("p", {class: "dash-empty"}, "No escalation seen yet."));
      return;
    }
    if (!esc.overdue_items.length) {
      list.replaceChildren(h("p", {class: "note"}, "No escalation is overdue."));
      return;
    }
    const rows = esc.overdue_items.slice(0, 8).map((it) => h("tr", {},
      h("td", {class: "mono"}, it.id),
      h("td", {}, `${it.origin} → ${it.waiting_on.join(", ")}`),
      h("td", {}, String(it.tier)),
      h("td", {class: "nowrap", title: fmtTime(it.deadline)}, fmtTime(it.deadline).slice(5, 16)),
      h("td", {class: "late"}, fmtDuration(it.overdue_seconds))));
    const more = esc.overdue - rows.length;
    list.replaceChildren(...[h("table", {class: "overdue-table"},
      h("caption", {class: "visually-hidden"}, "Overdue escalations, longest overdue first"),
      h("thead", {}, h("tr", {}, h("th", {}, "Escalation"), h("th", {}, "From → waiting on"),
                       h("th", {}, "Tier"), h("th", {}, "Deadline"), h("th", {}, "Overdue by"))),
      h("tbody", {}, rows)),
      more > 0 ? h("p", {class: "note"}, `and ${fmt(more)} more overdue`) : null].filter(Boolean));
  }

  function renderSnapshot(snap) {
    const panel = $("global-panel"), badge = $("global-verified"), body = $("global-body");
    if (!snap) {
      panel.classList.remove("unverified");
      badge.className = "vbadge";
      badge.textContent = "none yet";
      badge.dataset.verified = "";
      empty(body, "No statistics snapshot from the international body yet. It signs one "
                  + "whenever the global figures change.");
      return;
    }
    const sn = snap.snapshot;
    $("global-signer-label").textContent = `(signed by ${snap.signer.member})`;
    badge.dataset.verified = String(snap.verified);
    badge.className = snap.verified ? "vbadge ok" : "vbadge bad";
    badge.textContent = snap.verified ? "✓ Signature verified" : "✗ Signature NOT verified";
    panel.classList.toggle("unverified", !snap.verified);

    const overdue = (sn.escalations || {}).overdue || 0;
    const sig = h("div", {class: "signature"},
      h("div", {class: "big", id: "global-total", "data-value": sn.total}, fmt(sn.total)),
      h("p", {class: "mini-title"}, "incidents worldwide"),
      h("dl", {},
        h("dt", {}, "Signed by"), h("dd", {id: "global-signer"},
          `${snap.signer.member} (${snap.signer.role === "international-body" ? "international body" : snap.signer.role || "not in roster"})`),
        h("dt", {}, "Key"), h("dd", {class: "mono"}, snap.signer.keyid ? snap.signer.keyid.slice(0, 16) + "…" : "no trusted key"),
        h("dt", {}, "Issued"), h("dd", {}, `${fmtTime(snap.issued_at)} · ${ago(snap.issued_at)}`),
        h("dt", {}, "Digest"), h("dd", {class: "mono", title: snap.digest}, snap.digest.slice(0, 16) + "…"),
        h("dt", {}, "Stubs"), h("dd", {}, `${fmt(sn.stubs)} counted without their detail`),
        h("dt", {}, "Overdue"), h("dd", {}, `${fmt(overdue)} escalations`)));

    const years = h("div", {}, h("p", {class: "mini-title"}, "Worldwide, by year of occurrence"));
    const yearChart = h("div", {class: "chart", id: "chart-global-years"});
    years.append(yearChart);
    body.replaceChildren(sig, years);

    const ys = sn.counts.year_severity || [];
    const {cats} = timeCategories(ys, "year");
    if (cats.length) {
      // The snapshot counts everything, all time: its bars open this node's list the same way.
      stackedColumns(yearChart, {categories: cats, series: severitySeries(ys, "year", cats), height: 170,
                                 label: String, title: "Worldwide incidents by year and severity",
                                 href: (year, severity) => drillHref({year, severity}, {basis: "all"})});
    } else {
      empty(yearChart, "No dated incident yet.");
    }
  }

  function render() {
    const d = state.data;
    if (!d) return;
    renderTiles(d);
    renderTimeline(d);
    renderBreakdowns(d);
    renderSummary(d);
    renderSnapshot(d.snapshot);
    $("basis-note").textContent = BASIS_NOTE[state.basis];
    addExports(query, (text) => setStatus(text, true));
    document.body.dataset.ready = "true";
  }

  // -- loading ----------------------------------------------------------------------------------
  class HttpError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  async function api(path, accept) {
    const headers = {Accept: accept || "application/json"};
    const r = await fetch(path, {headers, credentials: "same-origin", cache: "no-store"});
    if (!r.ok) {
      let message = `${r.status} ${r.statusText}`;
      try {
        const b = await r.json();
        if (b.errors) message = b.errors.map((e) => e.message).join("; ");
      } catch (e) { /* not JSON */ }
      throw new HttpError(r.status, message);
    }
    return accept === "text/csv" ? r.blob() : r.json();
  }

  function rangeQuery() {
    const p = new URLSearchParams();
    if (state.since) p.set("since", state.since);
    if (state.until) p.set("until", state.until);
    const q = p.toString();
    return q ? `&${q}` : "";
  }

  const query = () => `${rangeQuery()}&basis=${state.basis}`;

  function setStatus(text, isError, link) {
    const el = $("status");
    el.className = isError ? "status error" : "status";
    el.replaceChildren(text ? text : "", link || "");
  }

  async function load() {
    if (state.loading) return;
    state.loading = true;
    const q = rangeQuery();
    const stats = (by) => api(`/api/v1/stats?by=${by}${query()}`);
    try {
      const [time, origin, harm, developer, severity, country, sector, model, summary, snapshot,
             preparedness] =
        await Promise.all([
          stats(`${state.unit},severity`), stats("origin"), stats("harm_type"), stats("developer"),
          stats("severity"), stats("country"), stats("sector"), stats("model"),
          api(`/api/v1/stats/summary?${q.slice(1)}`),
          api("/api/v1/stats/snapshot").catch((e) => (e.status === 404 ? null : Promise.reject(e))),
          api("/api/v1/preparedness/summary"),
        ]);
      state.data = {time, origin, harm, developer, severity, country, sector, model, summary,
                    snapshot, preparedness};
      $("scope-note").textContent = `Counted at ${summary.node} (${summary.role === "international-body"
        ? "the international body" : "a member"}) from every report it may see: full reports, and the `
        + "signed statistical stubs that stand in for TLP:RED and TLP:AMBER+STRICT reports.";
      setStatus("");
      $("main").classList.remove("signed-out");
      render();
      $("updated-at").textContent = `Updated ${fmtTime(summary.generated_at)}.`;
    } catch (e) {
      $("main").classList.toggle("signed-out", e.status === 401);
      if (e.status === 401) {
        setStatus("Sign in to the console to see statistics. ", true,
                  h("a", {href: "/login?next=/dashboard"}, "Sign in"));
      } else {
        setStatus(`Could not load statistics: ${e.message}`, true);
      }
    } finally {
      state.loading = false;
    }
  }

  async function downloadCsv() {
    try {
      const blob = await api(`/api/v1/stats?by=year,origin,severity${query()}`, "text/csv");
      const url = URL.createObjectURL(blob);
      const a = h("a", {href: url, download: "beacon-stats-year-origin-severity.csv"});
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 5000);
    } catch (e) {
      setStatus(`Could not download the CSV: ${e.message}`, true);
    }
  }

  function wire() {
    wireTooltip();
    $("range-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      state.since = $("since").value;
      state.until = $("until").value;
      load();
    });
    $("all-time").addEventListener("click", () => {
      $("since").value = "";
      $("until").value = "";
      state.since = state.until = "";
      load();
    });
    $("download-csv").addEventListener("click", downloadCsv);
    for (const b of document.querySelectorAll("[data-preset]")) {
      b.addEventListener("click", () => {
        [state.since, state.until] = presetRange(b.dataset.preset);
        $("since").value = state.since;
        $("until").value = state.until;
        load();
      });
    }
    $("basis").addEventListener("change", () => { state.basis = $("basis").value; load(); });
    $("auto-refresh").addEventListener("change", () => { state.auto = $("auto-refresh").checked; });
    for (const b of document.querySelectorAll(".toggle button")) {
      b.addEventListener("click", () => {
        state.unit = b.dataset.unit;
        for (const o of document.querySelectorAll(".toggle button")) {
          o.setAttribute("aria-pressed", String(o === b));
        }
        load();
      });
    }
    let resizeTimer = null;
    window.addEventListener("resize", () => {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(render, 150);
    });
    setInterval(() => { if (state.auto && document.visibilityState === "visible") load(); }, REFRESH_MS);
    load();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", wire);
  else wire();
})();
