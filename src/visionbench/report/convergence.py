"""How fast training converges: epochs and seconds to a target accuracy over
seeds, which LR schedule gets there first, and what early stopping saves.

A bench records each seed's first arrival at the target (or None when it never
arrived within the budget: `visionbench.training.targets`), so a variant that
never arrives is recorded as such, not dropped. `compare_to_reference` reads
those figures back from a saved run and says which variant wins, by how
much and how sure that is: a paired t-interval over seeds (seed i gives every
variant the same initialisation and data order). A seed that never reached the
target is counted at the end of its budget (budget + 1 epochs; the run's mean
training time), which understates the gap for that seed; the text says so. With
few seeds the interval is wide, and with one seed there is none.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from visionbench.measure.figures import judge_infos
from visionbench.measure.metrics import EPOCHS, METRICS
from visionbench.stats.defaults import DEFAULTS
from visionbench.stats.equivalence import BETTER, WORSE
from visionbench.stats.seeds import paired_interval, sign_test

MEASURES = ("epochs_to_target", "time_to_target_s")  # metrics.py names, paired over seeds


@dataclass(frozen=True)
class Contrast:
    """`variant` minus `reference` on one measure, paired over seeds."""

    measure: str  # "epochs_to_target" or "time_to_target_s"
    variant: str
    reference: str
    target: float | None  # the accuracy both counted to
    seeds: int  # seed pairs compared
    difference: float  # mean over seeds of variant - reference (negative: variant sooner)
    low: float | None  # t-interval of the mean difference (None with one seed)
    high: float | None
    sign_p: float  # two-sided sign test: chance of seeds this one-sided if neither were sooner
    confidence: float
    censored: int  # pairs where either never reached (counted at its budget's end)
    reached: tuple[int, int]  # seeds that reached the target: variant, reference

    @property
    def winner(self) -> str | None:
        """The one that gets there sooner, when the seeds separate them: the t-interval
        excludes no difference, or, when every seed shows the same difference (no
        spread to build an interval from), the sign test says so."""
        if self.low is None or self.high is None or self.difference == 0:
            return None
        if self.low == self.high:
            separated = self.sign_p < 1 - self.confidence
        else:
            separated = self.high < 0 or self.low > 0
        if not separated:
            return None
        return self.variant if self.difference < 0 else self.reference

    def sentence(self) -> str:
        unit = METRICS[self.measure].unit
        to = f"{self.target:.1%}" if self.target is not None else "the target"
        gap = abs(self.difference)
        sooner = f"{gap:.2g} epochs sooner" if unit == EPOCHS else f"{gap:.3g} s of training sooner"
        if self.low is None or self.high is None:
            spread = f"one seed: {self.difference:+.3g} {unit}, no interval"
        elif self.low == self.high:
            spread = (
                f"{self.difference:+.3g} {unit} on every one of {self.seeds} seeds, no spread "
                f"for an interval; sign test p = {self.sign_p:.2g}"
            )
        else:
            spread = (
                f"{self.confidence:.0%} CI {self.low:+.3g} to {self.high:+.3g} {unit}, "
                f"{self.seeds} paired seeds"
            )
        first = self.variant if self.difference < 0 else self.reference
        other = self.reference if first == self.variant else self.variant
        if self.difference == 0:
            text = f"{self.variant} and {self.reference} reach {to} alike ({spread})"
        elif self.winner is not None:
            text = f"{first} reaches {to} {sooner} than {other} ({spread})"
        else:
            text = (
                f"{first} reaches {to} {sooner} on average, but {self.seeds} seed(s) do not "
                f"separate it from {other} ({spread})"
            )
        n_v, n_r = self.reached
        text += f"; reached by {n_v}/{self.seeds} vs {n_r}/{self.seeds} seeds"
        if self.censored:
            text += (
                f"; {self.censored} seed(s) never reached it in one of them and count at the "
                "end of the budget, which understates the gap there"
            )
        return text + "."


def _per_seed(info: dict[str, Any], measure: str) -> list[float] | None:
    """A variant's per-seed values; a seed that never reached the target counts at
    the end of its budget (budget + 1 epochs, or the run's training time)."""
    values = info.get(f"{measure}_per_seed")
    if not values:
        return None
    if measure == "epochs_to_target":
        end = info["epochs"] + 1 if info.get("epochs") is not None else None
    else:
        end = info.get("train_time_s")
    if end is None and None in values:
        return None
    return [float(v) if v is not None else float(end) for v in values]


def compare_to_reference(benches: Sequence[Any], confidence: float = 0.95) -> list[Contrast]:
    """Each variant against its reference on epochs- and time-to-target.

    `benches`: saved benchmarks (`results.Bench`: `.variant`, `.extra_info`) of
    one technique; those without per-seed time-to-target figures are left out,
    and so are variants that stopped before their budget (early stopping: not
    reaching the target there says when they stopped, not how fast they learn).
    Seeds are paired by index over the seeds both have.
    """
    by_variant = {
        b.variant: b.extra_info
        for b in benches
        if "epochs_to_target_per_seed" in b.extra_info and not stopped_early(b.extra_info)
    }
    out = []
    for variant, info in by_variant.items():
        ref_name = info.get("reference")
        ref = by_variant.get(ref_name)
        if ref is None or variant == ref_name:
            continue
        for measure in MEASURES:
            a, b = _per_seed(info, measure), _per_seed(ref, measure)
            if a is None or b is None:
                continue
            n = min(len(a), len(b))
            raw_a = info[f"{measure}_per_seed"][:n]
            raw_b = ref[f"{measure}_per_seed"][:n]
            diffs = [x - y for x, y in zip(a[:n], b[:n], strict=True)]
            mean, low, high = paired_interval(diffs, confidence)
            out.append(
                Contrast(
                    measure=measure,
                    variant=variant,
                    reference=ref_name,
                    target=info.get("target_accuracy"),
                    seeds=n,
                    difference=mean,
                    low=low,
                    high=high,
                    sign_p=sign_test(diffs),
                    confidence=confidence,
                    censored=sum(x is None or y is None for x, y in zip(raw_a, raw_b, strict=True)),
                    reached=(
                        sum(x is not None for x in raw_a),
                        sum(x is not None for x in raw_b),
                    ),
                )
            )
    return out


def stopped_early(info: dict[str, Any]) -> bool:
    run, budget = info.get("epochs_run"), info.get("epochs")
    return run is not None and budget is not None and run < budget


# -- the report's section ---------------------------------------------------------------


def _mean_sd(values: Sequence[float | None], fmt: str, unit: str = "") -> str:
    hits = [v for v in values if v is not None]
    if not hits:
        return "never"
    sd = statistics.stdev(hits) if len(hits) > 1 else 0.0
    return f"{format(statistics.fmean(hits), fmt)} ± {format(sd, fmt)}{unit}"


def section(benches: Sequence[Any], confidence: float = 0.95) -> str:
    """A technique's convergence figures ("" when it has none): time to target per
    variant and the contrasts with the reference, and for variants that trained
    fewer epochs than their budget (early stopping), the epochs saved and the
    accuracy given up against their reference."""
    lines: list[str] = []
    timed = [b for b in benches if "epochs_to_target_per_seed" in b.extra_info]
    if timed:
        target = timed[0].extra_info.get("target_accuracy")
        lines += [
            f"Time to {target:.1%} test accuracy" if target is not None else "Time to target",
            "",
            "| variant | reached | epochs to target | time to target | per seed (epochs) "
            "| final accuracy |",
            "|---|---|---|---|---|---|",
        ]
        for b in timed:
            info = b.extra_info
            per_seed = info["epochs_to_target_per_seed"]
            budget = info.get("epochs")
            never = "stopped" if stopped_early(info) else f">{budget}" if budget else "never"
            seeds = ", ".join(str(e) if e is not None else never for e in per_seed)
            acc = info.get("accuracy")
            acc_text = "-" if acc is None else f"{acc:.1%} ± {info.get('accuracy_std', 0):.1%}"
            lines.append(
                f"| {b.variant} | {sum(e is not None for e in per_seed)}/{len(per_seed)} "
                f"| {_mean_sd(per_seed, '.2f')} "
                f"| {_mean_sd(info.get('time_to_target_s_per_seed') or [], '.2f', ' s')} "
                f"| {seeds} | {acc_text} |"
            )
        lines.append("")
        lines += [f"- {c.sentence()}" for c in compare_to_reference(benches, confidence)]
        lines.append("")
    lines += _early_stopping_lines(benches)
    return "\n".join(lines).strip()


TOLERANCE = DEFAULTS["tolerance"]["accuracy"]  # the gate's default: 1 pt


def _early_stopping_lines(benches: Sequence[Any]) -> list[str]:
    by_variant = {b.variant: b.extra_info for b in benches}
    lines = []
    for variant, info in by_variant.items():
        ref = by_variant.get(info.get("reference"))
        if ref is None or ref is info or not stopped_early(info):
            continue
        run, budget = info["epochs_run"], info["epochs"]
        text = f"- {variant}: stopped after {run:.3g} of {budget} epochs on average"
        text += f" ({budget - run:.3g} epochs saved"
        if info.get("train_time_s") and ref.get("train_time_s"):
            change = info["train_time_s"] / ref["train_time_s"] - 1
            text += (
                f"; training time {info['train_time_s']:.3g} s vs {ref['train_time_s']:.3g} s, "
                f"{change:+.0%}"
            )
        text += ")"
        acc, ref_acc = info.get("accuracy"), ref.get("accuracy")
        judged = judge_infos(info, ref, TOLERANCE)
        if acc is not None and ref_acc is not None and judged is not None:
            # paired over the test images and seeds where both kept their outcomes
            words = judged.verdict if judged.verdict in (BETTER, WORSE) else judged.short()
            text += (
                f"; accuracy {acc:.1%} vs {ref_acc:.1%} for the full budget "
                f"({(acc - ref_acc) * 100:+.1f} pt: {words})"
            )
        lines.append(text + ".")
    return [*lines, ""] if lines else []
