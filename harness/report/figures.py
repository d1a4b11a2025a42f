"""Figures of a report, each a pure function of analysis tables -> matplotlib Figure.

One colour per mode (and scheduling policy) across every figure and report, so a
reader learns it once. Cases the load generator limited are hatched and labelled.
"""

from __future__ import annotations

import contextlib
import math
import warnings

import matplotlib
import matplotlib.colors
import matplotlib.ticker

matplotlib.use("Agg")
from typing import Any  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from harness import analysis, modes  # noqa: E402
from harness.record import PROBE_PREFIX  # noqa: E402

# Two palettes that never collide (every mode colour is at least 25 CIE76 units from every
# role colour; tests/test_report_page.py checks it), both colour-blind safe: the modes take the
# Okabe-Ito colours (each mode states its own: harness.modes, Mode.colors), the roles (what a
# process is for) Paul Tol's muted and neutral ones. A mode is always its colour, a role
# always its own, in every figure and every report.
MODE_COLORS = modes.colors()
OTHER_MODE_COLOR = "#8C8C8C"  # a mode this version does not know (a record from another version)
ROLE_COLORS = {
    "worker": "#332288",  # indigo
    "primary": "#999933",  # olive
    "generator": "#666666",  # dark grey
    "proxy": "#AA7744",  # brown
    "pm2-daemon": "#AA4499",  # purple
    "redis": "#661100",  # dark red-brown
    "other": "#BBBBBB",  # light grey
}
# Not a mode, not a role: failed responses, and the whole machine, everywhere.
FAILED_COLOR = "#000000"
MACHINE_COLOR = "#000000"
WARMUP_SHADE = {"color": "grey", "alpha": 0.15}


class Skip(Exception):
    """A figure that cannot be drawn from this run's data: the message says why."""


@contextlib.contextmanager
def quiet():
    """Draw without matplotlib's warnings reaching the terminal (the layout engine and log
    scales warn about what the report handles itself)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        yield


# matplotlib's warning when constrained layout gives up: decorations (long condition names,
# say) wider or taller than the figure itself
_LAYOUT_GAVE_UP = "constrained_layout not applied"


def _text_cut_off(fig: Figure) -> bool:
    """Whether a text placed at data coordinates (a bar's value, an annotation) ends outside
    the canvas. Constrained layout places titles, tick labels and legends exactly, but brings
    a text that moves with the data in only approximately, in its two passes (a long label
    after a bar in a narrow axes). Cheap: the texts' extents are cached from the draw just done."""
    canvas = fig.bbox
    for ax in fig.axes:
        for text in ax.texts:
            if not text.get_visible() or not text.get_text():
                continue
            box = text.get_window_extent()
            if box.x0 < canvas.x0 - 1 or box.x1 > canvas.x1 + 1 or box.y0 < canvas.y0 - 1 or box.y1 > canvas.y1 + 1:
                return True
    return False


def save(fig: Figure, path: Any, dpi: int = 110) -> None:
    """Save a figure drawn once. Every figure lays itself out inside its own canvas
    (constrained layout): the layout runs here, once, at the saving resolution, and is then
    fixed, so savefig neither draws the figure beforehand to lay it out nor, without
    bbox_inches="tight", a second time to find its extent. Only when the layout gave up, or
    a text still ends outside the canvas, is it saved again with the canvas grown to hold
    everything (bbox_inches="tight")."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        engine = fig.get_layout_engine()
        if engine is not None:
            fig.set_dpi(dpi)
            engine.execute(fig)
            # no engine at all: "none" would leave a placeholder, for which savefig still draws
            # the figure once beforehand
            with matplotlib.rc_context({"figure.autolayout": False, "figure.constrained_layout.use": False}):
                fig.set_layout_engine(None)
        fig.savefig(path, dpi=dpi)
        if any(_LAYOUT_GAVE_UP in str(w.message) for w in caught) or _text_cut_off(fig):
            fig.savefig(path, dpi=dpi, bbox_inches="tight")


def shades(color: str, n: int) -> list[tuple[float, float, float]]:
    """n distinguishable shades of one colour, from itself towards white (at most 55% white),
    so the workers of one role stay that role's colour and still tell apart."""
    base = np.array(matplotlib.colors.to_rgb(color))
    if n <= 1:
        return [tuple(base)]
    return [tuple(base + (1 - base) * (0.55 * i / (n - 1))) for i in range(n)]


LIMITED_HATCH = "//"
# Line width of the band that draws a condition's interval of the median under its bar.
INTERVAL_BAND_LW = 3.0


def mode_key(mode: str, schedule: str | float | None) -> str:
    """The key of a mode's colour (a variant such as cluster-rr, or the mode's name)."""
    known = modes.find(mode)
    return known.color_key(schedule) if known is not None else mode


def mode_color(mode: str, schedule: str | float | None = None) -> str:
    return modes.colors().get(mode_key(mode, schedule), OTHER_MODE_COLOR)


LINE_STYLES = ("-", "--", ":", "-.")


def condition_styles(cases: pd.DataFrame) -> dict[str, str]:
    """A line style per condition: conditions of one mode (a pool-size sweep, say) share the
    mode's colour, so they differ by dash pattern, in the order they ran."""
    seen: dict[str, int] = {}
    out: dict[str, str] = {}
    for c in cases.drop_duplicates("condition").itertuples(index=False):
        key = mode_key(c.mode, c.schedule)
        out[c.condition] = LINE_STYLES[seen.get(key, 0) % len(LINE_STYLES)]
        seen[key] = seen.get(key, 0) + 1
    return out


def _style(ax: plt.Axes) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="x", alpha=0.3)


