"""The data-parallel technique's variants: how DDP all-reduces the gradients.

Each `Variant` changes one thing against plain DDP (the reference); its
`description` says what that should change. No torch needed: the report reads
these names from saved runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from visionbench.measure import techniques

TECHNIQUE = techniques.DATA_PARALLEL.name
HOOKS = ("allreduce", "bf16", "fp16")  # DDP communication hooks a variant may use
REFERENCE = techniques.DATA_PARALLEL.reference


@dataclass(frozen=True)
class Variant:
    """One data-parallel configuration; `description` says what it should change."""

    name: str
    hook: str = "allreduce"  # which default_hooks hook all-reduces the buckets
    bucket_cap_mb: float | None = None  # None: DDP's default (25 MB)
    accumulation: int = 1  # micro-batches per synchronised step (no_sync on all but the last)
    description: str = ""

    def __post_init__(self) -> None:
        if self.hook not in HOOKS:
            raise ValueError(f"Variant.hook={self.hook!r}; choose one of {HOOKS}")
        if self.accumulation < 1:
            raise ValueError(f"Variant.accumulation must be at least 1, got {self.accumulation}")


def variants(bucket_caps_mb: tuple[float, float], accumulation: int) -> list[Variant]:
    """The technique's variants, the reference (plain DDP) first."""
    small, large = sorted(bucket_caps_mb)
    return [
        Variant(
            REFERENCE,
            description="DDP as it comes: fp32 gradients all-reduced in 25 MB buckets, "
            "overlapped with the backward pass",
        ),
        Variant(
            "bf16_compress",
            hook="bf16",
            description="gradients cast to bf16 for the all-reduce: half the bytes; the "
            "step's result differs by bf16 rounding of the averaged gradient",
        ),
        Variant(
            "fp16_compress",
            hook="fp16",
            description="the same with fp16: half the bytes, more mantissa, less range",
        ),
        Variant(
            f"bucket_{_mb(small)}mb",
            bucket_cap_mb=small,
            description="smaller buckets: more, smaller all-reduces that start earlier in "
            "the backward pass (more overlap, more launch cost); same result",
        ),
        Variant(
            f"bucket_{_mb(large)}mb",
            bucket_cap_mb=large,
            description="larger buckets: fewer all-reduces that start later (less "
            "overlap, less launch cost); same result",
        ),
        Variant(
            f"no_sync_x{accumulation}",
            accumulation=accumulation,
            description=f"gradient accumulation over {accumulation} micro-batches of the "
            "per-rank batch, all-reducing only on the last (no_sync): the same bytes per "
            f"step for {accumulation}x the samples",
        ),
    ]


def _mb(value: float) -> str:
    return f"{value:g}".replace(".", "p")
