"""Reports: a pure function of one or more stored runs -> PNG figures, one self-contained
HTML page (figures embedded, no external reference) and a Markdown summary short enough
for a CI log. Given several runs, the report puts them side by side first (the same
conditions, each run's figures in one chart) and then shows each run in full.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
from jinja2 import Environment, FileSystemLoader, select_autoescape

from harness import analysis
from harness.errors import UsageError
from harness.record import Run, atomic_write_text
from harness.report import figures, story


@dataclass
class Report:
    html: Path
    markdown: Path
    figures: list[Path]


@dataclass
class RunView:
    """One stored run with every analysis table a report draws from it."""

    run: Run
    label: str
    results: pd.DataFrame
    summary: pd.DataFrame
    speed: pd.DataFrame
    points: pd.DataFrame
    warnings: list[str]
    story: list[str]
    cases: pd.DataFrame
    first_reps: pd.DataFrame
    cores: int


def view(run: Run, label: str | None = None) -> RunView:
    """Analyse one run for the report (and for notebooks, which use the same tables)."""
    results = analysis.case_results(run)
    if results.empty:
        raise UsageError(f"run {run.run_id} has no complete case to report", f"see {run.path / 'run.json'}")
    summary = analysis.condition_summary(results, run["endpoints"])
    speed = analysis.speedups(results, run.meta.get("scenario", {}).get("baseline", "single"))
    cores = int(run.meta.get("machine", {}).get("logical_cores") or 1)
    points = analysis.sweeps(summary, speed)
    cases = run["cases"][run["cases"]["status"] == "complete"]
    return RunView(run=run, label=label or run.run_id, results=results, summary=summary, speed=speed,
                   points=points, warnings=analysis.run_warnings(run, results, summary),
                   story=story.lines(summary, results, speed, points, cores,
                                     analysis.counter_summary(analysis.counter_results(run)),
                                     analysis.event_outcomes(run)),
                   cases=cases,
                   first_reps=cases.drop_duplicates("condition"), cores=cores)


def _png(fig: plt.Figure, path: Path) -> Path:
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _table(frame: pd.DataFrame, formats: dict[str, str]) -> list[list[str]]:
    """Rows of formatted cells (the template escapes them)."""
    return [[analysis.fmt(rec[c], f) if f else str(rec[c]) for c, f in formats.items()]
            for rec in frame.to_dict("records")]


SUMMARY_FORMATS = {
    "condition": "", "repetitions": "d", "throughput_median_rps": ",.0f", "throughput_min_rps": ",.0f",
    "throughput_max_rps": ",.0f", "throughput_median_low_rps": ",.0f", "throughput_median_high_rps": ",.0f",
    "throughput_interval_coverage": ".1%", "throughput_cv_pct": ".1f", "latency_p50_ms": ".2f", "latency_p90_ms": ".2f", "latency_p99_ms": ".2f",
    "latency_p99_9_ms": ".2f", "server_cpu_pct": ".0f", "server_cpu_ms_per_request": ".2f",
    "generator_cpu_pct": ".0f", "jain_index": ".3f", "failures": "d", "generator_limited": "",
}
CASE_FORMATS = {
    "case_id": "", "throughput_rps": ",.0f", "requests": "d", "failures": "d", "measured_s": ".1f",
    "latency_p50_ms": ".2f", "latency_p99_ms": ".2f", "latency_max_ms": ".1f", "server_cpu_pct": ".0f",
    "generator_cpu_pct": ".0f", "machine_cpu_pct": ".0f", "jain_index": ".3f", "client_server_mismatch": ".2%",
    "generator_limited": "",
}


def _run_figures(v: RunView, out_dir: Path, prefix: str) -> dict[str, Path]:
    run = v.run
    rpw = analysis.requests_per_worker(run)
    cpu = analysis.cpu_seconds_by_process(run)
    pngs = {
        "throughput": figures.throughput(v.summary, v.results),
        "latency": figures.latency(v.summary, analysis.LATENCY_PRECISION_PCT),
        "latency_over_time": figures.latency_over_time(run["timeline"], v.first_reps),
        "cpu_over_time": figures.cpu_over_time(run["samples"], v.first_reps),
        "cores_by_role": figures.cores_by_role(cpu, v.cases, v.cores,
                                               v.results.set_index("case_id")["other_cpu_pct"]),
        "requests_per_worker": figures.requests_per_worker(rpw, v.results) if not rpw.empty else None,
        "throughput_over_time": figures.throughput_over_time(run["timeline"], v.cases),
        "cpu_by_thread": figures.cpu_by_thread(analysis.thread_cpu(run), v.first_reps),
        "thread_cpu_over_time": figures.thread_cpu_over_time(run["threads"], v.first_reps)
        if not run["threads"].empty else None,
        "sweeps": figures.sweep(v.points, v.cores) if not v.points.empty else None,
        "events": figures.events(run["requests"], analysis.event_outcomes(run)),
    }
    return {k: _png(fig, out_dir / f"{prefix}{k}.png") for k, fig in pngs.items() if fig is not None}


def _run_context(v: RunView, pngs: dict[str, Path]) -> dict[str, Any]:
    meta = v.run.meta
    return {
        "label": v.label, "meta": meta, "scenario": meta.get("scenario", {}), "machine": meta.get("machine", {}),
        "versions": meta.get("versions", {}), "warnings": v.warnings, "narrative": v.story,
        "summary_rows": _table(v.summary, SUMMARY_FORMATS),
        "speed_rows": _table(v.speed, {"condition": "", "baseline": "", "speedup": ".2f", "paired_min": ".2f",
                                       "paired_max": ".2f", "scaling_efficiency": ".0%"}),
        "sweep_rows": _table(v.points, {"sweep": "", "value": "g", "throughput_median_rps": ",.0f",
                                        "throughput_min_rps": ",.0f", "throughput_max_rps": ",.0f",
                                        "latency_p99_ms": ".2f", "speedup": ".2f", "scaling_efficiency": ".0%",
                                        "knee": "", "knee_firm": ""}),
        "case_rows": _table(v.results, CASE_FORMATS),
        "probe_rows": _table(v.summary[v.summary["probe_path"].fillna("").astype(str) != ""],
                             {"condition": "", "probe_path": "", "probe_latency_p50_ms": ".1f",
                              "probe_latency_p99_ms": ".1f", "event_loop_delay_p99_ms": ".1f",
                              "throughput_median_rps": ",.0f"}),
        "figures": {k: _data_uri(p) for k, p in pngs.items()},
    }


def _combined(views: list[RunView]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every run's summary and results in one table, conditions named `condition · run`,
    in condition order, so one figure shows the runs side by side."""
    summaries, results = [], []
    for v in views:
        summaries.append(v.summary.assign(condition=v.summary["condition"] + " · " + v.label, _c=v.summary["condition"]))
        results.append(v.results.assign(condition=v.results["condition"] + " · " + v.label))
    summary = pd.concat(summaries, ignore_index=True)
    order = list(dict.fromkeys(summary["_c"]))
    summary = summary.sort_values("_c", key=lambda c: c.map(order.index), kind="stable").drop(columns="_c")
    return summary.reset_index(drop=True), pd.concat(results, ignore_index=True)


