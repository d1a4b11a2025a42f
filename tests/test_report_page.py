"""The report as a reader meets it (issue 20): every table's headers over the right cells in
the HTML and the Markdown, one colour per mode and per role that never collide, over-time
figures that count successes only, and a run with a missing table that still renders, with
the skipped figures listed and why."""

from __future__ import annotations

import itertools
import json
import shutil
from html.parser import HTMLParser
from pathlib import Path

import matplotlib.colors
import matplotlib.figure
import matplotlib.image
import pandas as pd
import pytest
from helpers import rendered_fixture, summary_markdown

from harness import analysis, record
from harness.report import SUMMARY_COLUMNS, figures, render_report, view

pytestmark = pytest.mark.slow  # whole reports rendered from the fixtures: make test runs them, make test-unit does not

FIXTURES = Path(__file__).parent / "fixtures"


class _Tables(HTMLParser):
    """Every <table> of a page as a list of rows, each a list of (tag, text)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[tuple[str, str]]]] = []
        self._cell: tuple[str, list[str]] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in ("th", "td"):
            self._cell = (tag, [])

    def handle_endtag(self, tag):
        if tag in ("th", "td") and self._cell is not None:
            self.tables[-1][-1].append((self._cell[0], "".join(self._cell[1]).strip()))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[1].append(data)


def _html_tables(html: str) -> list[tuple[list[str], list[list[str]]]]:
    parser = _Tables()
    parser.feed(html)
    out = []
    for rows in parser.tables:
        headers = [text for tag, text in rows[0] if tag == "th"]
        out.append((headers, [[text for _, text in r] for r in rows[1:]]))
    return out


def _md_tables(md: str) -> list[tuple[list[str], list[list[str]]]]:
    out, lines = [], md.splitlines()
    for i, line in enumerate(lines):
        if (
            line.startswith("|")
            and i + 1 < len(lines)
            and set(lines[i + 1]) <= set("|-: ")
            and (i == 0 or not lines[i - 1].startswith("|"))
        ):
            cells = lambda s: [c.strip() for c in s.strip().strip("|").split("|")]  # noqa: E731
            body = list(itertools.takewhile(lambda s: s.startswith("|"), lines[i + 2 :]))
            out.append((cells(line), [cells(b) for b in body]))
    return out


_RUNS: dict[str, record.Run] = {}


@pytest.fixture(params=["scheduling", "small", "event_loop"])
def rendered(request, tmp_path_factory):
    """Each fixture's run (read once per test process) and its report, rendered once per test
    session (helpers.rendered_fixture: under pytest-xdist a worker gets this module's tests one
    at a time in any order, and the other worker, and test_report.py, read the same reports)."""
    if request.param not in _RUNS:
        _RUNS[request.param] = record.load_run(FIXTURES / request.param)
    return _RUNS[request.param], rendered_fixture(request.param, tmp_path_factory)


def test_every_table_has_a_header_over_every_cell_in_html_and_markdown(rendered):
    _, report = rendered
    for headers, rows in _html_tables(report.html.read_text()) + _md_tables(report.markdown.read_text()):
        assert headers and rows
        for row in rows:
            assert len(row) == len(headers), (headers, row)


def test_summary_markdown_is_what_the_report_writes(rendered):
    """The tests that assert the summary's sentences without rendering the figures
    (helpers.summary_markdown) read exactly the summary.md of a rendered report."""
    run, report = rendered
    assert summary_markdown(run.path) == report.markdown.read_text()


def _column(tables, header_row: list[str], header: str) -> list[str]:
    for headers, rows in tables:
        if headers[: len(header_row)] == header_row:
            return [r[headers.index(header)] for r in rows]
    raise AssertionError(f"no table starting with {header_row}")


@pytest.mark.parametrize(
    "header,column,spec",
    [
        ("p90 ms", "latency_p90_ms", ".2f"),
        ("p99 ms", "latency_p99_ms", ".2f"),
        ("generator CPU %", "generator_cpu_pct", ".0f"),
        ("Jain", "jain_index", ".3f"),
        ("failures", "failures", "d"),
        ("req/s median", "throughput_median_rps", ",.0f"),
    ],
)
def test_the_summary_column_under_each_header_is_that_metric(rendered, header, column, spec):
    run, report = rendered
    summary = view(run).summary
    expected = [analysis.fmt(v, spec) for v in summary[column]]
    html = _html_tables(report.html.read_text())
    assert _column(html, ["condition", "reps"], header) == expected
    if any(c.header == header and c.md for c in SUMMARY_COLUMNS):
        assert _column(_md_tables(report.markdown.read_text()), ["condition", "reps"], header) == expected
    limited = _column(html, ["condition", "reps"], "generator-limited")
    assert limited == ["yes" if x else "no" for x in summary["generator_limited"]]


def test_the_page_opens_with_the_headline_then_the_doubts_then_the_details(rendered):
    _, report = rendered
    html = report.html.read_text()
    head = html.index('class="headline"')
    assert head < html.index("How this was measured") < html.index("Summary per condition")
    if "Read this first" in html:
        assert head < html.index("Read this first") < html.index("How this was measured")
    assert "repetition(s)" not in html and "1 repetitions" not in html
    assert report.markdown.read_text().split("\n")[2].startswith("**")


# --- colours ------------------------------------------------------------------------


def _lab(color: str) -> tuple[float, float, float]:
    def lin(c: float) -> float:
        return ((c + 0.055) / 1.055) ** 2.4 if c > 0.04045 else c / 12.92

    r, g, b = (lin(c) for c in matplotlib.colors.to_rgb(color))
    x, y, z = (
        (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047,
        0.2126 * r + 0.7152 * g + 0.0722 * b,
        (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883,
    )
    f = [t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116 for t in (x, y, z)]
    return 116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])


def _distance(a: str, b: str) -> float:
    return sum((p - q) ** 2 for p, q in zip(_lab(a), _lab(b))) ** 0.5


def test_mode_and_role_palettes_never_collide():
    modes, roles = figures.MODE_COLORS, figures.ROLE_COLORS
    assert len(set(modes.values())) == len(modes) and len(set(roles.values())) == len(roles)
    for (mode, mc), (role, rc) in itertools.product(modes.items(), roles.items()):
        assert _distance(mc, rc) >= 25, f"mode {mode} {mc} too close to role {role} {rc}"
    for (a, ca), (b, cb) in itertools.combinations(modes.items(), 2):
        assert _distance(ca, cb) >= 20, (a, b)


def test_a_mode_has_one_colour_in_every_figure_that_draws_modes():
    run = record.load_run(FIXTURES / "scheduling")
    v = view(run)
    expected = {
        c: matplotlib.colors.to_hex(figures.mode_color(m, s))
        for c, m, s in zip(v.summary["condition"], v.summary["mode"], v.summary["schedule"])
    }
    with figures.quiet():
        bars = figures.throughput(v.summary, v.results).axes[0].patches
        lines = figures.throughput_over_time(run["timeline"], v.cases).axes[0].get_lines()
        lat = figures.latency_over_time(run["timeline"], v.first_reps).axes[0].get_lines()
    assert {matplotlib.colors.to_hex(p.get_facecolor()) for p in bars} == set(expected.values())
    for line in [*lines, *lat]:
        if line.get_label() in expected:
            assert matplotlib.colors.to_hex(line.get_color()) == expected[line.get_label()], line.get_label()
    role_colors = {matplotlib.colors.to_hex(c) for c in figures.ROLE_COLORS.values()}
    assert not role_colors & set(expected.values())


def test_probe_lines_of_two_conditions_of_one_mode_look_different():
    run = record.load_run(FIXTURES / "event_loop")
    v = view(run)
    with figures.quiet():
        ax = figures.latency_over_time(run["timeline"], v.first_reps).axes[0]
    probes = [
        (line.get_color(), line.get_linestyle(), line.get_marker())
        for line in ax.get_lines()
        if ": probe " in line.get_label()
    ]
    assert len(probes) == 3 and len(set(probes)) == 3


# --- over time: successes only ------------------------------------------------------


def test_throughput_over_time_counts_successes_and_shows_failures_apart():
    run = record.load_run(FIXTURES / "crash_reload")
    cases = run["cases"]
    # timeline.csv, 004 (pm2 restart): the second at 4.65 s had 142 responses, 62 of them failed
    with figures.quiet():
        fig = figures.throughput_over_time(run["timeline"], cases)
    top, bottom = fig.axes[0], fig.axes[1]
    restart = [ln for ln in top.get_lines() if "restart" in ln.get_label()][0]
    assert max(restart.get_ydata()) <= 80, "the outage must not show as a spike of throughput"
    assert 80 in list(restart.get_ydata()) and 142 not in list(restart.get_ydata())
    assert max(max(ln.get_ydata()) for ln in bottom.get_lines()) == 62
    # the first (32 responses) and last (part-time) seconds are not plotted as collapses
    first = [ln for ln in top.get_lines() if ln.get_label().startswith("cluster-rr")][0]
    assert min(first.get_ydata()) > 60
    assert any(p.get_label() == "warm-up (excluded)" for p in top.patches)


# --- missing tables -----------------------------------------------------------------


def test_a_run_with_missing_tables_renders_what_it_can_and_says_what_it_skipped(tmp_path: Path):
    run_dir = tmp_path / "results" / "smoke"
    shutil.copytree(FIXTURES / "smoke", run_dir)
    for name in ("timeline.csv", "samples.csv"):
        (run_dir / name).unlink()
    report = render_report([record.load_run(run_dir)], tmp_path / "out")
    names = {p.name for p in report.figures}
    assert {"throughput.png", "latency.png"} <= names
    assert not names & {"latency_over_time.png", "throughput_over_time.png", "cpu_over_time.png"}
    html = report.html.read_text()
    assert "Figures not drawn for this run" in html
    for title in ("latency over time", "throughput over time", "CPU per process over time"):
        assert f"{title}: the run has no" in html, title


def test_figures_of_nan_or_empty_data_skip_or_draw_never_crash():
    run = record.load_run(FIXTURES / "small")
    v = view(run)
    summary = v.summary.copy()
    summary[["latency_p99_9_ms", "throughput_max_rps"]] = float("nan")
    with figures.quiet():
        figures.latency(summary, 1.0)
        figures.throughput(summary, v.results)
        timeline = run["timeline"].assign(latency_p50_ms=None, latency_p99_ms=None)
        with pytest.raises(figures.Skip):
            figures.latency_over_time(timeline, v.first_reps)
        with pytest.raises(figures.Skip):
            figures.cpu_by_thread(pd.DataFrame(columns=["case_id", "pid", "role", "main", "cores"]), v.first_reps)


def test_a_figure_is_drawn_once_inside_its_canvas_and_grows_rather_than_cut(tmp_path: Path, monkeypatch):
    """figures.save lays a figure out inside its own canvas and draws it once: the PNG is the
    canvas and everything drawn is inside it. Names too long for the canvas, or a text the
    layout did not bring in, make the PNG grow to hold them (bbox_inches="tight", a second
    draw) rather than be cut off."""
    draws = []
    draw = matplotlib.figure.Figure.draw
    monkeypatch.setattr(matplotlib.figure.Figure, "draw", lambda fig, renderer: draws.append(1) or draw(fig, renderer))
    v = view(record.load_run(FIXTURES / "smoke"))

    def save(fig, name: str) -> tuple[int, int, int]:
        """(width, height) of the PNG in pixels, and how many times the figure was drawn"""
        draws.clear()
        with figures.quiet():
            figures.save(fig, tmp_path / name, dpi=100)
        height, width = matplotlib.image.imread(tmp_path / name).shape[:2]
        return width, height, len(draws)

    fig = figures.throughput(v.summary, v.results)  # 9 x 2.8 inches
    assert save(fig, "fits.png") == (900, 280, 1)
    drawn = fig.get_tightbbox()  # inches, everything drawn
    assert drawn.x0 >= 0 and drawn.y0 >= 0 and drawn.x1 <= 9 and drawn.y1 <= 2.8, drawn

    long_names = v.summary.assign(condition=v.summary["condition"] + " /" + "x" * 160)
    fig = figures.throughput(long_names, v.results.assign(condition=long_names["condition"]))
    width, _, n = save(fig, "long-names.png")
    assert n > 1 and width > 1500, "the layout gave up: the PNG grows to hold the names"

    fig = figures.throughput(v.summary, v.results)
    note = fig.axes[0].text(1.2, 0.5, "a note past the canvas", transform=fig.axes[0].transAxes)
    note.set_in_layout(False)  # the layout leaves it where it is
    width, _, n = save(fig, "text-outside.png")
    assert n > 1 and width > 900, "a text off the canvas: the PNG grows to hold it"


def test_the_stored_schema_2_baseline_renders(tmp_path: Path):
    baseline = Path(__file__).parent.parent / "results" / "baselines" / "smoke"
    if (
        not (baseline / "run.json").is_file()
        or json.loads((baseline / "run.json").read_text()).get("schema_version", 99) > record.SCHEMA_VERSION
    ):
        pytest.skip("no stored schema-2 baseline here")
    report = render_report([record.load_run(baseline)], tmp_path / "out")
    assert "throughput.png" in {p.name for p in report.figures}
