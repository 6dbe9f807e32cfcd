"""The trials of a `visionbench tune` run: time to the target against final accuracy, one
point per configuration tried, the Pareto front marked, the recommendation and the
baseline labelled. In the run report (`report.run.write_report`) and, through it, on the
history site, wherever a saved run holds tune trials (the group `tune.output.GROUP`).

Each point is a configuration's saved figures: `time_to_target_s` (the mean over its
seeds that reached the target: the search's and, for the confirmed ones, the fresh
seeds') and `accuracy` (where its seeds' training ended, at the target or their last
epoch: the mean over those not cut). A trial with no time (cut at its bound, not
reached, infeasible) has no place on the time axis and is counted under the plot. The
front is `report.pareto`'s: no other trial both faster and at least as accurate.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from visionbench.measure.results import Bench, Run
from visionbench.report.pareto import Front, Point, pareto
from visionbench.tune.output import GROUP

BASELINE = "baseline"  # the variant name of the configuration with every switch at its reference
ON_FRONT, DOMINATED, LABEL = "#c44e52", "#4c72b0", "#222222"


def trials(run: Run) -> list[Bench]:
    """The run's tune trials, in the order saved (none: not a tune run)."""
    return [b for b in run.benchmarks.values() if b.group == GROUP and not b.error]


def points(benches: Sequence[Bench]) -> list[Point]:
    """The trials with a time to the target and an accuracy, as the front's points."""
    out = []
    for b in benches:
        time, accuracy = b.extra_info.get("time_to_target_s"), b.extra_info.get("accuracy")
        if isinstance(time, (int, float)) and isinstance(accuracy, (int, float)) and time > 0:
            out.append(Point(b.variant, float(time), float(accuracy)))
    return out


def front(benches: Sequence[Bench]) -> Front:
    """The trials no other trial beats on both time to the target and accuracy."""
    return pareto(points(benches))


def recommended(run: Run) -> str | None:
    """The configuration the tune run recommended (its label), if it says."""
    found = (run.data.get("visionbench_tune") or {}).get("recommended")
    return found if isinstance(found, str) else None


def plot(run: Run, path: Path) -> Path:
    """The trials' scatter: time to the target (log) against accuracy, the front joined,
    the recommendation and the baseline named."""
    from matplotlib.figure import Figure  # no pyplot: no global state, no display

    benches = trials(run)
    shown, best = points(benches), recommended(run)
    found = pareto(shown)
    fig = Figure(figsize=(7.2, 4.6), dpi=110, layout="constrained")
    ax = fig.subplots()
    on = [p for p in shown if found.on_front(p.name)]
    off = [p for p in shown if not found.on_front(p.name)]
    ax.scatter([p.time for p in off], [p.accuracy * 100 for p in off], s=28, color=DOMINATED,
               alpha=0.5, label="trial (dominated)")  # fmt: skip
    ax.scatter([p.time for p in on], [p.accuracy * 100 for p in on], s=40, color=ON_FRONT,
               label="on the front", zorder=3)  # fmt: skip
    ax.step([p.time for p in found.front], [p.accuracy * 100 for p in found.front], where="post",
            color=ON_FRONT, lw=1.2, zorder=2)  # fmt: skip
    for p in shown:
        if p.name in (best, BASELINE):
            name = "recommended" if p.name == best else "baseline"
            ax.scatter([p.time], [p.accuracy * 100], s=170, marker="*" if p.name == best else "s",
                       facecolors="none", edgecolors=LABEL, lw=1.2, zorder=4)  # fmt: skip
            text = name if p.name == BASELINE else f"{name}: {p.name}"
            below = -12 if p.name == BASELINE else 8
            ax.annotate(text, (p.time, p.accuracy * 100), fontsize=8,
                        textcoords="offset points", xytext=(8, below))  # fmt: skip
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g} s"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    target = next((b.extra_info.get("target_accuracy") for b in benches), None)
    to = f" to {target:.1%}" if isinstance(target, float) else ""
    ax.set_xlabel(f"training time{to} (s, log scale; mean over the seeds that reached it)")
    ax.set_ylabel("test accuracy where training ended (%, mean over seeds)")
    ax.grid(alpha=0.3, which="both")
    ax.margins(x=0.2, y=0.25)
    ax.legend(fontsize=8, loc="best")
    fig.suptitle(f"tune: {len(shown)} configurations with a time to the target, the front in red",
                 fontsize=11)  # fmt: skip
    fig.savefig(path)
    return path


def section(run: Run, out_dir: Path) -> list[str]:
    """The report's tune section (markdown lines) with its plot; [] without tune trials."""
    benches = trials(run)
    shown = points(benches)
    if not shown:
        return []
    png = plot(run, Path(out_dir) / "tune_trials.png")
    found = pareto(shown)
    lines = [
        "## Tune: the trials",
        "",
        f"![tune: time to target against accuracy]({png.name})",
        "",
        f"{len(shown)} configurations with a time to the target; on the front (none both "
        f"faster and at least as accurate): {', '.join(f'`{p.name}`' for p in found.front)}.",
    ]
    if missing := len(benches) - len(shown):
        lines.append(f"{missing} more trials have no time (cut at their bound, not reached, or "
                     "infeasible) and are not drawn.")  # fmt: skip
    if best := recommended(run):
        lines.append(f"Recommended: `{best}`.")
    return [*lines, ""]
