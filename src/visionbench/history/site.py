"""A static HTML site of every saved run: `visionbench site` (and `nox -s site`).

    reports/site/index.html              what pays off (the summary's verdicts, per
                                         machine), the techniques, change points, runs
    reports/site/technique-<name>.html   per report section, the history of each
                                         variant's time, memory, accuracy and time ratio
                                         to the reference, one line per machine
    reports/site/runs/<folder>/<run>/    each run's report (`visionbench report`'s
                                         markdown and PNGs, and an HTML rendering of it)
    reports/site/plotly.min.js           the one copy of plotly.js every page loads

Plotly, not vega-altair: its Python package carries plotly.js itself, so the site
opens offline from file:// with one script copied beside the pages (altair needs
vega, vega-lite and vega-embed from a CDN, or vl-convert to inline them); hover
text and click events take a few lines of JavaScript per figure; and a figure's
data stays readable in the page (the graph div's `data`), which is how the browser
test checks that what is drawn is what was stored.

The x axis has one slot per run, in commit order (the commit's date, UTC, then
when the run ran; a run without git counts its own time), named by the commit's
date and id: two runs of one commit stand side by side, which shows the noise
between runs, and a day of many commits is not squeezed into a point. Hover
shows the commit, the date, the value and the rounds; a click opens that run's
report. Change points (`visionbench.history.changes`) are shaded from the last
run before the step to the first after it, with the step's size.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import plotly.graph_objects as go
import plotly.offline
from markdown_it import MarkdownIt
from tabulate import tabulate

from visionbench import report
from visionbench.core.files import write_text_atomic
from visionbench.gate.config import GateConfig
from visionbench.history import tune_pages
from visionbench.history.changes import MIN_RUNS, Change, scan
from visionbench.history.series import (
    FIGURES,
    History,
    Machine,
    Series,
    all_series,
    commit_order,
    when,
)
from visionbench.measure.format import fmt_value, short_name, slug
from visionbench.measure.results import Run
from visionbench.report import summary

COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")  # fmt: skip
DASHES = ("solid", "dot", "dash", "longdash", "dashdot")
SYMBOLS = ("circle", "square", "diamond", "triangle-up", "x")
PLOTLY_JS = "plotly.min.js"

CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5em auto; max-width: 1200px;
       padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 0.6em 0 1.2em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
.warning { background: #fff4e5; border-left: 4px solid #f0a030; padding: 0.5em 1em; }
.muted { color: #666; }
nav { margin-bottom: 1em; }
img { max-width: 100%; }
code { background: #f3f3f3; padding: 0 0.2em; }
"""


@dataclass(frozen=True)
class Written:
    """A file the site wrote, for the closing table."""

    path: Path
    what: str


def technique_file(technique: str) -> str:
    return f"technique-{slug(technique)}.html"


def run_dir(run: Run) -> str:
    """Where a run's report lives in the site (a storage folder name, then the run's)."""
    return f"runs/{slug(run.path.parent.name)}/{slug(run.label)}"


def slots(runs: Sequence[Run]) -> dict[str, str]:
    """The x axis: one slot per run (by path), in commit order, named by the commit's
    date and id; the second and later runs of one commit are numbered."""
    names: dict[str, str] = {}
    seen: dict[str, int] = {}
    for run in sorted({str(r.path): r for r in runs}.values(), key=commit_order):
        name = f"{when(run.commit_time):%Y-%m-%d} {run.commit or '?'}"
        seen[name] = seen.get(name, 0) + 1
        names[str(run.path)] = name if seen[name] == 1 else f"{name} ({seen[name]})"
    return names


def page(title: str, body: str, plots: bool = False) -> str:
    """A whole HTML page (at the site's top level, where plotly.js is, when `plots`)."""
    script = f'<script src="{PLOTLY_JS}"></script>' if plots else ""
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<title>{html.escape(title)}</title><link rel="icon" href="data:,">'
        f"<style>{CSS}</style>{script}</head>\n<body>\n{body}\n</body></html>\n"
    )


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """An HTML table of cells that are already HTML (escape text with `html.escape`)."""
    return tabulate(rows, headers=list(headers), tablefmt="unsafehtml", disable_numparse=True)


