// Beacon statistics dashboard, tools around the charts: time-range presets, the link from a
// chart's mark to the incident list filtered the same way, and a CSV or PNG export per chart.
// Hand-written, no dependencies; reads only this node's API.
"use strict";

window.BeaconTools = (() => {
  const {h, save, savePng} = window.BeaconCharts;

  // A preset's [since, until] as YYYY-MM-DD (UTC), or ["", ""] for all time.
  function presetRange(name, today) {
    const t = today || new Date();
    const iso = (d) => d.toISOString().slice(0, 10);
    const back = (years, months) => new Date(Date.UTC(t.getUTCFullYear() - years,
                                                      t.getUTCMonth() - months, t.getUTCDate()));
    if (name === "12m") return [iso(back(0, 12)), iso(t)];
    if (name === "5y") return [iso(back(5, 0)), iso(t)];
    if (name === "2020") return ["2020-01-01", ""];
    return ["", ""];
  }

  // The incident list ("/") showing the events one mark counts: the same group (where=dim:value,
  // an empty value for "unknown"), the same basis and the same occurrence range.
  function drillHref(where, {basis, since, until}) {
    const p = new URLSearchParams();
    for (const [dim, value] of Object.entries(where)) p.append("where", `${dim}:${value === null ? "" : value}`);
    p.set("basis", basis);
    if (since) p.set("occurred_since", since);
    if (until) p.set("occurred_until", until);
    return `/?${p.toString()}`;
  }

  // CSV and PNG buttons under every chart: CSV asks the API for the chart's own grouping
  // (data-by), PNG draws the chart's SVG.
  function addExports(query, onError) {
    for (const chart of document.querySelectorAll(".panel .chart")) {
      const panel = chart.closest(".panel");
      if (panel.querySelector(`.exports[data-chart="${chart.id}"]`)) continue;
      const name = chart.id.replace(/^chart-/, "");
      const bar = h("div", {class: "exports", "data-chart": chart.id});
      if (chart.dataset.by) {
        bar.append(h("button", {type: "button", class: "quiet small", "data-format": "csv",
                                "aria-label": `Download the ${name} chart as CSV`}, "CSV"));
      }
      bar.append(h("button", {type: "button", class: "quiet small", "data-format": "png",
                              "aria-label": `Download the ${name} chart as PNG`}, "PNG"));
      bar.addEventListener("click", async (ev) => {
        const format = ev.target.dataset.format;
        if (!format) return;
        try {
          if (format === "png") {
            await savePng(chart, `beacon-${name}.png`);
            return;
          }
          const by = chart.dataset.by;
          const r = await fetch(`/api/v1/stats?by=${by}&format=csv${query()}`,
                                {credentials: "same-origin", cache: "no-store"});
          if (!r.ok) throw new Error(`HTTP ${r.status}`);
          save(await r.blob(), `beacon-stats-${by.replace(/,/g, "-")}.csv`);
        } catch (e) {
          onError(`Could not export the ${name} chart: ${e.message}`);
        }
      });
      panel.append(bar);
    }
  }

  return {presetRange, drillHref, addExports};
})();
