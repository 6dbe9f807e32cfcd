"""The recipe ladder: from the seed poster's baseline to the article's recipe, one switch
per rung, each rung's time to target and speed-up over the rung before and the baseline,
and a sentence on whether the whole recipe pays."""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from tabulate import tabulate

from visionbench.measure.format import fmt_times
from visionbench.measure.results import Bench
from visionbench.report.evidence import all_reached, reached, seeds_run


def _mean_sd(values: Sequence[float]) -> str:
    if not values:
        return "never"
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
    lines = [
        "## The recipe ladder",
        "",
        f"From the seed poster's baseline to the article's recipe, one switch per rung, on "
        f"{first.get('dataset')} ({first.get('device')}, {first.get('model')} at "
        f"{first.get('image_size')} px, {first.get('epochs')} epochs per seed). Time to target "
        "counts training seconds only (evaluation excluded); a seed that never reached it is "
        "shown as not reached, not averaged in.",
        "",
        tabulate(rows, headers=headers, tablefmt="github"),
        "",
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
        f"**Not decided:** the last rung ({last.variant}) reached {to} on "
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
                f", whose final accuracy is {acc_a:.1%} against {acc_b:.1%} before it: in "
                f"{after.extra_info.get('epochs')} epochs that switch costs accuracy here"
            )
        text += "."
    elif not reached(a):
        text += " Why: not even the baseline reaches it within the epochs budget."
    return text