def _wide_labels(fig: Figure, title: str, xlabel: str) -> None:
    """The title and x label of a one-axes figure, centred on the figure rather than on the
    axes: long condition names push the axes right, and a title or label centred on the axes
    would then run off the canvas. Constrained layout keeps both inside (the report saves
    figures without bbox_inches="tight", which would draw each one twice)."""
    fig.suptitle(title, fontsize=plt.rcParams["axes.titlesize"])
    fig.supxlabel(xlabel, fontsize=plt.rcParams["axes.labelsize"])


def throughput(summary: pd.DataFrame, results: pd.DataFrame) -> Figure:
    """Median throughput per condition, whiskers min..max, one dot per repetition."""
    n = len(summary)
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.8 * n), layout="constrained")
    y = np.arange(n)[::-1]
    for yi, s in zip(y, summary.itertuples(index=False)):
        color = mode_color(s.mode, s.schedule)
        ax.barh(
            yi,
            s.throughput_median_rps,
            color=color,
            alpha=0.85,
            hatch=LIMITED_HATCH if s.generator_limited else None,
            edgecolor="black" if s.generator_limited else color,
        )
        ax.errorbar(
            s.throughput_median_rps,
            yi,
            xerr=[[s.throughput_median_rps - s.throughput_min_rps], [s.throughput_max_rps - s.throughput_median_rps]],
            fmt="none",
            ecolor="black",
            capsize=4,
            lw=1,
        )
        low, high = (
            getattr(s, "throughput_median_low_rps", math.nan),
            getattr(s, "throughput_median_high_rps", math.nan),
        )
        if not (math.isnan(low) or math.isnan(high)):  # NaN below 3 repetitions: no band
            ax.plot(
                [low, high],
                [yi - 0.32, yi - 0.32],
                color="black",
                lw=INTERVAL_BAND_LW,
                alpha=0.45,
                solid_capstyle="butt",
            )
            ax.text(high, yi - 0.32, f" {s.throughput_interval_coverage:.0%}", va="center", fontsize=7)
        reps = results[results["condition"] == s.condition]["throughput_rps"]
        ax.scatter(reps, np.full(len(reps), yi), color="black", s=14, zorder=3)
        ax.text(s.throughput_max_rps, yi, f" {s.throughput_median_rps:,.0f} req/s", va="center", fontsize=9)
    # the generator-limited note under the condition's name, not after the bar: text after a bar
    # moves with the data, so a long one could leave the canvas whatever the layout does
    ax.set_yticks(
        y,
        [
            f"{c}\n(generator-limited: not the server's capacity)" if limited else c
            for c, limited in zip(summary["condition"], summary["generator_limited"])
        ],
    )
    _wide_labels(
        fig,
        "Which condition served the most requests per second? (measurement window only)",
        "throughput (successful requests/s): bar = median, whiskers = min..max, dots = repetitions,\n"
        "grey band under the bar = interval of the median, labelled with its coverage (order statistics; "
        "none below 3 repetitions)",
    )
    top = pd.to_numeric(summary["throughput_max_rps"], errors="coerce").max()
    ax.set_xlim(0, max(float(top) * 1.45 if math.isfinite(top) else 1.0, 1.0))
    _style(ax)
    return fig