def render_report(runs: list[Run], out_dir: Path) -> Report:
    """Render the report of one or more stored runs into out_dir. Never starts a server."""
    if not runs:
        raise UsageError("a report needs at least one run", "pass run ids, see `harness list`")
    labels = analysis.run_labels([r.meta for r in runs])
    views = [view(r, label) for r, label in zip(runs, labels)]
    out_dir.mkdir(parents=True, exist_ok=True)
    several = len(views) > 1
    all_pngs: list[Path] = []
    run_contexts = []
    for i, v in enumerate(views, start=1):
        pngs = _run_figures(v, out_dir, f"run{i}-" if several else "")
        all_pngs += pngs.values()
        run_contexts.append(_run_context(v, pngs))
    comparison = None
    if several:
        summary, results = _combined(views)
        pngs = {"throughput": _png(figures.throughput(summary, results), out_dir / "side_by_side_throughput.png"),
                "latency": _png(figures.latency(summary, analysis.LATENCY_PRECISION_PCT),
                                out_dir / "side_by_side_latency.png")}
        all_pngs += pngs.values()
        side = analysis.side_by_side([v.summary for v in views], labels)
        comparison = {
            "rows": _table(side, {"condition": "", "run": "", "throughput_median_rps": ",.0f",
                                  "throughput_ratio": ".3f", "latency_p99_ms": ".2f", "latency_p99_ratio": ".3f",
                                  "generator_limited": ""}),
            "figures": {k: _data_uri(p) for k, p in pngs.items()},
            "different_machines": len({(r.meta.get("machine", {}).get("cpu_model"),
                                        r.meta.get("machine", {}).get("logical_cores")) for r in runs}) > 1,
        }
    env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=select_autoescape())
    html_text = env.get_template("report.html").render(
        runs=run_contexts, comparison=comparison, precision_pct=analysis.LATENCY_PRECISION_PCT,
        title=" vs ".join(labels) if several else f"{runs[0].meta.get('scenario', {}).get('name')} — {labels[0]}")
    html_path = out_dir / "report.html"
    atomic_write_text(html_path, html_text)
    md_path = out_dir / "summary.md"
    atomic_write_text(md_path, markdown(views, analysis.side_by_side([v.summary for v in views], labels)
                                        if several else None))
    return Report(html=html_path, markdown=md_path, figures=all_pngs)