def untrusted_markdown() -> MarkdownIt:
    """The renderer of the summary's and the reports' markdown, which quote run files:
    raw HTML off (shown as text), links to javascript: and the like refused (markdown-it's
    own check)."""
    return MarkdownIt("commonmark", {"html": False}).enable("table")


def link(href: str, text: str) -> str:
    return f'<a href="{html.escape(href)}">{html.escape(text)}</a>'


def run_link(run: Run, reports: dict[str, str]) -> str:
    """The run's label, linked to its report where one was written."""
    href = reports.get(str(run.path))
    return link(href, run.label) if href else html.escape(run.label)


# -- figures ---------------------------------------------------------------------------------


AXES = {
    "time": {"tickformat": "~s", "ticksuffix": "s", "title": {"text": "seconds per unit"}},
    "peak_mem_bytes": {"tickformat": "~s", "ticksuffix": "B", "title": {"text": "bytes"}},
    "accuracy": {"tickformat": ".1%", "title": {"text": "test accuracy"}},
    "ratio_vs_ref": {"ticksuffix": "×", "title": {"text": "variant ÷ reference"}},
}


def value_text(metric: str, value: float) -> str:
    return f"{value:.3f}×" if metric == "ratio_vs_ref" else fmt_value(metric, value)


def _traces(
    series: Series,
    colour: str,
    mark: int,
    named: str,
    reports: dict[str, str],
    slot: dict[str, str],
):
    """The line of one series, and the band of its paired interval where it has one."""
    points = series.points
    x = [slot[str(p.run.path)] for p in points]
    custom = []
    for p in points:
        interval = ""
        if p.low is not None and p.high is not None:
            interval = f" [{p.low:.3f}–{p.high:.3f}×]"
        custom.append(  # shown as plotly's text, which takes some tags: escaped
            [html.escape(p.run.commit or "?"),
             html.escape(p.run.commit_time[:19].replace("T", " ")),
             value_text(series.metric, p.value) + interval, p.rounds,
             reports.get(str(p.run.path), ""), html.escape(p.run.label)]
        )  # fmt: skip
    meta = {"kind": "series", "variant": series.variant, "machine": series.machine.key,
            "benchmark": series.fullname, "metric": series.metric,
            "section": series.section}  # fmt: skip
    line = go.Scatter(
        x=x,
        y=[p.value for p in points],
        mode="lines+markers",
        name=named,
        legendgroup=series.variant,
        line={"color": colour, "dash": DASHES[mark % len(DASHES)]},
        marker={"symbol": SYMBOLS[mark % len(SYMBOLS)], "size": 7},
        customdata=custom,
        meta=meta,
        hovertemplate="<b>%{fullData.name}</b><br>commit %{customdata[0]} (%{customdata[1]})"
        "<br>%{customdata[2]}<br>%{customdata[3]} rounds · run %{customdata[5]}"
        "<br><i>click: the run's report</i><extra></extra>",
    )
    banded = [p for p in points if p.low is not None and p.high is not None]
    if not banded:
        return [line]
    bx = [slot[str(p.run.path)] for p in banded]
    band = go.Scatter(
        x=bx + bx[::-1],
        mode="lines",
        y=[p.high for p in banded] + [p.low for p in banded][::-1],
        fill="toself",
        fillcolor=_transparent(colour),
        line={"width": 0},
        hoverinfo="skip",
        showlegend=False,
        legendgroup=series.variant,
        name=f"{named} (95% interval)",
        meta={**meta, "kind": "band"},
    )
    return [band, line]