def latency(summary: pd.DataFrame, precision_pct: float) -> Figure:
    """p50/p90/p99/p99.9 per condition (median over repetitions); bars start at 0 ms."""
    cols = [
        ("latency_p50_ms", "p50"),
        ("latency_p90_ms", "p90"),
        ("latency_p99_ms", "p99"),
        ("latency_p99_9_ms", "p99.9"),
    ]
    n = len(summary)
    fig, ax = plt.subplots(figsize=(9, 1.4 + 0.9 * n), layout="constrained")
    height = 0.8 / len(cols)
    y = np.arange(n)[::-1]
    shades = [0.35, 0.55, 0.75, 0.95]
    for i, (col, name) in enumerate(cols):
        for yi, s in zip(y, summary.itertuples(index=False)):
            value = getattr(s, col)
            if value is None or not math.isfinite(value):
                continue
            ax.barh(
                yi + (len(cols) / 2 - i - 0.5) * height,
                value,
                height=height,
                color=mode_color(s.mode, s.schedule),
                alpha=shades[i],
                hatch=LIMITED_HATCH if s.generator_limited else None,
            )
            ax.text(value, yi + (len(cols) / 2 - i - 0.5) * height, f" {name} {value:.1f}", va="center", fontsize=8)
    ax.set_yticks(y, summary["condition"])
    top = pd.to_numeric(summary[[c for c, _ in cols]].stack(), errors="coerce").max()
    ax.set_xlim(0, float(top) * 1.2 if math.isfinite(top) and top > 0 else 1.0)
    _wide_labels(
        fig,
        "How long did requests take? Percentiles per condition (median over repetitions)",
        f"response time (ms; HDR histogram, exact within {precision_pct:g}%)",
    )
    _style(ax)
    return fig


def memory(light: pd.DataFrame) -> Figure:
    """Resident memory of the whole server (median over repetitions, whiskers the interval of the median)
    against the number of workers or threads, a cluster and a pool side by side: the memory
    demo's evidence. `light` is story.memory_conditions (with `units`)."""
    if light.empty:
        raise Skip("no cluster and pool under a light /io load: not the memory demo")
    fig, ax = plt.subplots(figsize=(8, 4.2), layout="constrained")
    for mode, g in light.sort_values("units").groupby("mode", sort=False):
        x = g["units"].to_numpy(dtype=float)
        med = g["server_rss_mb"].to_numpy(dtype=float)
        # the interval of the median (evidence.median_interval); none below 3 repetitions
        low = np.where(np.isnan(g["server_rss_mb_low"].to_numpy(dtype=float)), med, g["server_rss_mb_low"])
        high = np.where(np.isnan(g["server_rss_mb_high"].to_numpy(dtype=float)), med, g["server_rss_mb_high"])
        label = "cluster: a primary and N worker processes" if mode == "cluster" else "pool: one process, N threads"
        ax.errorbar(
            x,
            med,
            yerr=[med - low, high - med],
            color=mode_color(mode, g["schedule"].iloc[0]),
            marker="o",
            capsize=4,
            lw=1.5,
            label=label,
        )
        for xi, mi in zip(x, med):
            ax.annotate(f"{mi:,.0f} MB", (xi, mi), textcoords="offset points", xytext=(6, -4), fontsize=8)
    ax.set_xticks(sorted(set(light["units"].astype(float))))
    ax.set_xlabel("workers (cluster) or threads (pool)")
    ax.set_ylabel("server RSS, all processes (MB)")
    ax.set_ylim(bottom=0)
    ax.set_title(
        "How much memory does one more worker cost? Resident memory of the whole server\n"
        "(median over repetitions, whiskers its interval; RSS counts shared pages once per process)",
        fontsize=10,
    )
    ax.legend(fontsize=8, loc="upper left")
    _style(ax)
    ax.grid(axis="y", alpha=0.3)
    return fig


def _panels(n: int, panel_h: float = 1.9) -> tuple[Figure, np.ndarray]:
    """One panel per case: one column up to 4, two beyond, sharing both axes, laid out by
    matplotlib's constrained layout so the figure title never overlaps a panel's."""
    cols = 1 if n <= 4 else 2
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(
        rows,
        cols,
        figsize=(9 if cols == 1 else 12, panel_h * rows + 1.2),
        sharex=True,
        sharey=True,
        squeeze=False,
        layout="constrained",
    )
    flat = axes.ravel()
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def _figure_legend(fig: Figure, axes: Any) -> None:
    """One legend for the figure, below the panels: every label once."""
    seen: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(label, handle)
    if seen:
        fig.legend(
            list(seen.values()),
            list(seen.keys()),
            loc="outside lower center",
            fontsize=8,
            ncol=min(4, len(seen)),
            frameon=False,
        )


