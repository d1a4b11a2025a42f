"""Reports: a pure function of stored runs -> PNG figures, one self-contained HTML page
(figures embedded, no external reference) and a Markdown summary short enough for a CI log.
"""

from __future__ import annotations

import base64
import html
import math
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from jinja2 import Environment, FileSystemLoader, select_autoescape

from harness import analysis
from harness.errors import UsageError
from harness.record import Run, atomic_write_text
from harness.report import figures


@dataclass
class Report:
    html: Path
    markdown: Path
    figures: list[Path]



def narrative(summary: pd.DataFrame, results: pd.DataFrame, speed: pd.DataFrame, cores: int) -> list[str]:
    """'What you see and why', written from the measured numbers."""
    out: list[str] = []
    for s in summary.itertuples(index=False):
        text = (f"{s.condition}: median {s.throughput_median_rps:,.0f} req/s "
                f"(min {s.throughput_min_rps:,.0f}, max {s.throughput_max_rps:,.0f}, {s.repetitions} repetitions), "
                f"p99 {s.latency_p99_ms:.1f} ms. The server processes used {s.server_cpu_pct:.0f}% of a core "
                f"({s.server_cpu_ms_per_request:.2f} ms of CPU per request) and "
                f"the load generator {s.generator_cpu_pct:.0f}% (averages over the window); the whole machine was "
                f"{s.machine_cpu_pct:.0f}% busy.")
        if s.generator_limited:
            text += " The generator was the limit here, so this figure is a floor for the server, not its capacity."
        out.append(text)
    for r in speed.itertuples(index=False):
        paired = (f" (paired repetitions: {r.paired_min:.2f}x to {r.paired_max:.2f}x)"
                  if not math.isnan(r.paired_min) else "")
        text = (f"{r.condition} gave {r.speedup:.2f}x the throughput of {r.baseline}{paired}, a scaling "
                f"efficiency of {r.scaling_efficiency:.0%} for {r.workers} {'threads' if 'pool' in r.condition else 'workers'}.")
        cond = summary[summary["condition"] == r.condition]
        base = summary[summary["condition"] == r.baseline]
        if r.workers > 1 and r.scaling_efficiency < 0.85 and not cond.empty and not base.empty:
            c, b = cond.iloc[0], base.iloc[0]
            text += (f" Short of linear. Per request the server spent {c.server_cpu_ms_per_request:.2f} ms of CPU "
                     f"here against {b.server_cpu_ms_per_request:.2f} ms in {r.baseline}")
            machine_full = c.machine_cpu_pct >= 0.9 * 100 * cores
            if c.server_cpu_ms_per_request <= b.server_cpu_ms_per_request * 1.15 and machine_full:
                text += (", so the workers were not less efficient: they were short of CPU. The machine was "
                         f"{c.machine_cpu_pct:.0f}% busy (of {100 * cores:.0f}%) and the load generator took "
                         f"{c.generator_cpu_pct:.0f}% of a core that the workers could otherwise have used.")
            elif c.server_cpu_ms_per_request <= b.server_cpu_ms_per_request * 1.15:
                text += (f", about the same, and the machine was only {c.machine_cpu_pct:.0f}% busy (of "
                         f"{100 * cores:.0f}%): CPU was not the limit. Too few users to keep every worker busy, or "
                         "a bottleneck outside the workers.")
            else:
                text += (f", {c.server_cpu_ms_per_request / b.server_cpu_ms_per_request - 1:.0%} more: "
                         "coordination or contention costs CPU in this mode.")
        if r.generator_limited:
            text += " (A generator-limited case is involved: the ratio understates the server.)"
        out.append(text)
    multi = results[results["workers"] > 1]
    for condition, g in multi.groupby("condition", sort=False):
        jain = g["jain_index"].median()
        ratio = g["max_min_share_ratio"].median()
        seen = int(g["workers_seen"].min())
        workers = int(g["workers"].iloc[0])
        text = (f"{condition}: requests spread over {seen} of {workers} workers with Jain's index {jain:.3f} "
                f"(busiest worker got {ratio:.2f}x the least busy one's share).")
        if seen < workers:
            text += " Some workers served nothing: the spread is far from even."
        out.append(text)
    return out


def _png(fig: plt.Figure, path: Path) -> Path:
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _table(frame: pd.DataFrame, formats: dict[str, str]) -> list[list[str]]:
    rows = []
    for rec in frame.to_dict("records"):
        rows.append([analysis.fmt(rec[c], f) if f else html.escape(str(rec[c])) for c, f in formats.items()])
    return rows