def _transparent(colour: str, alpha: float = 0.15) -> str:
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def figure(
    metric: str,
    series: Sequence[Series],
    variants: Sequence[str],
    machines: Sequence[Machine],
    changes: Sequence[Change],
    reports: dict[str, str],
) -> go.Figure:
    """One figure: every variant's series of `metric` on every machine."""
    fig = go.Figure()
    several = len({s.machine.key for s in series}) > 1
    slot = slots([p.run for s in series for p in s.points])
    for s in series:
        colour = COLOURS[variants.index(s.variant) % len(COLOURS)]
        mark = [m.key for m in machines].index(s.machine.key)
        named = html.escape(f"{s.variant} · {s.machine.label}" if several else s.variant)
        for trace in _traces(s, colour, mark, named, reports, slot):
            fig.add_trace(trace)
    shaded: dict[tuple[str, str], int] = {}  # steps between the same two runs: one shade
    for c in changes:
        x0, x1 = slot[str(c.before.path)], slot[str(c.after.path)]
        if (x0, x1) not in shaded:
            fig.add_vrect(x0=x0, x1=x1, fillcolor="rgba(214,39,40,0.10)", line_width=0)
        shaded[x0, x1] = shaded.get((x0, x1), -1) + 1
        fig.add_annotation(
            x=x1, y=1 - 0.07 * shaded[x0, x1], yref="paper", xanchor="left", yanchor="top",
            showarrow=False, text=f"{html.escape(c.series.variant)}: {c.step.text()}",
            font={"size": 10, "color": "#b22222"},
        )  # fmt: skip
    if metric == "ratio_vs_ref":
        fig.add_hline(y=1, line={"color": "#444", "width": 1, "dash": "dash"})
    yaxis = dict(AXES[metric])
    values = [v for s in series for p in s.points for v in (p.value, p.low, p.high) if v]
    if values and max(values) - min(values) <= 1e-9 * abs(max(values)):
        yaxis["range"] = [min(values) * 0.95, max(values) * 1.05]  # flat: not a magnified 0
    fig.update_layout(
        title={"text": FIGURES[metric], "font": {"size": 14}},
        height=360,
        margin={"l": 70, "r": 20, "t": 40, "b": 50},
        xaxis={
            "type": "category",
            "categoryorder": "array",
            "categoryarray": list(slot.values()),
            "title": {"text": "runs in commit order (commit date UTC, commit)"},
        },
        yaxis=yaxis,
        hovermode="closest",
        template="plotly_white",
    )
    return fig


CLICK = """var gd = document.getElementById('{plot_id}');
gd.on('plotly_click', function (ev) {
  var p = ev.points[0];
  if (p && p.customdata && p.customdata[4]) { window.location.href = p.customdata[4]; }
});"""


def figure_html(fig: go.Figure, div_id: str) -> str:
    return fig.to_html(
        full_html=False,
        include_plotlyjs=False,
        div_id=div_id,
        post_script=CLICK,
        config={"displaylogo": False, "responsive": True},
    )


# -- pages -------------------------------------------------------------------------------------


def changes_table(changes: Sequence[Change], page_of: Callable[[str], str] | None = None) -> str:
    rows = []
    for c in changes:
        s = c.series
        technique = link(page_of(s.technique), s.technique) if page_of else html.escape(s.technique)
        rows.append(
            [technique, html.escape(short_name(s.fullname)), html.escape(s.metric),
             html.escape(s.machine.label), f"<code>{html.escape(c.commits())}</code>",
             html.escape(f"{c.before.commit_time[:10]} → {c.after.commit_time[:10]}"),
             html.escape(c.levels()), html.escape(c.step.text()), f"{c.step.p_value:.2g}",
             f"<code>{html.escape(c.bisect_command())}</code>"]
        )  # fmt: skip
    headers = ["technique", "benchmark", "figure", "machine", "commits", "dates", "level",
               "step", "p", "find the commit"]  # fmt: skip
    return table(headers, rows)