def cpu_over_time(samples: pd.DataFrame, cases: pd.DataFrame) -> Figure:
    """CPU per process over time for each case given (one panel each, one y scale), warm-up
    shaded; each role its colour, each worker its own shade and dash."""
    if samples.empty or cases.empty:
        raise Skip("no process samples (samples.csv is empty)")
    fig, axes = _panels(len(cases))
    top = 0.0
    for ax, case in zip(axes, cases.itertuples(index=False)):
        s = samples[samples["case_id"] == case.case_id]
        t0 = case.started_ts
        procs = s[s["role"] != "machine"]
        workers = [k for k in dict.fromkeys(zip(procs["pid"], procs["role"])) if k[1] == "worker"]
        colors = dict(zip(workers, shades(ROLE_COLORS["worker"], len(workers))))
        for (pid, role), g in procs.groupby(["pid", "role"], sort=False):
            if role == "worker":
                i = workers.index((pid, role))
                label = f"worker #{i + 1}"  # by place in the panel: one legend entry means one look
                color, ls = colors[(pid, role)], LINE_STYLES[i % len(LINE_STYLES)]
            else:
                label, color, ls = str(role), ROLE_COLORS.get(role, ROLE_COLORS["other"]), "-"
            ax.plot(g["ts"] - t0, g["cpu_pct"], label=label, color=color, ls=ls, lw=1.4)
            top = max(top, float(g["cpu_pct"].max()))
        m = s[s["role"] == "machine"]
        if not m.empty:
            ax.plot(m["ts"] - t0, m["cpu_pct"], color=MACHINE_COLOR, ls="--", lw=1, label="whole machine")
            top = max(top, float(m["cpu_pct"].max()))
        ax.axvspan(0, case.measure_start_ts - t0, **WARMUP_SHADE, label="warm-up (excluded)")
        ax.axvline(case.measure_end_ts - t0, color="grey", lw=0.8)
        ax.set_title(f"{case.condition}", fontsize=9, loc="left")
        _style(ax)
    for ax in axes:
        ax.set_ylim(0, max(105.0, top * 1.08) if math.isfinite(top) else 105.0)
        if ax.get_subplotspec().is_first_col():
            ax.set_ylabel("CPU (% of a core)")
        if ax.get_subplotspec().is_last_row() or ax is axes[-1]:
            ax.set_xlabel("time since the case started (s)")
    _figure_legend(fig, axes)
    fig.suptitle(
        "Which process used the CPU, second by second? (100% = one core; first repetition of each condition)",
        fontsize=11,
    )
    return fig


def cores_by_role(
    cpu: pd.DataFrame, cases: pd.DataFrame, cores: int | None, other_cpu_pct: pd.Series | None = None
) -> Figure:
    """Average cores used per role in the measurement window, per case: where the time went.
    `other_cpu_pct` (by case_id): the machine's busy time no server or Locust process used."""
    cpu = cpu.assign(cores=cpu["cpu_s"] / cpu["span_s"])
    table = cpu.pivot_table(index="case_id", columns="role", values="cores", aggfunc="sum", fill_value=0.0)
    table = table.reindex(cases["case_id"]).fillna(0.0)
    if other_cpu_pct is not None:
        table["other"] = (other_cpu_pct / 100).reindex(table.index).fillna(0.0)
    order = [r for r in ("worker", "primary", "proxy", "pm2-daemon", "redis", "generator") if r in table.columns]
    order += [c for c in table.columns if c not in order]
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.55 * len(table)), layout="constrained")
    left = np.zeros(len(table))
    y = np.arange(len(table))[::-1]
    per_process = cpu.set_index("case_id")
    for role in order:
        label = "other (not server, not Locust)" if role == "other" else role
        color = ROLE_COLORS.get(role, ROLE_COLORS["other"])
        # one segment per process of the role (each worker its own, white edges between)
        for i, (yi, case_id) in enumerate(zip(y, table.index)):
            procs_of = per_process.loc[[case_id]] if case_id in per_process.index else per_process.iloc[0:0]
            procs_of = procs_of[procs_of["role"] == role] if role != "other" else procs_of.iloc[0:0]
            parts = list(procs_of.itertuples(index=False)) or [None]
            for part in parts:
                value = float(part.cores) if part is not None else float(table.loc[case_id, role])
                ax.barh(yi, value, left=left[i], color=color, edgecolor="white", lw=0.6, label=label)
                label = None
                wid = getattr(part, "worker_id", None)
                if role == "worker" and isinstance(wid, str) and wid and value > 0.12:
                    ax.text(left[i] + value / 2, yi, f"w{wid}", ha="center", va="center", fontsize=6, color="white")
                left[i] += value
    for yi, total in zip(y, left):
        ax.text(total, yi, f" {total:.2f}", va="center", fontsize=8)
    if cores:
        ax.axvline(cores, color="black", ls="--", lw=1)
        ax.text(cores, y.max() + 0.55, f"{cores} cores", ha="center", fontsize=8)
    ax.set_yticks(y, table.index)
    _wide_labels(
        fig,
        "Where did the machine's CPU go? Cores used by role and process",
        "cores used on average in the measurement window (CPU seconds / measured seconds); one segment per process",
    )
    ax.set_xlim(0, max(float(left.max()) if len(left) else 0, cores or 0) * 1.12 + 0.01)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))  # constrained layout keeps it in the canvas
    _style(ax)
    return fig


