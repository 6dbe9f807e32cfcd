"""The data-parallel section: per dataset and device, each variant's throughput at every
world size, its scaling efficiency, what the all-reduce cost, peak memory per rank and
accuracy, then in words what was measured."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from visionbench.data_parallel.variants import REFERENCE as DDP
from visionbench.data_parallel.variants import TECHNIQUE as DATA_PARALLEL
from visionbench.measure.format import fmt_bytes, fmt_number, fmt_share


def data_parallel(benches: Sequence[Any]) -> list[Any]:
    return [
        b
        for b in benches
        if b.extra_info.get("technique") == DATA_PARALLEL
        and not b.error
        and isinstance(b.extra_info.get("world_size"), int)
    ]


def _scaling_row(b: Any) -> str:
    info = b.extra_info
    sent = info.get("allreduce_bytes")
    calls = info.get("allreduce_calls")
    sent_text = (
        "-"
        if sent is None
        else fmt_bytes(sent) + (f" ({calls} call{'s' if calls != 1 else ''})" if calls else "")
    )
    per_rank = info.get("peak_mem_bytes_per_rank") or (
        [info["peak_mem_bytes"]] if isinstance(info.get("peak_mem_bytes"), (int, float)) else []
    )
    mem = "-" if not per_rank else fmt_bytes(max(per_rank))
    acc = info.get("accuracy")
    acc_text = "-" if acc is None else f"{acc:.1%}"
    per_s, efficiency = info.get("samples_per_s"), info.get("scaling_efficiency")
    return (
        f"| {b.variant} | {info['world_size']} | {fmt_number(per_s, ',.0f')} "
        f"| {fmt_number(efficiency, '.2f')} | {fmt_share(info.get('allreduce_share'))} "
        f"| {sent_text} | {mem} | {acc_text} |"
    )


def _scaling_statements(benches: Sequence[Any]) -> list[str]:
    by = {(b.variant, b.extra_info["world_size"]): b.extra_info for b in benches}
    sizes = sorted({ws for _, ws in by})
    out = []
    one, top = by.get((DDP, 1)), by.get((DDP, sizes[-1]))
    if one and top and sizes[-1] > 1 and one.get("samples_per_s") and top.get("samples_per_s"):
        n = sizes[-1]
        eff = top["samples_per_s"] / (n * one["samples_per_s"])
        speed = top["samples_per_s"] / one["samples_per_s"]
        text = (
            f"Measured: plain DDP at world size {n} ({top.get('backend')}) ran "
            f"{top['samples_per_s']:,.0f} samples/s against {one['samples_per_s']:,.0f} at "
            f"world size 1: {speed:.2f}x the throughput, a scaling efficiency of {eff:.2f}; "
            f"the all-reduce was in flight for {fmt_share(top.get('allreduce_share'))} of the step."
        )
        if str(top.get("device", "")).startswith("cpu"):
            text += (
                f" On the CPU the {n} ranks split the cores that world size 1 had to itself, "
                "so no speed-up is expected: with nothing lost the throughput would stay the "
                f"same (1.00x, efficiency 1/{n} = {1 / n:.2f}). "
            )
            if speed > 1.1:
                text += (
                    "Above that, world size 1's multi-threaded step used the cores less well "
                    "than single-threaded ranks did (small kernels, or threads competing with "
                    "other work on a busy machine: compare the world size 1 rows across runs)."
                )
            elif speed < 0.9:
                text += "Below it is what gloo's all-reduce and the split of the cores cost."
            else:
                text += "It stayed about there."
        out.append(text)
    for name in ("bf16_compress", "fp16_compress"):
        mine, ref = by.get((name, sizes[-1])), by.get((DDP, sizes[-1]))
        if mine and ref and mine.get("allreduce_bytes") and ref.get("allreduce_bytes"):
            ratio = mine["allreduce_bytes"] / ref["allreduce_bytes"]
            out.append(
                f"{name} at world size {sizes[-1]} handed {fmt_bytes(mine['allreduce_bytes'])} "
                f"per step to the all-reduce against {fmt_bytes(ref['allreduce_bytes'])} "
                f"({ratio:.2f}x), for {fmt_number(mine.get('samples_per_s'), ',.0f')} samples/s "
                f"against {fmt_number(ref.get('samples_per_s'), ',.0f')}."
            )
    return out


def section(benches: Sequence[Any]) -> str:
    """The scaling section of a run's data-parallel benches ("" without any): per dataset
    and device, each variant's throughput at every world size, its scaling efficiency
    against world size 1, the all-reduce's bytes and share of the step, peak memory per
    rank and accuracy; then in words what was measured. On a CPU the ranks split the
    cores that world size 1 had to itself, so the ideal is no loss, not a speed-up; the
    text says so rather than calling it a failure."""
    chosen = data_parallel(benches)
    if not chosen:
        return ""
    groups: dict[tuple, list[Any]] = {}
    for b in chosen:
        key = (b.extra_info.get("dataset"), b.extra_info.get("device"))
        groups.setdefault(key, []).append(b)
    lines = [f"## {DATA_PARALLEL}: scaling", ""]
    for (dataset, device), group in groups.items():
        group.sort(key=lambda b: (b.variant != DDP, b.variant, b.extra_info["world_size"]))
        info = group[0].extra_info
        steps = info.get("train_steps")
        budget = f"{steps} steps" if steps else f"{info.get('epochs')} epoch(s)"
        lines += [
            f"{dataset}, {device}: {info.get('model')} at {info.get('image_size')} px, "
            f"{info.get('batch_size')} images per rank per micro-batch (weak scaling); "
            f"accuracy after {budget} at the recipe's global batch.",
            "",
            "| variant | world size | samples/s | scaling efficiency | all-reduce share "
            "| all-reduce per step | peak memory per rank (max) | accuracy |",
            "|---|---|---|---|---|---|---|---|",
            *(_scaling_row(b) for b in group),
            "",
            *(f"{s}\n" for s in _scaling_statements(group)),
        ]
    return "\n".join(lines)