def render_report(runs: list[Run], out_dir: Path) -> Report:
    """Render the report of one stored run into out_dir. Never starts a server."""
    if len(runs) != 1:
        raise UsageError("a report takes one run for now", "pass a single run id; side-by-side runs come later")
    run = runs[0]
    results = analysis.case_results(run)
    if results.empty:
        raise UsageError(f"run {run.run_id} has no complete case to report", f"see {run.path / 'run.json'}")
    summary = analysis.condition_summary(results, run["endpoints"])
    speed = analysis.speedups(results, run.meta.get("scenario", {}).get("baseline", "single"))
    warnings = analysis.run_warnings(run, results, summary)
    rpw = analysis.requests_per_worker(run)
    cpu = analysis.cpu_seconds_by_process(run)
    cases = run["cases"][run["cases"]["status"] == "complete"]
    cores = run.meta.get("machine", {}).get("logical_cores") or 1
    first_reps = cases.drop_duplicates("condition")

    out_dir.mkdir(parents=True, exist_ok=True)
    pngs = {
        "throughput": _png(figures.throughput(summary, results), out_dir / "throughput.png"),
        "latency": _png(figures.latency(summary, analysis.LATENCY_PRECISION_PCT), out_dir / "latency.png"),
        "cpu_over_time": _png(figures.cpu_over_time(run["samples"], first_reps), out_dir / "cpu_over_time.png"),
        "cores_by_role": _png(figures.cores_by_role(cpu, cases, cores), out_dir / "cores_by_role.png"),
        "requests_per_worker": _png(figures.requests_per_worker(rpw, results), out_dir / "requests_per_worker.png"),
        "throughput_over_time": _png(figures.throughput_over_time(run["timeline"], cases),
                                     out_dir / "throughput_over_time.png"),
        "cpu_by_thread": _png(figures.cpu_by_thread(analysis.thread_cpu(run), first_reps),
                              out_dir / "cpu_by_thread.png"),
    }
    meta = run.meta
    context = {
        "meta": meta,
        "scenario": meta.get("scenario", {}),
        "machine": meta.get("machine", {}),
        "versions": meta.get("versions", {}),
        "warnings": warnings,
        "narrative": narrative(summary, results, speed, cores),
        "precision_pct": analysis.LATENCY_PRECISION_PCT,
        "summary_rows": _table(summary, {
            "condition": "", "repetitions": "d", "throughput_median_rps": ",.0f", "throughput_min_rps": ",.0f",
            "throughput_max_rps": ",.0f", "throughput_ci95_low_rps": ",.0f", "throughput_ci95_high_rps": ",.0f",
            "throughput_cv_pct": ".1f", "latency_p50_ms": ".2f", "latency_p99_ms": ".2f", "latency_p99_9_ms": ".2f",
            "server_cpu_pct": ".0f", "server_cpu_ms_per_request": ".2f", "generator_cpu_pct": ".0f", "jain_index": ".3f",
            "failures": "d",
            "generator_limited": "",
        }),
        "speed_rows": _table(speed, {"condition": "", "baseline": "", "speedup": ".2f", "paired_min": ".2f",
                                     "paired_max": ".2f", "scaling_efficiency": ".0%"}),
        "case_rows": _table(results, {
            "case_id": "", "throughput_rps": ",.0f", "requests": "d", "failures": "d", "measured_s": ".1f",
            "latency_p50_ms": ".2f", "latency_p99_ms": ".2f", "latency_max_ms": ".1f", "server_cpu_pct": ".0f",
            "generator_cpu_pct": ".0f", "machine_cpu_pct": ".0f", "jain_index": ".3f", "client_server_mismatch": ".2%",
            "generator_limited": "",
        }),
        "figures": {k: _data_uri(p) for k, p in pngs.items()},
    }
    env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=select_autoescape())
    html_text = env.get_template("report.html").render(**context)
    html_path = out_dir / "report.html"
    atomic_write_text(html_path, html_text)
    md_path = out_dir / "summary.md"
    atomic_write_text(md_path, markdown(run, summary, speed, warnings, context["narrative"]))
    return Report(html=html_path, markdown=md_path, figures=list(pngs.values()))


def markdown(run: Run, summary: pd.DataFrame, speed: pd.DataFrame, warnings: list[str], story: list[str]) -> str:
    meta = run.meta
    m = meta.get("machine", {})
    v = meta.get("versions", {})
    lines = [
        f"# {meta.get('scenario', {}).get('name')} — run {run.run_id} ({meta.get('status')})",
        "",
        f"{m.get('cpu_model')} · {m.get('logical_cores')} cores · node {v.get('node')} · locust {v.get('locust')} · "
        f"commit {(v.get('git') or {}).get('commit', '')[:10] if (v.get('git') or {}).get('commit') else 'unknown'}"
        f"{' (dirty)' if (v.get('git') or {}).get('dirty') else ''}",
        "",
    ]
    if warnings:
        lines += ["**Warnings**", ""] + [f"- {w}" for w in warnings] + [""]
    lines += ["| condition | reps | req/s median | min..max | p50 ms | p99 ms | generator CPU % | limited |",
              "|---|---:|---:|---:|---:|---:|---:|---|"]
    for s in summary.itertuples(index=False):
        lines.append(f"| {s.condition} | {s.repetitions} | {s.throughput_median_rps:,.0f} | "
                     f"{s.throughput_min_rps:,.0f}..{s.throughput_max_rps:,.0f} | {s.latency_p50_ms:.2f} | "
                     f"{s.latency_p99_ms:.2f} | {s.generator_cpu_pct:.0f} | {'yes' if s.generator_limited else 'no'} |")
    lines.append("")
    lines += [f"- {t}" for t in story]
    return "\n".join(lines) + "\n"
