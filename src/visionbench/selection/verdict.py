"""Does routing pay here? A statement read from saved adaptive_selection figures.

Pure: it takes saved benchmarks (objects with `variant`, `extra_info`, `stats`
and `error`, as `visionbench.measure.results.Bench`) and returns markdown text. It
compares the premodel and the cascade with the best single model (the most
accurate; ties: the faster) and measures what they capture of the oracle's
headroom (the oracle is the bound: a perfect premodel that costs nothing).

Honesty rules: an accuracy difference is worded by `visionbench.stats.equivalence`
(the same only when its whole 90% interval lies within the gate's accuracy
tolerance, "not resolved" when its noise cannot tell); a policy is called
faster only when its interquartile range of batch times lies wholly below the
best model's (otherwise "no clear difference"); and no verdict on time is given
when a policy was timed well below what its shares of the single models' saved
latencies imply (the machine's speed changed between the benchmarks).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from visionbench.measure.figures import judge_infos
from visionbench.selection import (
    CASCADE,
    FEATURES_ONLY,
    KNN_CHAIN,
    ORACLE,
    PREMODEL,
    PREMODEL_ONLY,
    TECHNIQUE,
)
from visionbench.stats.defaults import DEFAULTS
from visionbench.stats.equivalence import BETTER, SAME, UNRESOLVED, WORSE

OVERHEAD = (FEATURES_ONLY, PREMODEL_ONLY)
CONSISTENT = 0.85  # timed below this share of its implied latency: the speed drifted
TOLERANCE = DEFAULTS["tolerance"]["accuracy"]  # the gate's, unless the caller gives another


def _ok(b: Any) -> bool:
    info = b.extra_info
    return (
        not b.error
        and isinstance(info.get("latency_per_image_s"), (int, float))
        and isinstance(info.get("accuracy"), (int, float))
    )


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3g} ms/image"


def _clearly_faster(a: Any, b: Any) -> bool | None:
    """a's batch-time IQR wholly below b's; None when the quartiles are missing."""
    qa, qb = a.stats.get("q3"), b.stats.get("q1")
    if not isinstance(qa, (int, float)) or not isinstance(qb, (int, float)):
        return None
    return qa < qb


def _clearly_slower(a: Any, b: Any) -> bool:
    qa, qb = a.stats.get("q1"), b.stats.get("q3")
    return isinstance(qa, (int, float)) and isinstance(qb, (int, float)) and qa > qb


def _expected(b: Any, singles: dict[str, Any]) -> float | None:
    """The latency that b's shares of the single models' saved latencies imply
    (roughly: a model on part of a batch is seldom much faster per image)."""
    shares = b.extra_info.get("route_share")
    if not isinstance(shares, Mapping) or any(m not in singles for m in shares):
        return None
    return sum(share * singles[m].extra_info["latency_per_image_s"] for m, share in shares.items())


def _share(gain: float, headroom: float) -> str:
    if headroom <= 0:
        return "no headroom"
    return f"{gain / headroom:.0%}"


def statement(benches: Sequence[Any], tolerance: float = TOLERANCE) -> str:
    """Markdown: routing and the cascade against the best single model and the
    oracle, for the saved benchmarks of ONE dataset on ONE device; accuracy judged
    against `tolerance` (the gate's)."""
    ok = [b for b in benches if _ok(b) and b.variant not in OVERHEAD]
    by_name = {b.variant: b for b in ok}
    singles = [b for b in ok if b.variant not in (PREMODEL, KNN_CHAIN, CASCADE, ORACLE)]
    by_single = {b.variant: b for b in singles}
    where = ""
    if ok:
        info = ok[0].extra_info
        where = f"**{info.get('dataset', '?')} ({info.get('device', '?')})**: "
    if not singles:
        return where + "no single-model figures saved: nothing to compare routing with."
    best = max(
        singles,
        key=lambda b: (b.extra_info["accuracy"], -b.extra_info["latency_per_image_s"]),
    )
    acc = best.extra_info["accuracy"]
    lat = best.extra_info["latency_per_image_s"]
    n = best.extra_info.get("eval_images")
    noise_text = (
        f"{n:,} test images; a policy's accuracy is the same as this only when the 90% "
        f"interval of the difference lies within ±{tolerance * 100:.1f} pt"
        if n
        else "test size not saved: accuracy noise unknown"
    )
    lines = [f"{where}best single model {best.variant}: {acc:.1%}, {_ms(lat)} ({noise_text})."]
    oracle = by_name.get(ORACLE)
    for name in (PREMODEL, KNN_CHAIN, CASCADE):
        b = by_name.get(name)
        if b is None:
            lines.append(f"- {name}: not in this run.")
            continue
        a, t = b.extra_info["accuracy"], b.extra_info["latency_per_image_s"]
        d = a - acc
        judged = judge_infos(b.extra_info, best.extra_info, tolerance)
        way = judged.verdict if judged is not None else UNRESOLVED
        words = judged.short() if judged is not None and way in (SAME, UNRESOLVED) else way
        acc_text = f"{a:.1%} ({d * 100:+.1f} pt: {words})"
        faster = _clearly_faster(b, best)
        slower = _clearly_slower(b, best)
        speed = f"{lat / t:.2f}× the best model's speed" if t > 0 else "?"
        if faster is None:
            faster = t < lat
        worse, better = way == WORSE, way == BETTER
        implied = _expected(b, by_single)
        if implied is not None and t < CONSISTENT * implied:
            verdict = (
                f"no verdict on time: its shares of the single models' latencies imply at "
                f"least {_ms(implied)}, so the machine's speed changed during the run "
                "(rerun on a quiet machine)"
            )
        elif faster and way == UNRESOLVED:
            why = judged.text() if judged is not None else "not resolved"
            verdict = f"is faster, but whether it keeps the accuracy is {why}"
        elif faster and not worse:
            verdict = "beats the best single model" + (" and is more accurate" if better else "")
        elif faster:
            verdict = f"is faster but {-d * 100:.1f} pt less accurate: a trade, not a win"
        elif better and not slower:
            verdict = "is more accurate at no clear difference in time"
        elif better:
            verdict = "is more accurate but slower"
        elif slower:
            verdict = "does not beat the best single model: slower, and no more accurate"
        else:
            verdict = "does not beat the best single model: no clear difference in time"
        how = b.extra_info.get("model", name)
        text = f"- {name} ({how}): {acc_text}, {_ms(t)}, {speed}: {verdict}."
        if oracle is not None:
            o_acc, o_lat = oracle.extra_info["accuracy"], oracle.extra_info["latency_per_image_s"]
            text += (
                f" Of the oracle's headroom it takes {_share(lat - t, lat - o_lat)} of the time"
                f" saving, and {d * 100:+.1f} pt of its {(o_acc - acc) * 100:+.1f} pt accuracy."
            )
        lines.append(text)
    if oracle is not None:
        o_acc, o_lat = oracle.extra_info["accuracy"], oracle.extra_info["latency_per_image_s"]
        text = (
            f"- oracle (the bound: each image to the cheapest model that is right on it, "
            f"chosen by a perfect premodel that costs nothing): {o_acc:.1%} "
            f"({(o_acc - acc) * 100:+.1f} pt), {_ms(o_lat)} "
            f"({lat / o_lat:.2f}× the best model's speed)."
        )
        implied = _expected(oracle, by_single)
        if implied is not None and o_lat < CONSISTENT * implied:
            text += f" (Its shares imply at least {_ms(implied)}: the machine's speed drifted.)"
        lines.append(text)
    else:
        lines.append("- oracle: not in this run, so the headroom is unknown.")
    return "\n".join(lines)


def statements(benches: Sequence[Any], tolerance: float = TOLERANCE) -> list[str]:
    """One statement per (dataset, device) among saved benchmarks of any technique
    (none for other techniques, nor for the overhead benchmarks alone)."""
    groups: dict[tuple[str, str], list[Any]] = {}
    for b in benches:
        if b.extra_info.get("technique") != TECHNIQUE or b.variant in OVERHEAD:
            continue
        key = (str(b.extra_info.get("dataset")), str(b.extra_info.get("device")))
        groups.setdefault(key, []).append(b)
    return [statement(group, tolerance) for group in groups.values()]