def thread_cpu_over_time(threads: pd.DataFrame, cases: pd.DataFrame, busy_pct: float = 5.0) -> Figure:
    """CPU of each busy thread of the server's processes over time, one panel per case given
    (threads below `busy_pct` of a core on average are left out), warm-up shaded. Main
    threads (the event loops) in the worker colour's shades, solid; other threads (pool,
    libuv, V8) in greys, dashed: each line its own shade and dash."""
    if threads.empty or cases.empty:
        raise Skip("no per-thread samples (threads.csv is empty: recorded without them, or an older record)")
    fig, axes = _panels(len(cases))
    drawn = 0
    for ax, case in zip(axes, cases.itertuples(index=False)):
        t = threads[threads["case_id"] == case.case_id].sort_values("ts")
        t0 = case.started_ts
        series = []
        for (pid, tid), g in t.groupby(["pid", "tid"], sort=False):
            pct = g["cpu_s"].diff() / g["ts"].diff() * 100
            if len(g) < 2 or not pct.mean() >= busy_pct:
                continue
            series.append((pid, tid, g, pct))
        pids = list(dict.fromkeys(p for p, *_ in series))
        mains = shades(ROLE_COLORS["worker"], len(pids))
        others = [x for x in series if x[0] != x[1]]
        other_colors = shades(ROLE_COLORS["generator"], len(others))
        for pid, tid, g, pct in series:
            process = f"{g['role'].iloc[0]} #{pids.index(pid) + 1}"
            if tid == pid:
                color, ls, label = mains[pids.index(pid)], "-", f"{process}: main thread (event loop)"
            else:
                k = [o[1] for o in others].index(tid)
                color, ls = other_colors[k], LINE_STYLES[1 + k % (len(LINE_STYLES) - 1)]
                label = f"{process}: other thread {k + 1}"
            ax.plot(g["ts"] - t0, pct, lw=1.3, color=color, ls=ls, label=label)
            drawn += 1
        ax.axvspan(0, case.measure_start_ts - t0, **WARMUP_SHADE, label="warm-up (excluded)")
        ax.set_title(case.condition, fontsize=9, loc="left")
        _style(ax)
    if not drawn:
        plt.close(fig)
        raise Skip(f"no thread of a server process used more than {busy_pct:g}% of a core")
    for ax in axes:
        ax.set_ylim(bottom=0)
        if ax.get_subplotspec().is_first_col():
            ax.set_ylabel("CPU (% of a core)")
        if ax.get_subplotspec().is_last_row() or ax is axes[-1]:
            ax.set_xlabel("time since the case started (s)")
    _figure_legend(fig, axes)
    fig.suptitle(
        f"Which threads did the work? CPU per thread of the server's processes (above {busy_pct:g}% of "
        "a core; first repetition)",
        fontsize=11,
    )
    return fig


def cpu_by_thread(threads: pd.DataFrame, cases: pd.DataFrame) -> Figure:
    """Per server process: the main thread's CPU against all its other threads' (pool
    threads, libuv's pool, V8's helpers), so one sees which threads did the work."""
    t = threads[threads["case_id"].isin(cases["case_id"])] if not threads.empty else threads
    if t.empty:
        raise Skip("no per-thread samples for these cases (threads.csv is empty or missing)")
    rows = []
    for (case_id, pid, role), g in t.groupby(["case_id", "pid", "role"], sort=False):
        busy = g[~g["main"]].sort_values("cores", ascending=False)
        cond = cases.loc[cases["case_id"] == case_id, "condition"]
        rows.append(
            (
                f"{cond.iloc[0] if not cond.empty else case_id}: {role} {pid}",
                float(g.loc[g["main"], "cores"].sum()),
                float(busy["cores"].sum()),
                int((busy["cores"] > 0.05).sum()),
            )
        )
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.45 * max(len(rows), 1)), layout="constrained")
    y = np.arange(len(rows))[::-1]
    for yi, (_label, main, other, busy_threads) in zip(y, rows):
        ax.barh(yi, main, color=ROLE_COLORS["worker"], label="main thread (event loop)" if yi == y[0] else None)
        ax.barh(
            yi,
            other,
            left=main,
            color=ROLE_COLORS["other"],
            label="other threads (pool, libuv, V8)" if yi == y[0] else None,
        )
        ax.text(
            main + other,
            yi,
            f" {other:.2f} in {busy_threads} busy thread{'s' if busy_threads != 1 else ''}" if other > 0.05 else "",
            va="center",
            fontsize=8,
        )
    ax.set_yticks(y, [r[0] for r in rows], fontsize=8)
    _wide_labels(
        fig,
        "Did the event loop or other threads do the work? (a thread is busy above 5% of a core)",
        "cores used on average in the measurement window (CPU s / measured s)",
    )
    ax.set_xlim(0, max([r[1] + r[2] for r in rows] + [0.1]) * 1.35)
    ax.legend(fontsize=8, loc="lower right")
    _style(ax)
    return fig


