"""The results table in ``docs/performance.md``, rewritten between two markers by ``make bench``.

    >>> # write_table(Path("docs/performance.md"), report)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def render(r: dict[str, Any]) -> str:
    """The table of whatever parts ran (``bench.consumer`` skips a part asked for at 0)."""
    rows: list[tuple[str, str]] = []
    if "floor" in r:
        f = r["floor"]
        rows += [
            ("Ed25519 verify (floor part)", f"{f['verify_us']} µs CPU"),
            ("compiled validation, jsonschema-rs (floor part)",
             f"{f['compiled_validate_us']} µs CPU"),
            ("python-jsonschema validation (beside it)",
             f"{f['python_jsonschema_validate_us']} µs CPU"),
            ("**floor** = verify + compiled validation", f"**{f['floor_us']} µs**")]
    if "ingest" in r:
        i = r["ingest"]
        rows += [
            (f"ingest: fr drains {i['reports']} pre-signed reports",
             f"{i['reports_per_s']} reports/s"),
            ("ingest: node CPU per report", f"{i['cpu_us_per_report']} µs"),
            ("ingest: floor / node CPU (goal ≥ 0.3)", f"**{i['floor_over_cpu']}**")]
    if "pipeline_in_process" in r:
        rows += [
            ("pipeline in one process (check, store, react), per CPU-second",
             f"{r['pipeline_in_process']['reports_per_s']} reports/s"),
            ("the same, with no playbook loaded (no runs start)",
             f"{r['pipeline_in_process'].get('without_playbooks_per_s')} reports/s")]
    if "filing_latency_gb_to_fr_ms" in r:
        lat = r["filing_latency_gb_to_fr_ms"]
        rows.append((f"filing gb → visible at fr, {lat['samples']} closed-loop samples",
                     f"p50 {lat['p50']} ms, p99 {lat['p99']} ms, max {lat['max']} ms"))
    rows += [(f"offered {o['offered_per_s']}/s for {o['reports']} reports, gb → visible at fr",
              f"p50 {o.get('p50_ms')} ms, p99 {o.get('p99_ms')} ms, max {o.get('max_ms')} ms"
              + ("" if o.get("visible") == o["reports"] else f" ({o.get('visible')} seen)"))
             for o in r.get("offered_latency_gb_to_fr", [])]
    if "size" in r:
        z = r["size"]
        rows += [
            (f"size: {z['reports']} stored reports, RSS / database",
             f"{z['rss_mb']} MB / {z['db_mb']} MB"),
            ("size: list first page / at least disaster / count",
             f"{z['list_ms']} ms / {z['list_disaster_ms']} ms / {z['count_ms']} ms"),
            ("size: two-word search (trigram index, exact re-check)",
             f"{z['search_two_words_ms']} ms")]
    lines = [f"Measured {r['measured_at']} on {r['machine']}; every figure from the same run.",
             "", "| figure | value |", "|---|---|", *(f"| {a} | {b} |" for a, b in rows)]
    return "\n".join(lines)


def write_table(doc: Path, report: dict[str, Any]) -> None:
    text = doc.read_text() if doc.exists() else f"{BEGIN}\n{END}\n"
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    doc.write_text(f"{head}{BEGIN}\n{render(report)}\n{END}{tail}")
