"""The suite's table in ``docs/performance.md`` (catch-up, scale, size at 10^6, peer), rewritten
between its own two markers by ``make bench``, below the consumer's table (``bench.table``).

    >>> # write_suite_table(Path("docs/performance.md"), report)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

BEGIN, END = "<!-- bench-suite:begin -->", "<!-- bench-suite:end -->"


def _failed(r: dict[str, Any]) -> list[tuple[str, str]]:
    """A row for each benchmark that broke (the suite records its error and goes on)."""
    parts = [(k, v) for k, v in r.items() if isinstance(v, dict) and "error" in v]
    parts += [(f"scale, {v.get('members', 'one size of')} members", v)
              for v in r.get("scale", []) if "error" in v]
    return [(f"{k}: **not measured**", v["error"].splitlines()[0][:200]) for k, v in parts]


def _rows(r: dict[str, Any]) -> list[tuple[str, str]]:
    r = {k: v for k, v in r.items() if not (isinstance(v, dict) and "error" in v)}
    r["scale"] = [s for s in r.get("scale", []) if "error" not in s]
    rows = []
    if c := r.get("catchup"):
        rows += [(f"catch-up: fr back after {c['reports']} reports offline "
                  f"(load {c['load_average']})",
                  f"{c['reports_per_s']} reports/s, {c['cpu_us_per_report']} µs CPU each, "
                  f"floor / CPU **{c['floor_over_cpu']}**, RSS peak {c['node_peak_rss_mb']} MB")]
    for s in r.get("scale", []):
        rows.append((f"scale: {s['members']} members, {s['offered_per_s']}/s for {s['reports']} "
                     f"reports (load {s['load_average']})",
                     f"{s['cpu_us_per_report_per_node']} µs CPU per report per node (max "
                     f"{s['cpu_us_per_report_max_node']}); gb → fr p50 {s['p50_ms']} ms, p99 "
                     f"{s['p99_ms']} ms; node RSS {s['node_rss_mb_mean']} MB each"))
    if z := r.get("size_node"):
        rows += [
            (f"size: a node serving {z['reports']} reports, RSS serving / after the queries / "
             "peak", f"{z['node_rss_mb_serving']} MB / {z['node_rss_mb_after_queries']} MB / "
             f"{z['node_peak_rss_mb']} MB"),
            ("size: over HTTP, list / at least disaster / two-word search",
             f"{z['list_ms']} ms / {z['list_disaster_ms']} ms / {z['search_two_words_ms']} ms"),
            ("size: statistics total / by severity / summary",
             f"{z['stats_total_ms']} ms / {z['stats_by_severity_ms']} ms / "
             f"{z['stats_summary_ms']} ms")]
    if p := r.get("peer_medallion"):
        m, b = p["medallion"], p["beacon_fr"]
        rows += [
            (f"peer: medallion (memory backend) adds {m['incidents']} AIID incidents as STIX",
             f"{m['objects_per_s']} objects/s ({m['incidents_per_s']} incidents/s); visible "
             f"p50 {m['visible_p50_ms']} ms"),
            (f"peer: Beacon fr ingests the same {b['reports']} incidents, signed",
             f"{b['reports_per_s']} reports/s; visible p50 {b['visible_p50_ms']} ms"),
            ("peer: Beacon / medallion (goal ≥ 50×)",
             f"**{p['ratio_reports_over_incidents']}×** incidents, "
             f"{p['ratio_reports_over_objects']}× objects")]
    return rows


def render(r: dict[str, Any]) -> str:
    said = r.get("suite_note") or (f"Measured {r['measured_at']} in the same run as the table "
                                    "above; the load average (1, 5, 15 min) beside each figure.")
    return "\n".join([said, "",
                      "| figure | value |", "|---|---|",
                      *(f"| {a} | {b} |" for a, b in _rows(r) + _failed(r))])


def write_suite_table(doc: Path, report: dict[str, Any]) -> None:
    text = doc.read_text() if doc.exists() else ""
    if BEGIN not in text:
        text += f"\n{BEGIN}\n{END}\n"
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    doc.write_text(f"{head}{BEGIN}\n{render(report)}\n{END}{tail}")
