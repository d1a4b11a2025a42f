"""Markdown: the summary of a report (report/summary.md, short enough for a CI log) and of a
regression gate's comparison (`--markdown FILE`, for a CI job page)."""

from __future__ import annotations

import pandas as pd

from harness import analysis
from harness.compare import UNCHANGED, Comparison
from harness.record import Run
from harness.report import (
    NAME_COLUMNS,
    PROBE_COLUMNS,
    SIDE_COLUMNS,
    SUMMARY_COLUMNS,
    RunView,
    TableData,
    probe_rows,
    story,
    table,
)


def markdown_table(data: TableData, left: int = 1) -> list[str]:
    """A pipe table; the first `left` columns left-aligned, the others right-aligned."""
    out = [
        "| " + " | ".join(data.headers) + " |",
        "|" + "|".join("---" if i < left else "---:" for i in range(len(data.headers))) + "|",
    ]
    return out + ["| " + " | ".join(row) + " |" for row in data.rows]


def _run(v: RunView) -> list[str]:
    meta = v.run.meta
    m = meta.get("machine", {})
    ver = meta.get("versions", {})
    git = ver.get("git") or {}
    head = story.headline(v.summary, v.results, v.speed, v.points, v.events, v.cores, v.counters)
    lines = [
        f"# {meta.get('scenario', {}).get('name')} — run {v.label} ({meta.get('status')})",
        "",
        f"**{head.answer}**" + (f" {head.doubt}" if head.doubt else ""),
        "",
        f"{m.get('cpu_model')} · {m.get('logical_cores')} cores · node {ver.get('node')} · locust {ver.get('locust')} · "
        f"commit {git['commit'][:10] if git.get('commit') else 'unknown'}{' (dirty)' if git.get('dirty') else ''}",
        "",
    ]
    if v.warnings:
        lines += ["**Warnings**", ""] + [f"- {w}" for w in v.warnings] + [""]
    lines += markdown_table(table(v.summary, SUMMARY_COLUMNS, markdown=True))
    probe = probe_rows(v.summary)
    if not probe.empty:
        lines += [""] + markdown_table(table(probe, PROBE_COLUMNS, markdown=True), left=2)
    names = analysis.name_summary(v.run)
    if not names.empty:
        lines += ["", "Per request name (measured window; latency from the repetitions' histograms merged):", ""]
        lines += markdown_table(table(names, NAME_COLUMNS, markdown=True), left=2)
    lines.append("")
    lines += [f"- {t}" for t in v.story]
    return lines


def report(views: list[RunView], side: pd.DataFrame | None = None) -> str:
    """The CI-log summary: per run the headline, the warnings, one table row per condition
    and the story; with several runs, first the conditions they share, side by side."""
    lines: list[str] = []
    if side is not None:
        lines += ["# Side by side (separate runs: ratios are across runs, not measured in one)", ""]
        lines += markdown_table(table(side, SIDE_COLUMNS, markdown=True), left=2)
        lines.append("")
    for v in views:
        lines += _run(v) + [""]
    return "\n".join(lines).rstrip() + "\n"


def comparison(cmp: Comparison, baseline: Run | None = None, current: Run | None = None) -> str:
    """A summary for a CI job page: the verdict, why, and every row."""
    kind = (
        "A/B in one run, paired by repetition"
        if cmp.paired
        else "independent runs (Welch)"
        + ("" if cmp.same_machine else "; different machines: absolute figures not compared")
    )
    lines = [
        f"## harness compare: {cmp.verdict} (exit {cmp.exit_code})",
        "",
        f"Baseline `{cmp.baseline_label}` vs current `{cmp.current_label}`: {kind}; change = current / "
        f"baseline with its {cmp.level:.0%} interval, against each metric's threshold.",
        "",
    ]
    notes = cmp.summary_lines()
    if notes:
        lines += [f"- {n}" for n in notes] + [""]
    lines += [
        "| condition | metric | baseline | current | change [interval] | threshold | verdict |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for r in cmp.rows:
        why = f": {r.reason}" if r.verdict not in (UNCHANGED,) or not r.gating else ""
        lines.append(
            f"| {r.condition} | {r.metric} | {analysis.fmt(r.baseline)} | {analysis.fmt(r.current)} | "
            f"{r.interval_text} | ±{r.threshold_pct:g}% | {r.verdict}{why} |"
        )
    return "\n".join(lines) + "\n"