def technique_page(
    technique: str,
    series: Sequence[Series],
    changes: Sequence[Change],
    machines: Sequence[Machine],
    reports: dict[str, str],
) -> str:
    """Per report section, one figure per figure kind, then the section's change points."""
    body = [
        '<nav><a href="index.html">← all techniques</a></nav>',
        f"<h1>{html.escape(technique)}</h1>",
        '<p class="muted">Each line is one variant on one machine fingerprint, over the runs '
        "in commit order. Hover a point for its commit, date, value and rounds; click it for "
        "that run's report. Shaded: a change point, from the last run before the step to the "
        "first after it.</p>",
    ]
    sections: dict[str, list[Series]] = {}
    for s in series:
        sections.setdefault(s.section, []).append(s)
    n = 0
    for section, in_section in sections.items():
        body.append(f"<h2>{html.escape(section)}</h2>")
        variants = list(dict.fromkeys(s.variant for s in in_section))
        for metric in FIGURES:
            drawn = [s for s in in_section if s.metric == metric]
            if not drawn:
                continue
            marked = [c for c in changes if any(c.series is s for s in drawn)]
            n += 1
            fig = figure(metric, drawn, variants, machines, marked, reports)
            body.append(figure_html(fig, f"fig-{n}"))
        found = [c for c in changes if c.series.section == section]
        if found:
            body += ["<h3>Change points</h3>", changes_table(found)]
    return page(f"visionbench: {technique}", "\n".join(body), plots=True)


def index_page(
    history: History,
    series: Sequence[Series],
    changes: Sequence[Change],
    reports: dict[str, str],
    config: GateConfig,
    tune: str = "",  # the tune runs' section (`history.tune_pages`)
) -> str:
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    runs = history.runs
    body = [
        "<h1>visionbench: benchmark history</h1>",
        f'<p class="muted">{len(runs)} runs from <code>{html.escape(str(history.storage))}'
        f"</code> on {len(history.machines)} machine fingerprint(s); written {generated}.</p>",
    ]
    if history.skipped:
        items = "".join(f"<li>{html.escape(str(e))}</li>" for e in history.skipped)
        body.append(
            f'<div class="warning"><b>{len(history.skipped)} run file(s) skipped</b> (could '
            f"not be read):<ul>{items}</ul></div>"
        )
    body.append("<h2>Techniques</h2>")
    rows = []
    for technique in history.techniques():
        mine = [s for s in series if s.technique == technique]
        found = sum(c.series.technique == technique for c in changes)
        rows.append(
            [link(technique_file(technique), technique),
             str(len({s.fullname for s in mine})),
             html.escape(", ".join(dict.fromkeys(s.variant for s in mine))),
             str(len({s.machine.key for s in mine})), str(found)]
        )  # fmt: skip
    body.append(table(["technique", "benchmarks", "variants", "machines", "change points"], rows))
    markdown = untrusted_markdown()
    for machine in history.machines:
        newest = machine.runs[-1]
        text = summary.summary_markdown(newest, config)
        body.append(
            f"<h2>What pays off on {html.escape(machine.label)}</h2>"
            f'<p class="muted">The newest run of this machine: '
            f"{run_link(newest, reports)} (commit "
            f"{html.escape(newest.commit or '?')}, {html.escape(newest.date)}).</p>"
        )
        body.append(
            markdown.render(text.partition("\n")[2])
            if text
            else "<p>No verdict: no variant with its reference in this run.</p>"
        )
    body.append("<h2>Change points</h2>")
    if changes:
        body.append(changes_table(changes, technique_file))
    else:
        body.append(
            "<p>None: no figure's history stepped beyond the gate's tolerance with significance "
            f"(a step needs {MIN_RUNS} runs on each side).</p>"
        )
    body += [tune, "<h2>Machines and runs</h2>"]
    for machine in history.machines:
        body.append(
            f"<h3>{html.escape(machine.label)} <span class='muted'>({machine.key})</span></h3>"
        )
        rows = [
            [run_link(r, reports), html.escape(r.commit or "?"),
             html.escape(r.commit_time[:16].replace("T", " ")), html.escape(r.date),
             str(len(r.benchmarks))]
            for r in reversed(machine.runs)
        ]  # fmt: skip
        body.append(table(["run", "commit", "commit date", "ran", "benchmarks"], rows))
    return page("visionbench: benchmark history", "\n".join(body))


