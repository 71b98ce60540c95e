// Beacon statistics dashboard, chart primitives: small DOM helpers and two SVG chart kinds
// (stacked columns, horizontal bars), with legends and a tooltip. Hand-written, no dependencies.
// Every text is set as textContent; nothing here reads data from anywhere.
"use strict";

window.BeaconCharts = (() => {
  const COLOR = {
    blue: "#0072B2", sky: "#56B4E9", green: "#009E73", orange: "#E69F00",
    vermillion: "#D55E00", purple: "#CC79A7", grey: "#8A94A3",
  };
  const SVGNS = "http://www.w3.org/2000/svg";
  const nf = new Intl.NumberFormat("en-GB");
  const fmt = (n) => nf.format(n);
  const $ = (id) => document.getElementById(id);

  // -- small DOM helpers ------------------------------------------------------------------------
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") el.className = v; else el.setAttribute(k, String(v));
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  function s(tag, attrs, text) {
    const el = document.createElementNS(SVGNS, tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== null && v !== undefined) el.setAttribute(k, String(v));
    }
    if (text !== undefined) el.textContent = String(text);
    return el;
  }

  function svgRoot(width, height, label) {
    return s("svg", {viewBox: `0 0 ${width} ${height}`, width, height, role: "img",
                     "aria-label": label, preserveAspectRatio: "xMinYMin meet"});
  }

  const measure = document.createElement("canvas").getContext("2d");
  function fitText(text, maxWidth, font) {
    measure.font = font || "12px system-ui, sans-serif";
    if (measure.measureText(text).width <= maxWidth) return text;
    let lo = 0, hi = text.length;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (measure.measureText(text.slice(0, mid) + "…").width <= maxWidth) lo = mid; else hi = mid - 1;
    }
    return text.slice(0, lo) + "…";
  }

  function niceMax(max, ticks) {
    if (max <= 0) return {top: 1, step: 1};
    const raw = max / ticks;
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((st) => st >= raw && (st >= 1 || mag < 1));
    const st = Math.max(1, step || mag * 10);
    return {top: Math.ceil(max / st) * st, step: st};
  }

  function fmtDuration(seconds) {
    if (seconds < 1) return "< 1 s";  // signed timestamps have whole seconds
    if (seconds < 90) return `${Math.round(seconds)} s`;
    if (seconds < 5400) return `${(seconds / 60).toFixed(seconds < 600 ? 1 : 0)} min`;
    if (seconds < 172800) return `${(seconds / 3600).toFixed(1)} h`;
    return `${(seconds / 86400).toFixed(1)} d`;
  }

  function fmtTime(iso) {
    const d = new Date(iso);
    if (isNaN(d)) return iso;
    return d.toISOString().replace("T", " ").slice(0, 16) + " UTC";
  }

  function ago(iso) {
    const sec = (Date.now() - new Date(iso).getTime()) / 1000;
    if (!isFinite(sec)) return "";
    if (sec < 45) return "just now";
    if (sec < 5400) return `${Math.round(sec / 60)} min ago`;
    if (sec < 172800) return `${Math.round(sec / 3600)} h ago`;
    return `${Math.round(sec / 86400)} days ago`;
  }

  function empty(el, text) {
    el.replaceChildren(h("p", {class: "dash-empty"}, text));
  }

  function widthOf(el, fallback) {
    return Math.max(260, Math.floor(el.clientWidth || el.parentElement.clientWidth || fallback));
  }

  // -- tooltip ----------------------------------------------------------------------------------
  function wireTooltip() {
    const tip = $("tooltip");
    document.addEventListener("mousemove", (ev) => {
      const target = ev.target.closest ? ev.target.closest("[data-tip]") : null;
      if (!target) { tip.hidden = true; return; }
      tip.textContent = target.getAttribute("data-tip");
      tip.hidden = false;
      const x = Math.min(ev.clientX + 14, window.innerWidth - tip.offsetWidth - 8);
      const y = Math.min(ev.clientY + 14, window.innerHeight - tip.offsetHeight - 8);
      tip.style.left = `${x}px`;
      tip.style.top = `${y}px`;
    });
  }

  // -- charts -----------------------------------------------------------------------------------
  // Stacked columns: categories along x, one stacked segment per series (bottom first).
  function stackedColumns(el, {categories, label, series, height, title, href}) {
    const width = widthOf(el, 800);
    const H = height || 260;
    const m = {left: 46, right: 10, top: 12, bottom: 34};
    const plotW = width - m.left - m.right, plotH = H - m.top - m.bottom;
    const totals = categories.map((_, i) => series.reduce((a, sr) => a + (sr.values[i] || 0), 0));
    const {top, step} = niceMax(Math.max(0, ...totals), 4);
    const svg = svgRoot(width, H, title);
    const y = (v) => m.top + plotH - (v / top) * plotH;
    const axis = s("g", {class: "axis"});
    for (let v = 0; v <= top + 1e-9; v += step) {
      axis.append(s("line", {class: v === 0 ? "baseline" : "gridline", x1: m.left, x2: width - m.right,
                             y1: y(v), y2: y(v)}));
      axis.append(s("text", {x: m.left - 8, y: y(v) + 4, "text-anchor": "end"}, fmt(v)));
    }
    svg.append(axis);
    const band = plotW / Math.max(1, categories.length);
    const barW = Math.max(1, Math.min(46, band * 0.74));
    const bars = s("g", {class: "bars"});
    categories.forEach((cat, i) => {
      let acc = 0;
      const x = m.left + i * band + (band - barW) / 2;
      for (const sr of series) {
        const v = sr.values[i] || 0;
        if (!v) continue;
        const y0 = y(acc), y1 = y(acc + v);
        const rect = s("rect", {
          class: "bar", x: x.toFixed(2), y: y1.toFixed(2), width: barW.toFixed(2),
          height: Math.max(0.5, y0 - y1).toFixed(2), fill: sr.color, "data-value": v,
          "data-series": sr.key, "data-category": cat === null ? "" : cat,
          "data-tip": `${label(cat)}\n${sr.name}: ${fmt(v)}\nAll severities: ${fmt(totals[i])}`
            + (href ? "\nClick to list them" : ""),
        });
        bars.append(linked(rect, href ? href(cat, sr.key) : null, `${label(cat)}, ${sr.name}: ${fmt(v)}`));
        acc += v;
      }
    });
    svg.append(bars);
    // Label as many categories as fit, evenly: every k-th, always the last.
    const labels = s("g", {class: "axis"});
    const fitEvery = Math.max(1, Math.ceil(categories.length / Math.max(1, Math.floor(plotW / 52))));
    categories.forEach((cat, i) => {
      if ((categories.length - 1 - i) % fitEvery !== 0) return;  // anchored at the newest
      labels.append(s("text", {x: m.left + i * band + band / 2, y: H - m.bottom + 18,
                               "text-anchor": "middle"}, label(cat)));
    });
    svg.append(labels);
    el.replaceChildren(svg);
  }

  // Horizontal bars with a label on the left and the value at the end of each bar.
  function hbars(el, items, {color, format, title, emptyText, maxLabel, labelShare}) {
    if (!items.length || items.every((it) => !it.value) && !items.some((it) => it.keepZero)) {
      empty(el, emptyText || "Nothing to show.");
      return;
    }
    const width = widthOf(el, 520);
    const rowH = 26;
    const labelW = Math.min(maxLabel || 190, Math.floor(width * (labelShare || 0.42)));
    const valueW = 58;
    const H = items.length * rowH + 6;
    const plotW = width - labelW - valueW - 8;
    const max = Math.max(1, ...items.map((it) => it.value));
    const svg = svgRoot(width, H, title);
    const fmtV = format || fmt;
    items.forEach((it, i) => {
      const yMid = i * rowH + rowH / 2 + 2;
      const g = s("g", {"data-tip": it.tip || `${it.label}: ${fmtV(it.value)}`});
      g.append(s("text", {x: labelW - 8, y: yMid + 4, "text-anchor": "end"},
                 fitText(it.label, labelW - 12)));
      const w = it.value ? Math.max(2, (it.value / max) * plotW) : 0;
      if (w) {
        g.append(s("rect", {class: "bar", x: labelW, y: yMid - 8, width: w.toFixed(2), height: 16,
                            rx: 3, fill: it.color || color || COLOR.blue, "data-value": it.value,
                            "data-label": it.label}));
        if (it.href) g.setAttribute("data-tip", `${g.getAttribute("data-tip")}\nClick to list them`);
      } else {
        g.append(s("line", {x1: labelW, x2: labelW, y1: yMid - 8, y2: yMid + 8, class: "baseline",
                            "data-value": 0, "data-label": it.label}));
      }
      g.append(s("text", {x: labelW + w + 6, y: yMid + 4, class: it.value ? "value-label" : "zero"},
                 fmtV(it.value)));
      svg.append(it.value && it.href ? linked(g, it.href, `${it.label}: ${fmtV(it.value)}`) : g);
    });
    el.replaceChildren(svg);
  }

  // A chart mark that opens the incident list filtered as the mark counts (an SVG link).
  function linked(mark, href, name) {
    if (!href) return mark;
    const a = s("a", {href, class: "drill", "aria-label": `${name}: list these incidents`});
    a.append(mark);
    return a;
  }

  function save(blob, filename) {
    const url = URL.createObjectURL(blob);
    const a = h("a", {href: url, download: filename});
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 5000);
  }

  // The chart's SVG drawn onto a canvas at twice its size, with the styles it needs inlined
  // (the page's stylesheet does not reach an SVG drawn as an image).
  function savePng(el, filename) {
    const svg = el.querySelector("svg");
    if (!svg) return Promise.resolve(false);
    const copy = svg.cloneNode(true);
    copy.setAttribute("xmlns", SVGNS);
    const style = document.createElementNS(SVGNS, "style");
    style.textContent = "text{font:12px system-ui,sans-serif;fill:#141c28}"
      + ".gridline{stroke:#eceff3}.baseline{stroke:#8a94a3}.zero{fill:#8a94a3}";
    copy.prepend(style);
    const w = Number(svg.getAttribute("width")), hgt = Number(svg.getAttribute("height"));
    const src = "data:image/svg+xml;base64," + btoa(unescape(encodeURIComponent(
      new XMLSerializer().serializeToString(copy))));
    return new Promise((resolve, reject) => {
      const img = new Image();
      img.onload = () => {
        const canvas = document.createElement("canvas");
        canvas.width = w * 2;
        canvas.height = hgt * 2;
        const ctx = canvas.getContext("2d");
        ctx.fillStyle = "#ffffff";
        ctx.fillRect(0, 0, canvas.width, canvas.height);
        ctx.scale(2, 2);
        ctx.drawImage(img, 0, 0, w, hgt);
        canvas.toBlob((blob) => { save(blob, filename); resolve(true); }, "image/png");
      };
      img.onerror = () => reject(new Error("the chart could not be drawn as an image"));
      img.src = src;
    });
  }

  function legend(el, entries) {
    el.replaceChildren(...entries.map(([name, color]) => {
      const swatch = h("i", {"aria-hidden": "true"});
      swatch.style.background = color;
      return h("span", {}, swatch, name);
    }));
  }

  return {COLOR, fmt, h, fitText, fmtDuration, fmtTime, ago, empty, wireTooltip, stackedColumns,
          hbars, legend, save, savePng};
})();
