"""The `visionbench tune` runs on the history site: each saved tune run's report (its
trials plotted, time to target against accuracy, the front marked:
`report.tune_trials`) under `runs/tune/<run>/`, and a table of them for the index page.

Tune runs are saved apart from the benchmark storage (`tune.output.OUT_DIR`, whose
`latest` the gate reads), so the site reads them from that folder; a file there that
cannot be read, or holds no tune trials, is named and skipped.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from pathlib import Path

from tabulate import tabulate

from visionbench.measure import results
from visionbench.measure.format import slug
from visionbench.measure.results import ResultsError, Run
from visionbench.report import tune_trials

Render = Callable[[Run, Sequence[Run], Path], Path]  # (run, history, folder) -> index.html


def tune_runs(folder: Path | None, say: Callable[[str], None] = print) -> list[Run]:
    """The readable runs with tune trials in `folder`, oldest first ([] without one)."""
    if folder is None or not Path(folder).is_dir():
        return []
    runs = []
    for path in sorted(Path(folder).glob("*.json")):
        try:
            run = results.load(path)
        except ResultsError as exc:
            say(f"skipped: {exc}")
            continue
        if tune_trials.trials(run):
            runs.append(run)
    return sorted(runs, key=lambda r: (r.datetime, r.label))


def write(
    out: Path, folder: Path | None, render: Render, say: Callable[[str], None] = print
) -> tuple[str, int]:
    """Each tune run's report rendered by `render` under out/runs/tune/; the index's section
    (HTML, "" without tune runs) and how many reports."""
    runs = tune_runs(folder, say)
    if not runs:
        return "", 0
    rows = []
    for n, run in enumerate(runs, 1):
        say(f"tune run report {n}/{len(runs)}: {run.label}")
        page = render(run, [run], out / "runs" / "tune" / slug(run.label))
        href = html.escape(page.relative_to(out).as_posix())
        trials = tune_trials.trials(run)
        info = trials[0].extra_info
        rows.append(
            [f'<a href="{href}">{html.escape(run.label)}</a>', html.escape(run.date),
             html.escape(f"{info.get('model', '?')} on {info.get('dataset', '?')}"),
             str(len(trials)), html.escape(str(tune_trials.recommended(run) or "?"))]
        )  # fmt: skip
    return (
        f"<h2>Tune runs</h2><p class='muted'>{len(runs)} <code>visionbench tune</code> runs "
        f"from <code>{html.escape(str(folder))}</code>: each report plots its trials, time to "
        "the target against accuracy, the front marked.</p>"
        + tabulate(
            rows,
            headers=["run", "ran", "measured on", "trials", "recommended"],
            tablefmt="unsafehtml",
            disable_numparse=True,
        ),
        len(runs),
    )