def requests_per_worker(rpw: pd.DataFrame, results: pd.DataFrame) -> Figure:
    """Each worker's (or pool thread's) share of the responses, per case, with Jain's index."""
    case_ids = list(dict.fromkeys(rpw["case_id"]))
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.55 * max(len(case_ids), 1)), layout="constrained")
    y = np.arange(len(case_ids))[::-1]
    for yi, cid in zip(y, case_ids):
        g = rpw[rpw["case_id"] == cid]
        by_pid = "spread_key" in g and (g["spread_key"] == "pid").any()  # worker ids missing or repeated
        g = g.assign(
            _w=pd.to_numeric(g["pid" if by_pid else "worker_id"], errors="coerce"),
            _t=pd.to_numeric(g["thread_id"], errors="coerce"),
        )
        g = g.sort_values(["_w", "_t"])
        res = results[results["case_id"] == cid]
        color = mode_color(res["mode"].iloc[0], res["schedule"].iloc[0]) if not res.empty else "#8C8C8C"
        left = 0.0
        for i, w in enumerate(g.itertuples(index=False)):
            ax.barh(yi, w.share, left=left, color=color, alpha=0.45 + 0.5 * (i % 2), edgecolor="white")
            name = f"t{w.thread_id}" if w.thread_id else (f"pid {w.pid}" if by_pid else f"w{w.worker_id}")
            if w.share > 0.06:
                ax.text(left + w.share / 2, yi, f"{name}\n{w.share:.1%}", ha="center", va="center", fontsize=7)
            left += w.share
        jain = res["jain_index"].iloc[0] if not res.empty else math.nan
        ax.text(1.01, yi, f"Jain {jain:.3f}", va="center", fontsize=8)
    ax.set_yticks(y, case_ids)
    ax.set_xlim(0, 1.15)
    _wide_labels(
        fig,
        "Did every worker get its share? (Jain's index: 1 = perfectly even, 1/n = one got all)",
        "share of the responses in the measurement window (w = worker by x-worker-id, t = pool thread by x-thread-id,\n"
        "pid = process by x-pid where worker ids were missing or repeated)",
    )
    _style(ax)
    return fig


PROBE_MARKERS = ("o", "s", "^", "D")


def latency_over_time(timeline: pd.DataFrame, cases: pd.DataFrame) -> Figure:
    """p50 and p99 of the responses completed in each second, per case given (warm-up
    included and shaded), on a log scale: stalls, crashes and warm-up show as spikes. A
    probe beside the load is its own line: the condition's colour and dash, with a marker
    of its own per condition, so two conditions of one mode never look alike."""
    if timeline.empty or cases.empty:
        raise Skip("no per-second timeline (timeline.csv is empty: an older record)")
    t_all = timeline[timeline["case_id"].isin(cases["case_id"])]
    ok = t_all[["latency_p50_ms", "latency_p99_ms"]].apply(pd.to_numeric, errors="coerce")
    if not (ok > 0).any().any():
        raise Skip("no per-second latency percentiles in this record (schema before 3)")
    fig, axes = plt.subplots(2, 1, figsize=(9, 6.4), sharex=True, layout="constrained")
    styles = condition_styles(cases)
    order: dict[str, int] = {}
    for case in cases.itertuples(index=False):
        t = timeline[timeline["case_id"] == case.case_id]
        color = mode_color(case.mode, case.schedule)
        nth = order.setdefault(case.condition, len(order))
        probe = getattr(case, "probe_path", None)
        names = [(case.route, case.condition, styles[case.condition], None, 1.6)]
        if isinstance(probe, str) and probe:
            names.append(
                (
                    PROBE_PREFIX + probe.split("?")[0],
                    f"{case.condition}: probe {probe}",
                    styles[case.condition],
                    PROBE_MARKERS[nth % len(PROBE_MARKERS)],
                    1.0,
                )
            )
        for name, label, ls, marker, lw in names:
            tn = t[t["name"] == name].sort_values("elapsed_s")
            for ax, column in zip(axes, ("latency_p50_ms", "latency_p99_ms")):
                v = pd.to_numeric(tn[column], errors="coerce")
                keep = v > 0  # a log scale: an empty second has no percentile
                ax.plot(
                    tn["elapsed_s"][keep] + 0.5,
                    v[keep],
                    lw=lw,
                    color=color,
                    ls=ls,
                    marker=marker,
                    markersize=4,
                    label=label,
                )
    first = cases.iloc[0]
    warm = float(first["measure_start_ts"] - first["started_ts"])
    for ax in axes:
        ax.axvspan(0, warm, **WARMUP_SHADE, label="warm-up (excluded)")
    for ax, name in zip(axes, ("p50", "p99")):
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_ylabel(f"{name} of that second (ms, log)")
        _style(ax)
        ax.grid(axis="y", which="both", alpha=0.2)
    axes[0].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    axes[1].set_xlabel("time since the case started (s); a point = the responses completed in that second")
    fig.suptitle(
        "How long did requests wait, second by second? (first repetition of each condition; "
        "per-second HDR histograms, within 1%)",
        fontsize=10,
    )
    return fig