# -- run reports -------------------------------------------------------------------------------


def run_report(run: Run, history: Sequence[Run], folder: Path, config: GateConfig) -> Path:
    """`visionbench report`'s markdown and PNGs of `run` in `folder`, and index.html
    rendering them; kept when the run file and its history are unchanged (a stamp)."""
    stat = run.path.stat()
    stamp = f"{stat.st_size}:{stat.st_mtime_ns}:{len(history)}"
    target, stamp_file = folder / "index.html", folder / ".stamp"
    if target.is_file() and stamp_file.is_file() and stamp_file.read_text() == stamp:
        return target
    md = report.write_report(run, history, folder, config)
    body = untrusted_markdown().render(md.read_text(encoding="utf-8"))
    nav = '<nav><a href="../../../index.html">← the history site</a> · <a href="report.md">'
    nav += "report.md</a></nav>"
    write_text_atomic(target, page(f"visionbench report: {run.label}", nav + body))
    stamp_file.write_text(stamp)
    return target


# -- the site ----------------------------------------------------------------------------------


def write_site(
    history: History,
    out: Path,
    config: GateConfig | None = None,
    reports_per_machine: int | None = None,
    say: Callable[[str], None] = print,
    tune: Path | None = None,
) -> list[Written]:
    """Write the site into `out`; return what was written. `reports_per_machine`: write
    the reports of the newest N runs of each machine only (None: every run); `tune`: the
    folder of `visionbench tune` runs, each run's report written too."""
    config = config or GateConfig()
    out.mkdir(parents=True, exist_ok=True)
    written: list[Written] = []
    js = out / PLOTLY_JS
    bundle = plotly.offline.get_plotlyjs()
    if not js.is_file() or js.stat().st_size != len(bundle.encode()):
        write_text_atomic(js, bundle)
    written.append(Written(js, "plotly.js, loaded by every page (no network needed)"))

    reports: dict[str, str] = {}
    chosen = [
        (m, i)
        for m in history.machines
        for i in range(len(m.runs))
        if reports_per_machine is None or i >= len(m.runs) - reports_per_machine
    ]
    for n, (machine, i) in enumerate(chosen, 1):
        run = machine.runs[i]
        say(f"run report {n}/{len(chosen)}: {run.label} ({machine.label})")
        path = run_report(run, machine.runs[: i + 1], out / run_dir(run), config)
        reports[str(run.path)] = path.relative_to(out).as_posix()
    if chosen:
        written.append(Written(out / "runs", f"{len(chosen)} run reports (report.md, PNGs, HTML)"))
    tuned = tune_pages.write(out, tune, lambda r, h, f: run_report(r, h, f, config), say)
    if tuned[1]:
        written.append(Written(out / "runs" / "tune", f"{tuned[1]} tune run reports"))

    say("finding change points...")
    series = all_series(history)
    changes = scan(series, config)
    techniques = history.techniques()
    for n, technique in enumerate(techniques, 1):
        say(f"technique page {n}/{len(techniques)}: {technique}")
        mine = [s for s in series if s.technique == technique]
        path = out / technique_file(technique)
        found = [c for c in changes if c.series.technique == technique]
        write_text_atomic(path, technique_page(technique, mine, found, history.machines, reports))
        figures = len({(s.section, s.metric) for s in mine})
        written.append(Written(path, f"{figures} figures, {len(found)} change points"))
    index = out / "index.html"
    write_text_atomic(index, index_page(history, series, changes, reports, config, tuned[0]))
    written.insert(0, Written(index, f"{len(techniques)} techniques, {len(changes)} change points"))
    return written
