"""The recipe ladder: from the seed poster's baseline to the article's recipe, one switch
per rung, each rung's time to target (each seed trained until it got there or a cap:
`techniques.recipe`) and speed-up over the rung before and the baseline; then, as the
article judges a recipe, which rungs pay here and which do not (`payoffs`: each switch
against the rung before, in time to target and in accuracy within the time budget), the
fastest rung to the target, and whether the whole recipe pays."""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from tabulate import tabulate

from visionbench.measure.format import fmt_times
from visionbench.measure.results import Bench
from visionbench.report.evidence import all_reached, reached, seeds_run, to_target_evidence
from visionbench.stats.defaults import DEFAULTS
from visionbench.stats.seeds import paired_interval

TIME_TOLERANCE = DEFAULTS["tolerance"]["time"]  # the gate's: a ratio within it is no change
ACCURACY_TOLERANCE = DEFAULTS["tolerance"]["accuracy"]  # fraction points, the gate's


def _mean_sd(values: Sequence[float]) -> str:
    if not values:
        return "not within the cap"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.3g} ± {sd:.2g} s"


def _speedup(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    """before's mean time to target over after's, when every seed of both reached it."""
    if all_reached(before) and all_reached(after):
        return fmt_times(before["time_to_target_s"] / after["time_to_target_s"])
    after_n, before_n = len(reached(after)), len(reached(before))
    return f"n/a ({after_n}/{seeds_run(after)} vs {before_n}/{seeds_run(before)} seeds reached)"


def ladder_markdown(benches: Sequence[Bench]) -> str:
    """The recipe ladder in rung order: what each rung adds, its epoch time, time to target,
    accuracy within the time budget, and the speed-up over the rung before and the baseline;
    then a plain sentence on whether the whole recipe beats the baseline."""
    rungs = sorted(
        (b for b in benches if isinstance(b.extra_info.get("rung"), int) and not b.error),
        key=lambda b: b.extra_info["rung"],
    )
    if not rungs:
        return ""
    first = rungs[0].extra_info
    target, budget = first.get("target_accuracy"), first.get("time_budget_s")
    rows = []
    for i, b in enumerate(rungs):
        info = b.extra_info
        acc = info.get("accuracy")
        budget_acc = info.get("accuracy_in_budget_per_seed") or []
        med = b.stats.get("median")
        rows.append(
            [
                b.extra_info["rung"],
                b.variant,
                info.get("switch", ""),
                f"{med:.3g} s" if isinstance(med, (int, float)) else "-",
                f"{_mean_sd(reached(info))} ({len(reached(info))}/{seeds_run(info)})",
                _speedup(rungs[i - 1].extra_info, info) if i else "",
                _speedup(first, info) if i else "",
                _budget_text(budget_acc),
                f"{acc:.1%} ± {(info.get('accuracy_std') or 0) * 100:.1f} pt" if acc else "-",
            ]
        )
    to = f"{target:.1%}" if isinstance(target, float) else "target"
    headers = [
        "rung", "name", "adds", "epoch time (median)", f"time to {to} (seeds reached)",
        "speed-up vs previous", "vs baseline",
        f"accuracy within {budget:g} s" if budget else "accuracy in budget", "final accuracy",
    ]  # fmt: skip
    verdict_line = _ladder_verdict(rungs, to)
    cap = _cap_text(first)
    lines = [
        "## The recipe ladder",
        "",
        f"From the seed poster's baseline to the article's recipe, one switch per rung, on "
        f"{first.get('dataset')} ({first.get('device')}, {first.get('model')} at "
        f"{first.get('image_size')} px). Each seed trains until it reaches {to} or the cap "
        f"({cap}), and at least the time budget. Time to target counts training seconds only "
        "(evaluation excluded); a seed that did not get there within the cap is shown as "
        "not reached, not averaged in.",
        "",
        tabulate(rows, headers=headers, tablefmt="github"),
        "",
        *payoffs(rungs, to, budget),
        verdict_line,
        "",
    ]
    if left_out := first.get("left_out"):
        lines += [f"Rungs left out on this machine and profile: {left_out}.", ""]
    return "\n".join(lines)


def _budget_text(values: Sequence[float]) -> str:
    if not values:
        return "-"
    within = [v for v in values if v]  # 0: the seed's first epoch overran the budget
    if not within:
        return "no epoch ended within it"
    sd = statistics.stdev(within) if len(within) > 1 else 0.0
    text = f"{statistics.fmean(within):.1%} ± {sd * 100:.1f} pt"
    if len(within) < len(values):
        text += f" ({len(within)}/{len(values)} seeds; the others: no epoch within it)"
    return text


def _ladder_verdict(rungs: Sequence[Bench], to: str) -> str:
    first, last = rungs[0], rungs[-1]
    a, b = first.extra_info, last.extra_info
    seeds = seeds_run(b)
    if all_reached(a) and all_reached(b):
        ratio = a["time_to_target_s"] / b["time_to_target_s"]
        faster = [x > y for x, y in zip(reached(a), reached(b), strict=False)]
        how = f"on {sum(faster)} of {len(faster)} paired seeds"
        if ratio > 1:
            return (
                f"**The whole recipe pays:** the last rung ({last.variant}) reaches {to} in "
                f"{b['time_to_target_s']:.3g} s of training against the baseline's "
                f"{a['time_to_target_s']:.3g} s ({fmt_times(ratio)} faster, sooner {how})."
            )
        return (
            f"**The whole recipe does not pay here:** the last rung ({last.variant}) needs "
            f"{b['time_to_target_s']:.3g} s to reach {to} against the baseline's "
            f"{a['time_to_target_s']:.3g} s (sooner {how}); see which rungs cost time above."
        )
    text = (
        f"**Not decided:** the last rung ({last.variant}) reached {to} within the cap on "
        f"{len(reached(b))} of {seeds} seeds and the baseline on {len(reached(a))} of "
        f"{seeds_run(a)}, so their times to target cannot be compared."
    )
    lost = next(
        (
            (before, after)
            for before, after in itertools.pairwise(rungs)
            if len(reached(after.extra_info)) < len(reached(before.extra_info))
        ),
        None,
    )
    if lost is not None:
        before, after = lost
        acc_b, acc_a = before.extra_info.get("accuracy"), after.extra_info.get("accuracy")
        text += f" Why: seeds stop reaching it at {after.variant}"
        if isinstance(acc_a, float) and isinstance(acc_b, float):
            text += (
                f", whose final accuracy is {acc_a:.1%} against {acc_b:.1%} before it: within "
                f"the cap ({_cap_text(after.extra_info)}) that switch costs accuracy here"
            )
        text += "."
    elif not reached(a):
        text += " Why: not even the baseline reaches it within the cap."
    return text


def _cap_text(info: Mapping[str, Any]) -> str:
    """The cap each seed trained under: epochs and seconds (runs saved before the cap in
    seconds: the epochs alone)."""
    epochs, seconds = info.get("epochs"), info.get("max_time_s")
    parts = [f"{epochs} epochs" if epochs else "", f"{seconds:g} s" if seconds else ""]
    return " or ".join(p for p in parts if p) or "the epochs budget"


def _budget_difference(before: Bench, after: Bench) -> tuple[float, float | None, float | None]:
    """after minus before in accuracy within the time budget, paired seed by seed (seed i:
    the same initialisation and data order on every rung), over the seeds with an epoch
    within it on both: the mean and its 95% t-interval (None, None for one seed); NaN
    where no seed pairs."""
    a = before.extra_info.get("accuracy_in_budget_per_seed") or []
    b = after.extra_info.get("accuracy_in_budget_per_seed") or []
    diffs = [y - x for x, y in zip(a, b, strict=False) if x and y]
    return paired_interval(diffs) if diffs else (math.nan, None, None)


def _accuracy_words(before: Bench, after: Bench, budget: float | None) -> str:
    """What a switch does to the accuracy within the time budget, judged against the
    gate's accuracy tolerance: costs, gains, the same, or not resolved by the seeds."""
    mean, low, high = _budget_difference(before, after)
    if math.isnan(mean):
        return ""
    within = f"within {budget:g} s" if budget else "within the time budget"
    points = f"{abs(mean) * 100:.1f} pt"
    tol = ACCURACY_TOLERANCE
    if low is None or high is None:
        return f"{'+' if mean >= 0 else '−'}{points} {within} (one seed: no interval)"
    if high < -tol:
        return f"costs {points} {within}"
    if low > tol:
        return f"gains {points} {within}"
    if -tol <= low and high <= tol:
        return f"the same accuracy {within}"
    return f"{'+' if mean >= 0 else '−'}{points} {within}, not resolved by the seeds"


def _payoff(before: Bench, after: Bench, to: str, budget: float | None) -> str:
    """One rung against the rung before it: does its switch pay here, in time to target
    (paired over seeds where every seed of both got there, else the seeds that did) and in
    accuracy within the time budget."""
    a, b = before.extra_info, after.extra_info
    got_a, got_b, n_a, n_b = len(reached(a)), len(reached(b)), seeds_run(a), seeds_run(b)
    evidence = to_target_evidence(after, before)
    if evidence is not None:
        way = evidence.direction(TIME_TOLERANCE)
        cell = f"{b['time_to_target_s']:.3g} s to {to} against {a['time_to_target_s']:.3g} s"
        said = {
            "faster": f"pays: {fmt_times(1 / evidence.ratio)} sooner to {to} ({cell})",
            "slower": f"does not pay: {fmt_times(evidence.ratio)} later to {to} ({cell})",
            "same": f"changes the time to {to} by no more than noise ({cell})",
        }[way]
    elif got_b > got_a:
        said = f"pays: {got_b}/{n_b} seeds reach {to} within the cap, {got_a}/{n_a} before it"
    elif got_b < got_a:
        said = (
            f"does not pay: {got_b}/{n_b} seeds reach {to} within the cap, {got_a}/{n_a} before it"
        )
    else:
        said = f"undecided in time: {got_b}/{n_b} seeds reach {to} within the cap, as before it"
    accuracy = _accuracy_words(before, after, budget)
    return f"**{after.variant}** {said}" + (f"; {accuracy}" if accuracy else "") + "."


def _fastest(rungs: Sequence[Bench], to: str) -> str:
    """The rung that reaches the target soonest on average, of those whose every seed got
    there within the cap, against the baseline."""
    done = [b for b in rungs if all_reached(b.extra_info)]
    if not done:
        return f"No rung reaches {to} on every seed within the cap here."
    best = min(done, key=lambda b: b.extra_info["time_to_target_s"])
    info, base = best.extra_info, rungs[0]
    text = (
        f"The fastest rung to {to} is **{best.variant}**: {info['time_to_target_s']:.3g} s of "
        f"training on average over {seeds_run(info)} seeds"
    )
    if best is base:
        return text + ", the baseline itself: no switch above it reaches the target sooner."
    if all_reached(base.extra_info):
        ratio = base.extra_info["time_to_target_s"] / info["time_to_target_s"]
        return text + f", {fmt_times(ratio)} sooner than the baseline."
    got = len(reached(base.extra_info))
    return text + f"; the baseline got there on {got}/{seeds_run(base.extra_info)} seeds."


def payoffs(rungs: Sequence[Bench], to: str, budget: float | None) -> list[str]:
    """The lines saying which rungs pay here and which do not, then the fastest rung."""
    if len(rungs) < 2:
        return []
    lines = ["Which switches pay here, each rung against the rung before it:", ""]
    lines += [f"- {_payoff(x, y, to, budget)}" for x, y in itertools.pairwise(rungs)]
    return [*lines, "", _fastest(rungs, to), ""]