def sweep(points: pd.DataFrame, cores: int | None) -> Figure:
    """Per sweep: throughput (median, whiskers min..max) and p99 against the swept value,
    the knee marked, scaling efficiency written at each point where a baseline ran."""
    names = list(dict.fromkeys(points["sweep"]))
    fig, axes = plt.subplots(len(names), 2, figsize=(10, 3.4 * len(names) + 0.4), squeeze=False, layout="constrained")
    for (ax_t, ax_p), name in zip(axes, names):
        g = points[points["sweep"] == name].sort_values("value")
        color = mode_color(g["mode"].iloc[0], g["schedule"].iloc[0])
        x = g["value"].to_numpy(dtype=float)
        med = g["throughput_median_rps"].to_numpy(dtype=float)
        ax_t.errorbar(
            x,
            med,
            yerr=[med - g["throughput_min_rps"], g["throughput_max_rps"] - med],
            color=color,
            marker="o",
            capsize=4,
            lw=1.5,
        )
        ax_p.plot(x, g["latency_p99_ms"], color=color, marker="s", lw=1.5)
        limited = g[g["generator_limited"]]
        if not limited.empty:
            ax_t.scatter(
                limited["value"],
                limited["throughput_median_rps"],
                s=140,
                facecolors="none",
                edgecolors="black",
                label="generator-limited (a floor)",
            )
            ax_t.legend(fontsize=7, loc="lower right")
        knee = g[g["knee"]].iloc[0]
        for ax in (ax_t, ax_p):
            if knee["knee_firm"]:
                ax.axvline(knee["value"], color="black", ls="--", lw=1)
            if cores and g["parameter"].iloc[0] in ("threads", "workers", "uv_threadpool_size"):
                ax.axvline(cores, color="grey", ls=":", lw=1)
            ax.set_xticks(x)
            ax.set_xlabel(analysis.SWEEP_LABELS[g["parameter"].iloc[0]])
            ax.set_ylim(bottom=0)
            _style(ax)
            ax.grid(axis="y", alpha=0.3)
        if knee["knee_firm"]:
            ax_t.annotate(
                f"knee: {knee['value']:g}",
                (knee["value"], knee["throughput_median_rps"]),
                textcoords="offset points",
                xytext=(6, -14),
                fontsize=8,
            )
        else:  # the 5 % rule's candidate, which the intervals do not bear out
            ax_t.scatter(
                [knee["value"]],
                [knee["throughput_median_rps"]],
                s=90,
                facecolors="none",
                edgecolors="black",
                linestyle="--",
                zorder=4,
            )
            ax_t.annotate(
                f"{knee['value']:g}: candidate knee, not firm",
                (knee["value"], knee["throughput_median_rps"]),
                textcoords="offset points",
                xytext=(6, -14),
                fontsize=8,
            )
        for xi, mi, eff in zip(x, med, g["scaling_efficiency"]):
            if not math.isnan(eff):
                ax_t.annotate(f"eff {eff:.0%}", (xi, mi), textcoords="offset points", xytext=(4, 6), fontsize=7)
        ax_t.set_ylabel("throughput (req/s)")
        ax_p.set_ylabel("p99 (ms)")
        ax_t.set_title(f"{name}: throughput", fontsize=10, loc="left")
        ax_p.set_title("p99 latency", fontsize=10, loc="left")
    fig.suptitle(
        "Sweeps: dashed = knee (smallest value within 5% of the best median, where the intervals of the "
        "medians bear it out;\nan open circle = such a candidate they do not)"
        + (f", dotted = {cores} cores" if cores else ""),
        fontsize=11,
    )
    return fig


