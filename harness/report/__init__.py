"""Reports: a pure function of one or more stored runs -> PNG figures, one self-contained
HTML page (figures embedded, no external reference) and a Markdown summary short enough
for a CI log. Given several runs, the report puts them side by side first (the same
conditions, each run's figures in one chart) and then shows each run in full.

The numbers come from harness.analysis, computed once per run in a RunView; the words
from this package: story.py (what you see and why), warnings.py, sweeps.py.
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
from jinja2 import Environment, FileSystemLoader, select_autoescape

from harness import analysis
from harness.errors import UsageError
from harness.record import Run, atomic_write_text
from harness.report import figures, story, warnings


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
    counters: pd.DataFrame  # analysis.counter_summary: the shared-state demo's counts (empty otherwise)
    events: pd.DataFrame  # analysis.event_outcomes: one row per event fired (empty without events)


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
    counters = analysis.counter_summary(analysis.counter_results(run))
    events = analysis.event_outcomes(run)
    return RunView(
        run=run,
        label=label or run.run_id,
        results=results,
        summary=summary,
        speed=speed,
        points=points,
        warnings=warnings.run_warnings(run, results, summary),
        story=story.lines(summary, results, speed, points, cores, counters, events),
        cases=cases,
        first_reps=cases.drop_duplicates("condition"),
        cores=cores,
        counters=counters,
        events=events,
    )


def _png(fig: plt.Figure, path: Path) -> Path:
    figures.save(fig, path, dpi=110)
    plt.close(fig)
    return path


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


@dataclass(frozen=True)
class Column:
    """One column of a table on the page: its header, the analysis column it shows and the
    format of a cell; `md` when the Markdown summary carries it too. The HTML and the
    Markdown are both built from one list of these, so a header always sits over its cells."""

    header: str
    key: str
    fmt: str = ""
    md: bool = False

    def cell(self, record: dict[str, Any]) -> str:
        value = record.get(self.key)
        if self.fmt == "yesno":
            return "yes" if bool(value) and not (isinstance(value, float) and math.isnan(value)) else "no"
        return analysis.fmt(value, self.fmt) if self.fmt else ("–" if value is None else str(value))


@dataclass
class TableData:
    headers: list[str]
    rows: list[list[str]]

    def __bool__(self) -> bool:
        return bool(self.rows)


def table(frame: pd.DataFrame, columns: list[Column], markdown: bool = False) -> TableData:
    """The cells of `frame` under `columns` (only those with md=True for the Markdown)."""
    cols = [c for c in columns if c.md or not markdown]
    return TableData([c.header for c in cols], [[c.cell(rec) for c in cols] for rec in frame.to_dict("records")])


SUMMARY_COLUMNS = [
    Column("condition", "condition", md=True),
    Column("reps", "repetitions", "d", md=True),
    Column("req/s median", "throughput_median_rps", ",.0f", md=True),
    Column("min", "throughput_min_rps", ",.0f", md=True),
    Column("max", "throughput_max_rps", ",.0f", md=True),
    Column("median interval low", "throughput_median_low_rps", ",.0f"),
    Column("median interval high", "throughput_median_high_rps", ",.0f"),
    Column("interval coverage", "throughput_interval_coverage", ".1%"),
    Column("CV %", "throughput_cv_pct", ".1f"),
    Column("p50 ms", "latency_p50_ms", ".2f", md=True),
    Column("p90 ms", "latency_p90_ms", ".2f"),
    Column("p99 ms", "latency_p99_ms", ".2f", md=True),
    Column("p99.9 ms", "latency_p99_9_ms", ".2f"),
    Column("server CPU %", "server_cpu_pct", ".0f"),
    Column("server CPU ms/request", "server_cpu_ms_per_request", ".2f"),
    Column("generator CPU %", "generator_cpu_pct", ".0f", md=True),
    Column("Jain", "jain_index", ".3f"),
    Column("failures", "failures", "d", md=True),
    Column("generator-limited", "generator_limited", "yesno", md=True),
]
CASE_COLUMNS = [
    Column("case", "case_id"),
    Column("req/s", "throughput_rps", ",.0f"),
    Column("requests", "requests", "d"),
    Column("failures", "failures", "d"),
    Column("measured s", "measured_s", ".1f"),
    Column("p50 ms", "latency_p50_ms", ".2f"),
    Column("p99 ms", "latency_p99_ms", ".2f"),
    Column("max ms", "latency_max_ms", ".1f"),
    Column("server CPU %", "server_cpu_pct", ".0f"),
    Column("generator CPU %", "generator_cpu_pct", ".0f"),
    Column("machine CPU %", "machine_cpu_pct", ".0f"),
    Column("Jain", "jain_index", ".3f"),
    Column("client/server mismatch", "client_server_mismatch", ".2%"),
    Column("generator-limited", "generator_limited", "yesno"),
]
SPEED_COLUMNS = [
    Column("condition", "condition", md=True),
    Column("baseline", "baseline", md=True),
    Column("speedup (ratio of medians)", "speedup", ".2f", md=True),
    Column("paired min", "paired_min", ".2f", md=True),
    Column("paired max", "paired_max", ".2f", md=True),
    Column("scaling efficiency", "scaling_efficiency", ".0%", md=True),
]
SWEEP_COLUMNS = [
    Column("sweep", "sweep"),
    Column("value", "value", "g"),
    Column("req/s median", "throughput_median_rps", ",.0f"),
    Column("min", "throughput_min_rps", ",.0f"),
    Column("max", "throughput_max_rps", ",.0f"),
    Column("p99 ms", "latency_p99_ms", ".2f"),
    Column("speedup", "speedup", ".2f"),
    Column("scaling efficiency", "scaling_efficiency", ".0%"),
    Column("knee candidate", "knee", "yesno"),
    Column("knee firm", "knee_firm", "yesno"),
]
PROBE_COLUMNS = [
    Column("condition", "condition", md=True),
    Column("probe route", "probe_path", md=True),
    Column("probe p50 ms", "probe_latency_p50_ms", ".1f", md=True),
    Column("probe p99 ms", "probe_latency_p99_ms", ".1f", md=True),
    Column("event-loop delay p99 ms (worst worker)", "event_loop_delay_p99_ms", ".1f", md=True),
    Column("load req/s median", "throughput_median_rps", ",.0f", md=True),
]
NAME_COLUMNS = [
    Column("condition", "condition", md=True),
    Column("request name", "name", md=True),
    Column("reps", "repetitions", "d"),
    Column("requests", "requests", "d", md=True),
    Column("share", "share", ".0%", md=True),
    Column("req/s median", "throughput_median_rps", ",.0f", md=True),
    Column("p50 ms", "latency_p50_ms", ".2f", md=True),
    Column("p90 ms", "latency_p90_ms", ".2f"),
    Column("p99 ms", "latency_p99_ms", ".2f", md=True),
    Column("max ms", "latency_max_ms", ".1f"),
    Column("failures", "failures", "d", md=True),
]
# A user's app run with the harness's preload: each process's own figures (the processes table)
PROCESS_COLUMNS = [
    Column("case", "case_id"),
    Column("pid", "pid", "d"),
    Column("worker id", "worker_id"),
    Column("requests (all phases)", "requests", ",.0f"),
    Column("readiness probes", "probes", ",.0f"),
    Column("event-loop delay p99 ms", "event_loop_delay_p99_ms", ".1f"),
    Column("event-loop utilization", "event_loop_utilization", ".0%"),
    Column("CPU s", "cpu_s", ".2f"),
    Column("RSS MB", "rss_mb", ".0f"),
]
SIDE_COLUMNS = [
    Column("condition", "condition", md=True),
    Column("run", "run", md=True),
    Column("req/s median", "throughput_median_rps", ",.0f", md=True),
    Column("ratio to the first run", "throughput_ratio", ".3f", md=True),
    Column("p99 ms", "latency_p99_ms", ".2f", md=True),
    Column("p99 ratio to the first run", "latency_p99_ratio", ".3f", md=True),
    Column("generator-limited", "generator_limited", "yesno", md=True),
]


def probe_rows(summary: pd.DataFrame) -> pd.DataFrame:
    if "probe_path" not in summary:
        return summary.iloc[0:0]
    return summary[summary["probe_path"].fillna("").astype(str) != ""]


# Each figure of a run: its file name, what it needs (tables that must not be empty) and how
# it is drawn. A figure whose table is missing or empty, or whose data cannot be drawn, is
# skipped and listed with the reason; the report never fails for one figure.
FIGURE_NEEDS = {
    "throughput": (),
    "latency": (),
    "latency_over_time": ("timeline",),
    "cpu_over_time": ("samples",),
    "cores_by_role": ("samples",),
    "requests_per_worker": ("workers",),
    "throughput_over_time": ("timeline",),
    "cpu_by_thread": ("threads",),
    "thread_cpu_over_time": ("threads",),
    "sweeps": (),
    "events": ("requests", "events"),
    "memory": (),
}


@dataclass
class Figures:
    paths: dict[str, Path]
    skipped: dict[str, str]


def _draw(name: str, v: RunView) -> plt.Figure | None:
    run = v.run
    if name == "throughput":
        return figures.throughput(v.summary, v.results)
    if name == "latency":
        return figures.latency(v.summary, analysis.LATENCY_PRECISION_PCT)
    if name == "latency_over_time":
        return figures.latency_over_time(run["timeline"], v.first_reps)
    if name == "cpu_over_time":
        return figures.cpu_over_time(run["samples"], v.first_reps)
    if name == "cores_by_role":
        return figures.cores_by_role(
            analysis.cpu_seconds_by_process(run), v.cases, v.cores, v.results.set_index("case_id")["other_cpu_pct"]
        )
    if name == "requests_per_worker":
        rpw = analysis.requests_per_worker(run)
        if rpw.empty:
            raise figures.Skip("no response carried a worker id")
        return figures.requests_per_worker(rpw, v.results)
    if name == "throughput_over_time":
        return figures.throughput_over_time(run["timeline"], v.cases)
    if name == "cpu_by_thread":
        return figures.cpu_by_thread(analysis.thread_cpu(run), v.first_reps)
    if name == "thread_cpu_over_time":
        return figures.thread_cpu_over_time(run["threads"], v.first_reps)
    if name == "sweeps":
        if v.points.empty:
            raise figures.Skip("no sweep: no set of conditions that differ in one setting only")
        return figures.sweep(v.points, v.cores)
    if name == "events":
        return figures.events(run["requests"], v.events)
    if name == "memory":
        return figures.memory(story.memory_conditions(v.summary))
    raise KeyError(name)


# figures a run of this kind is not expected to have: skipped without a line in the report
_QUIET_SKIPS = {"events", "sweeps", "cpu_by_thread", "thread_cpu_over_time", "memory"}


def _run_figures(v: RunView, out_dir: Path, prefix: str) -> Figures:
    paths: dict[str, Path] = {}
    skipped: dict[str, str] = {}
    for name, needs in FIGURE_NEEDS.items():
        empty = [t for t in needs if t not in v.run.tables or v.run[t].empty]
        if empty:
            if name not in _QUIET_SKIPS:
                skipped[name] = (
                    f"the run has no {' and no '.join(t + '.csv' for t in empty)} rows "
                    "(not recorded, or an older record)"
                )
            continue
        try:
            fig = _draw(name, v)
        except figures.Skip as exc:
            if name not in _QUIET_SKIPS:
                skipped[name] = str(exc)
            continue
        except (ValueError, KeyError, IndexError, TypeError, ZeroDivisionError) as exc:
            skipped[name] = f"could not be drawn from this run's data ({type(exc).__name__}: {exc})"
            plt.close("all")
            continue
        if fig is None:
            continue
        paths[name] = _png(fig, out_dir / f"{prefix}{name}.png")
    return Figures(paths, skipped)


def _process_rows(run: Run) -> pd.DataFrame:
    """The processes table (a user's app with the preload) for the page: CPU seconds (user +
    system) and RSS in MB; processes that served nothing (an app's own primary) left out."""
    frame = run.tables.get("processes")
    if frame is None or frame.empty:
        return pd.DataFrame()
    frame = frame[pd.to_numeric(frame["requests"], errors="coerce").fillna(0) > 0]
    return frame.assign(
        cpu_s=pd.to_numeric(frame["cpu_user_s"], errors="coerce")
        + pd.to_numeric(frame["cpu_system_s"], errors="coerce"),
        rss_mb=pd.to_numeric(frame["rss_bytes"], errors="coerce") / 2**20,
    )


def _run_context(v: RunView, figs: Figures) -> dict[str, Any]:
    meta = v.run.meta
    head = story.headline(v.summary, v.results, v.speed, v.points, v.events, v.cores, v.counters)
    said = story.condition_lines(v.summary)  # the table in words: folded away in the HTML
    return {
        "label": v.label,
        "meta": meta,
        "scenario": meta.get("scenario", {}),
        "machine": meta.get("machine", {}),
        "versions": meta.get("versions", {}),
        "warnings": v.warnings,
        "narrative": [line for line in v.story if line not in said],
        "condition_lines": said,
        "headline": head,
        "headline_figure": head.figure if head.figure in figs.paths else None,
        "summary": table(v.summary, SUMMARY_COLUMNS),
        "speed": table(v.speed, SPEED_COLUMNS),
        "sweep": table(v.points, SWEEP_COLUMNS),
        "cases": table(v.results, CASE_COLUMNS),
        "probe": table(probe_rows(v.summary), PROBE_COLUMNS),
        "names": table(analysis.name_summary(v.run), NAME_COLUMNS),
        "processes": table(_process_rows(v.run), PROCESS_COLUMNS),
        "figures": {k: _data_uri(p) for k, p in figs.paths.items()},
        "skipped": [(FIGURE_TITLES.get(k, k), why) for k, why in figs.skipped.items()],
    }


FIGURE_TITLES = {
    "throughput": "throughput per condition",
    "latency": "latency percentiles",
    "latency_over_time": "latency over time",
    "cpu_over_time": "CPU per process over time",
    "cores_by_role": "where the CPU went",
    "requests_per_worker": "requests per worker",
    "throughput_over_time": "throughput over time",
    "cpu_by_thread": "CPU by thread",
    "thread_cpu_over_time": "CPU per thread over time",
    "sweeps": "sweeps",
    "events": "events during the load",
    "memory": "memory per worker or thread",
}


def _combined(views: list[RunView]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every run's summary and results in one table, conditions named `condition · run`,
    in condition order, so one figure shows the runs side by side."""
    summaries, results = [], []
    for v in views:
        summaries.append(
            v.summary.assign(condition=v.summary["condition"] + " · " + v.label, _c=v.summary["condition"])
        )
        results.append(v.results.assign(condition=v.results["condition"] + " · " + v.label))
    summary = pd.concat(summaries, ignore_index=True)
    order = list(dict.fromkeys(summary["_c"]))
    summary = summary.sort_values("_c", key=lambda c: c.map(order.index), kind="stable").drop(columns="_c")
    return summary.reset_index(drop=True), pd.concat(results, ignore_index=True)


def render_report(runs: list[Run], out_dir: Path) -> Report:
    """Render the report of one or more stored runs into out_dir. Never starts a server."""
    from harness.export import markdown as markdown_export  # it reads this module's tables

    if not runs:
        raise UsageError("a report needs at least one run", "pass run ids, see `harness list`")
    labels = analysis.run_labels([r.meta for r in runs])
    views = [view(r, label) for r, label in zip(runs, labels)]
    out_dir.mkdir(parents=True, exist_ok=True)
    several = len(views) > 1
    all_pngs: list[Path] = []
    run_contexts = []
    with figures.quiet():
        for i, v in enumerate(views, start=1):
            figs = _run_figures(v, out_dir, f"run{i}-" if several else "")
            all_pngs += figs.paths.values()
            run_contexts.append(_run_context(v, figs))
        comparison = None
        if several:
            summary, results = _combined(views)
            pngs = {
                "throughput": _png(figures.throughput(summary, results), out_dir / "side_by_side_throughput.png"),
                "latency": _png(
                    figures.latency(summary, analysis.LATENCY_PRECISION_PCT), out_dir / "side_by_side_latency.png"
                ),
            }
            all_pngs += pngs.values()
            side = analysis.side_by_side([v.summary for v in views], labels)
            comparison = {
                "table": table(side, SIDE_COLUMNS),
                "figures": {k: _data_uri(p) for k, p in pngs.items()},
                "different_machines": len(
                    {
                        (r.meta.get("machine", {}).get("cpu_model"), r.meta.get("machine", {}).get("logical_cores"))
                        for r in runs
                    }
                )
                > 1,
            }
    env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=select_autoescape())
    html_text = env.get_template("report.html").render(
        runs=run_contexts,
        comparison=comparison,
        precision_pct=analysis.LATENCY_PRECISION_PCT,
        mode_colors=figures.MODE_COLORS,
        role_colors=figures.ROLE_COLORS,
        title=" vs ".join(labels) if several else f"{runs[0].meta.get('scenario', {}).get('name')} — {labels[0]}",
    )
    html_path = out_dir / "report.html"
    atomic_write_text(html_path, html_text)
    md_path = out_dir / "summary.md"
    side = analysis.side_by_side([v.summary for v in views], labels) if several else None
    atomic_write_text(md_path, markdown_export.report(views, side))
    atomic_write_text(out_dir / "summary.json", json.dumps(summary_json(views, side), indent=1, allow_nan=False) + "\n")
    return Report(html=html_path, markdown=md_path, figures=all_pngs)


# report/summary.json, for other tools; docs/your-own.md documents it. Bump on a change a
# reader must know of: 1 the first version.
SUMMARY_SCHEMA_VERSION = 1


def json_records(frame: pd.DataFrame | None) -> list[dict[str, Any]]:
    """A table as JSON-ready rows: NaN and missing values as None, numpy scalars as Python's."""
    if frame is None or frame.empty:
        return []
    rows = []
    for record in frame.to_dict(orient="records"):
        row = {}
        for key, value in record.items():
            value = value.item() if hasattr(value, "item") else value
            row[str(key)] = None if value is None or (isinstance(value, float) and not math.isfinite(value)) else value
        rows.append(row)
    return rows


def summary_json(views: list[RunView], side: pd.DataFrame | None = None) -> dict[str, Any]:
    """What report/summary.json holds: per run its conditions (figures and their intervals),
    speedups, sweep points with their knees, the warnings and the headline's verdict; with
    several runs, the side-by-side table. The same tables the page is made from."""
    runs = []
    for v in views:
        meta = v.run.meta
        head = story.headline(v.summary, v.results, v.speed, v.points, v.events, v.cores, v.counters)
        runs.append(
            {
                "run_id": v.run.run_id,
                "label": v.label,
                "status": meta.get("status"),
                "scenario": meta.get("scenario", {}).get("name"),
                "started_at": meta.get("started_at"),
                "machine": {k: meta.get("machine", {}).get(k) for k in ("cpu_model", "logical_cores", "memory_bytes")},
                # the answer says itself whether its claim is firm; `doubt` is the page's line below it
                "headline": {"answer": head.answer, "doubt": head.doubt},
                "warnings": list(v.warnings),
                "conditions": json_records(v.summary),
                # per condition and request name where the load sent several (analysis.name_summary)
                "names": json_records(analysis.name_summary(v.run)),
                "speedups": json_records(v.speed),
                "sweeps": json_records(v.points),
            }
        )
    return {
        "schema_version": SUMMARY_SCHEMA_VERSION,
        "kind": "node-scaling-harness report summary",
        "runs": runs,
        "side_by_side": json_records(side),
    }