def _markdown_run(v: RunView) -> list[str]:
    meta = v.run.meta
    m = meta.get("machine", {})
    ver = meta.get("versions", {})
    git = ver.get("git") or {}
    lines = [
        f"# {meta.get('scenario', {}).get('name')} — run {v.label} ({meta.get('status')})",
        "",
        f"{m.get('cpu_model')} · {m.get('logical_cores')} cores · node {ver.get('node')} · locust {ver.get('locust')} · "
        f"commit {git['commit'][:10] if git.get('commit') else 'unknown'}{' (dirty)' if git.get('dirty') else ''}",
        "",
    ]
    if v.warnings:
        lines += ["**Warnings**", ""] + [f"- {w}" for w in v.warnings] + [""]
    lines += ["| condition | reps | req/s median | min..max | p50 ms | p99 ms | generator CPU % | limited |",
              "|---|---:|---:|---:|---:|---:|---:|---|"]
    for s in v.summary.itertuples(index=False):
        lines.append(f"| {s.condition} | {s.repetitions} | {s.throughput_median_rps:,.0f} | "
                     f"{s.throughput_min_rps:,.0f}..{s.throughput_max_rps:,.0f} | {s.latency_p50_ms:.2f} | "
                     f"{s.latency_p99_ms:.2f} | {s.generator_cpu_pct:.0f} | {'yes' if s.generator_limited else 'no'} |")
    lines.append("")
    lines += [f"- {t}" for t in v.story]
    return lines


def markdown(views: list[RunView], side: pd.DataFrame | None = None) -> str:
    """The CI-log summary: per run the warnings, one table row per condition and the story;
    with several runs, first the conditions they share, side by side."""
    lines: list[str] = []
    if side is not None:
        lines += ["# Side by side (separate runs: ratios are across runs, not measured in one)", "",
                  "| condition | run | req/s median | ratio to first | p99 ms | ratio to first |",
                  "|---|---|---:|---:|---:|---:|"]
        for r in side.itertuples(index=False):
            lines.append(f"| {r.condition} | {r.run} | {r.throughput_median_rps:,.0f} | {r.throughput_ratio:.3f} | "
                         f"{r.latency_p99_ms:.2f} | {r.latency_p99_ratio:.3f} |")
        lines.append("")
    for v in views:
        lines += _markdown_run(v) + [""]
    return "\n".join(lines).rstrip() + "\n"
