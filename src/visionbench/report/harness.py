"""The report's appendix: the harness's own cost (`techniques.harness`), per timing method
the round it reports for a call that does nothing, its overhead per round in µs and as a
share of the small CNN's training step, and the step as each method times it against
torch's Timer over the interleaved blocks."""

from __future__ import annotations

from collections.abc import Sequence

from tabulate import tabulate

from visionbench.measure import metrics
from visionbench.measure.format import fmt_seconds
from visionbench.measure.results import Bench
from visionbench.measure.techniques import HARNESS

METHOD_WORDS = {
    "runner": "`Runner.time` (measure/runner.py)",
    "pedantic": "pytest-benchmark `pedantic`",
    "torch_timer": "`torch.utils.benchmark.Timer`",
}


def _median(bench: Bench | None) -> float | None:
    value = bench.stats.get("median") if bench is not None else None
    return float(value) if isinstance(value, (int, float)) else None


def _share(value: object) -> str:
    """A share as a percentage, two significant digits (0.0018%, 0.15%)."""
    return f"{value * 100:.2g}%" if isinstance(value, float) else "-"


def _us(seconds: float | None) -> str:
    return f"{seconds * 1e6:.2f} µs" if seconds is not None else "-"


def appendix(benches: Sequence[Bench]) -> str:
    """The appendix's markdown, or "" where the run has no harness benchmarks."""
    ours = [b for b in benches if b.technique == HARNESS.name and not b.error]
    by_unit: dict[str, dict[str, Bench]] = {}
    for b in ours:
        by_unit.setdefault(str(b.extra_info.get("unit")), {})[b.variant] = b
    trivial, step = by_unit.get(metrics.NOOP, {}), by_unit.get(metrics.TRAIN_STEP, {})
    if not trivial and not step:
        return ""
    methods = [m for m in METHOD_WORDS if m in trivial or m in step]
    rows = []
    for m in methods:
        t, s = trivial.get(m), step.get(m)
        info = (s or t).extra_info  # type: ignore[union-attr]
        share = info.get("overhead_share")
        ratio = s.extra_info.get("ratio_vs_ref") if s is not None else None
        interval = ""
        if s is not None and s.extra_info.get("ratio_ci_low") is not None:
            low, high = s.extra_info["ratio_ci_low"], s.extra_info["ratio_ci_high"]
            interval = f" [{low:.3f}–{high:.3f}]"
        rows.append(
            [
                METHOD_WORDS[m],
                _us(_median(t)),
                _us(info.get("overhead_s")),
                _share(share),
                fmt_seconds(_median(s)) if _median(s) is not None else "-",  # type: ignore[arg-type]
                f"{ratio:.3f}×{interval}" if isinstance(ratio, float) else "reference",
            ]
        )
    first = next(iter((step or trivial).values())).extra_info
    where = ", ".join(str(first.get(k)) for k in ("dataset", "device") if first.get(k))
    model = (
        f"{first.get('model')} at {first.get('image_size')} px, batch {first.get('batch_size')}"
        if step
        else "the small CNN"
    )
    blocks = next(
        (b.extra_info["paired_rounds"] for b in ours if b.extra_info.get("paired_rounds")), None
    )
    timer = trivial.get("torch_timer")
    number = timer.extra_info.get("timer_number", "its") if timer is not None else "its"
    headers = [
        "method", "a call that does nothing (median round)", "overhead per round",
        "share of the step", "training step (median)", "step vs Timer [95%]",
    ]  # fmt: skip
    lines = [
        "## Appendix: the harness's own cost",
        "",
        f"A call that does nothing and one training step of {model} ({where}), each timed by "
        "every method in this one process, block by block with the methods' order rotated"
        + (f" ({blocks} blocks)" if blocks else "")
        + ". A method's overhead per round is what it reports for the call that does "
        "nothing, less that call's own cost (the Timer's time per call, spread over "
        f"{number} calls); its share is that overhead over the step as the Timer times it. "
        "The last column pairs each block's median step with the Timer's.",
        "",
        tabulate(rows, headers=headers, tablefmt="github"),
        "",
    ]
    runner = step.get("runner") or trivial.get("runner")
    if runner is not None and isinstance(runner.extra_info.get("overhead_s"), float):
        info = runner.extra_info
        text = f"**The harness's cost:** `Runner.time` adds {_us(info['overhead_s'])} per round"
        if isinstance(info.get("overhead_share"), float):
            text += f", {_share(info['overhead_share'])} of the small CNN's training step"
        lines += [text + ".", ""]
    return "\n".join(lines)