def throughput_over_time(timeline: pd.DataFrame, cases: pd.DataFrame) -> Figure:
    """Successful responses per second over each case (top) and failed ones (below, only
    when there were any): every case, one legend entry per condition, warm-up shaded. The
    first and last second of a case, when the load ran for part of it only, are left out
    (they would plot as collapses); each point sits in the middle of its second."""
    if timeline.empty or cases.empty:
        raise Skip("no per-second timeline (timeline.csv is empty: an older record)")
    t_all = timeline[timeline["case_id"].isin(cases["case_id"])]
    any_failed = bool(pd.to_numeric(t_all["failures"], errors="coerce").fillna(0).sum() > 0)
    if any_failed:
        fig, (ax, axf) = plt.subplots(2, 1, figsize=(9, 5.2), sharex=True, height_ratios=(3, 1.3), layout="constrained")
    else:
        fig, ax = plt.subplots(figsize=(9, 3.8), layout="constrained")
        axf = None
    styles = condition_styles(cases)
    labelled: set[str] = set()
    warm = []
    for case in cases.itertuples(index=False):
        t = (
            analysis.without_double_count(timeline[timeline["case_id"] == case.case_id])
            .groupby("elapsed_s", as_index=False)[["requests", "failures"]]
            .sum()
            .sort_values("elapsed_s")
        )
        t = t.iloc[1:-1]  # the first and last second ran part-time
        warm.append(case.measure_start_ts - case.started_ts)
        label = case.condition if case.condition not in labelled else None
        labelled.add(case.condition)
        kw = dict(
            color=mode_color(case.mode, case.schedule),
            ls=styles[case.condition],
            alpha=1.0 if case.repetition == 1 else 0.5,
            lw=1.4,
        )
        ax.plot(t["elapsed_s"] + 0.5, t["requests"] - t["failures"], label=label, **kw)
        if axf is not None:
            axf.plot(t["elapsed_s"] + 0.5, t["failures"], marker="x", markersize=4, **kw)
    for a in (ax, axf):
        if a is not None:
            a.axvspan(0, float(np.median(warm)), **WARMUP_SHADE, label="warm-up (excluded)" if a is ax else None)
            a.set_ylim(bottom=0)
            _style(a)
    ax.set_ylabel("successful responses / s")
    if axf is not None:
        axf.set_ylabel("failed / s")
        axf.set_xlabel("time since the case started (s)")
    else:
        ax.set_xlabel("time since the case started (s); no response failed")
    ax.set_title("Did throughput hold steady through each case? (every repetition; later ones paler)", fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


EVENT_BIN_S = 0.1


def events(requests: pd.DataFrame, outcomes: pd.DataFrame) -> Figure | None:
    """Around each event (first repetition of each condition): successful and failed responses
    per 0.1 s, by the worker pid that answered (old pids grey, new ones coloured), with the
    event at 0, the server's 'done' (replacement ready, reload finished, exit) dashed."""
    first = outcomes.drop_duplicates("condition")
    if first.empty or requests.empty:
        return None
    fig, axes = plt.subplots(
        len(first), 1, figsize=(9, 1.9 * len(first)), sharex=True, squeeze=False, layout="constrained"
    )
    for ax, e in zip(axes[:, 0], first.itertuples(index=False)):
        r = requests[(requests["case_id"] == e.case_id) & (requests["phase"] == "measure")]
        ok = r["ok"].astype(str).str.lower().isin(("true", "1"))
        t = (r["done_ts"] - e.ts).to_numpy(dtype=float)
        bins = np.arange(
            math.floor(t.min() / EVENT_BIN_S) * EVENT_BIN_S if len(t) else -1.0,
            (t.max() if len(t) else 1.0) + EVENT_BIN_S,
            EVENT_BIN_S,
        )
        before = set(str(e_pids).split()) if isinstance((e_pids := getattr(e, "pids_before", "")), str) else set()
        new = ok & ~r["pid"].astype(str).isin(before) if before else ok & False
        ax.hist(
            [t[ok & ~new], t[new]],
            bins=bins,
            stacked=True,
            color=[ROLE_COLORS["other"], ROLE_COLORS["worker"]],
            label=["ok, worker there before", "ok, new worker"],
        )
        ax.hist(t[~ok], bins=bins, histtype="step", color=FAILED_COLOR, lw=1.2, label="failed")
        ax.axvline(0, color="black", lw=1)
        if not math.isnan(e.done_s):
            ax.axvline(e.done_s, color="black", lw=1, ls="--")
        what = (
            f"in flight at the signal: {e.in_flight_ok} answered, {e.in_flight_failed} failed; then refused"
            if e.action == "sigterm"
            else f"{e.failures_during} failed during the event"
        )
        ax.set_title(f"{e.condition}: {what}", fontsize=9, loc="left")
        ax.set_ylabel(f"per {EVENT_BIN_S:g} s", fontsize=8)
        _style(ax)
    axes[0, 0].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    axes[-1, 0].set_xlabel("seconds from the event (solid line); dashed: the server said it was done")
    fig.suptitle("What happened to the requests around each event? (responses per 0.1 s)", fontsize=10)
    return fig
