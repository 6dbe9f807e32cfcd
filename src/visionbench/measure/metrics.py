"""The metric schema: every figure visionbench records, defined once.

A benchmark's timing samples come from pytest-benchmark (`time`, seconds per
timed unit). Every other figure goes into `benchmark.extra_info` under a name
defined here, with its unit and the direction in which it gets better. The
benches write through `record()`, which validates; the gate and the report
read `METRICS` to know how to compare and how to print.

`kind` tells the gate which tolerance applies:
  time      durations (the `time` samples are tested statistically; scalar
            durations such as train_time_s are single observations)
  memory    bytes, gated with a relative and an absolute tolerance
  accuracy  fractions in [0, 1], gated against tolerance and seed noise
  energy    joules and watts, NVML, present only on CUDA
  info      descriptive: counts, spreads, shares; shown, never gated
  flag      booleans where True is bad (`diverged`)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

#: Units the code reads (validation, the figures' formatting, the report's words), each
#: once; a unit only one metric has is written in its entry below.
SECONDS = "s"
BYTES = "B"
FRACTION = "fraction"  # in [0, 1]
COUNT = "count"
EPOCHS = "epochs"
JOULES = "J"
WATTS = "W"
RATIO = "ratio"
BOOLEAN = "bool"
NON_NEGATIVE = (BYTES, COUNT, SECONDS, JOULES, WATTS)  # a negative value is a bug

#: What one timed round is (`extra_info["unit"]`), each once. A bench's pytest-benchmark
#: group is `technique:unit` where its technique times one unit per group.
TRAIN_STEP = "train_step"  # one optimiser step on one batch
INFER_BATCH = "infer_batch"  # one inference batch (a policy's: features, premodel, models)
TRAIN_EPOCH = "train_epoch"  # one training epoch, data delivery included
EPOCH = "epoch"  # one epoch of a data path delivered to the device, no training
AUGMENTED_EPOCH = "augmented_epoch"  # the same, augmented on the way
TO_TARGET = "to_target"  # a seed's training up to the profile's target accuracy
EXPLAIN_BATCH = "explain_batch"  # one Grad-CAM batch: a forward and a backward pass
NOOP = "noop"  # a call that does nothing: what timing it reports is the timer's own cost
UNITS = (TRAIN_STEP, INFER_BATCH, TRAIN_EPOCH, EPOCH, AUGMENTED_EPOCH, TO_TARGET, EXPLAIN_BATCH,
         NOOP)  # fmt: skip

Better = Literal["lower", "higher", "none"]
Kind = Literal["time", "throughput", "memory", "accuracy", "energy", "info", "flag"]


@dataclass(frozen=True)
class Metric:
    name: str
    unit: str
    better: Better
    kind: Kind
    description: str


def _m(name: str, unit: str, better: Better, kind: Kind, description: str) -> Metric:
    return Metric(name, unit, better, kind, description)


#: All metrics, by name. The one place where names, units and directions live.
METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        _m(
            "time",
            SECONDS,
            "lower",
            "time",
            "pytest-benchmark's samples: seconds per timed unit (a training step, an "
            "inference batch, a data epoch, a seed's training up to the target accuracy), "
            "device-synchronised",
        ),
        _m(
            "samples_per_s",
            "samples/s",
            "higher",
            "throughput",
            "images processed per second by the timed unit, from its median time",
        ),
        _m(
            "peak_mem_bytes",
            BYTES,
            "lower",
            "memory",
            "peak memory of the variant's own tensors during one unit: model, gradients, "
            "optimiser state, inputs and activations, whatever else is in memory (CUDA: the "
            "allocator's peak above what was allocated before the unit, plus those tensors; "
            "CPU: live torch storages)",
        ),
        _m(
            "run_peak_mem_bytes",
            BYTES,
            "lower",
            "memory",
            "peak memory of the training run behind `accuracy`: model, gradients, optimiser "
            "state, the data it holds, its steps and evaluations (CUDA: the allocator's peak "
            "over the run above what was allocated before it; CPU: live torch storages over a "
            "replay of the run cut to two steps and the first batch of each evaluation, which "
            "allocate as every later one does); the largest over seeds",
        ),
        _m(
            "model_bytes",
            BYTES,
            "lower",
            "info",
            "bytes of the model's parameters and buffers",
        ),
        _m("params", COUNT, "lower", "info", "trainable and frozen parameters"),
        _m(
            "flops",
            "FLOP/sample",
            "lower",
            "info",
            "forward-pass floating-point operations per image (torch.utils.flop_counter)",
        ),
        _m(
            "accuracy",
            FRACTION,
            "higher",
            "accuracy",
            "test-split accuracy after the profile's training budget (mean over seeds)",
        ),
        _m(
            "train_accuracy",
            FRACTION,
            "higher",
            "accuracy",
            "accuracy on the training images after the same budget (mean over seeds): a "
            "fixed sample of the training split as large as the test split, no augmentation; "
            "far above `accuracy` is overfitting",
        ),
        _m(
            "train_accuracy_std",
            FRACTION,
            "lower",
            "info",
            "standard deviation of train_accuracy across seeds (0 with one seed)",
        ),
        _m(
            "accuracy_in_budget",
            FRACTION,
            "higher",
            "accuracy",
            "test accuracy after the last epoch that ended within `time_budget_s` seconds of "
            "training (mean over seeds; 0 for a seed whose first epoch overran it)",
        ),
        _m(
            "accuracy_in_budget_per_seed",
            FRACTION,
            "none",
            "info",
            "accuracy_in_budget of each seed in seed order (a list)",
        ),
        _m(
            "gradcam",
            "map",
            "none",
            "info",
            "Grad-CAM of a fixed, seeded set of test images: a mapping with `images` and `maps` "
            "(per image, rows of 0..255 values at the input's size), `labels` and `predicted`",
        ),
        _m(
            "curves",
            "per epoch",
            "none",
            "info",
            "the training runs behind the figures, epoch by epoch: a mapping with `loss` (mean "
            "training loss), `accuracy` (test) and `train_time_s` (training seconds so far), "
            "each one list per seed with one value per epoch, and `lr` (seed 0's learning "
            "rate at the start of each quarter of every epoch's steps: one list per epoch)",
        ),
        _m(
            "augmented_examples",
            "levels",
            "none",
            "info",
            "a fixed, seeded set of training images under the bench's augmentation: a mapping "
            "with `columns` (`original`, each augmentation alone, `all`) and `images` (one row "
            "per image, one C x H x W image of 0..255 levels per column)",
        ),
        _m(
            "accuracy_std",
            FRACTION,
            "lower",
            "info",
            "standard deviation of accuracy across seeds (0 with one seed)",
        ),
        _m("seeds", COUNT, "none", "info", "number of seeds the accuracy figures cover"),
        _m(
            "train_time_s",
            SECONDS,
            "lower",
            "time",
            "wall time of the training run that produced `accuracy` (one observation)",
        ),
        _m(
            "time_to_target_s",
            SECONDS,
            "lower",
            "time",
            "training seconds until test accuracy first reached the profile's target "
            "(mean over seeds that reached it)",
        ),
        _m(
            "epochs_to_target",
            EPOCHS,
            "lower",
            "info",
            "epochs until test accuracy first reached the profile's target (mean over "
            "seeds that reached it)",
        ),
        _m(
            "epochs_to_target_std",
            EPOCHS,
            "lower",
            "info",
            "spread of epochs_to_target across seeds",
        ),
        _m(
            "epochs_to_target_per_seed",
            EPOCHS,
            "none",
            "info",
            "epochs_to_target of each seed in seed order, null where a seed never reached "
            "the target (a list; the same seed index is the same init and data order in "
            "every variant, so variants compare seed by seed)",
        ),
        _m(
            "time_to_target_s_per_seed",
            SECONDS,
            "none",
            "info",
            "time_to_target_s of each seed in seed order, null where never reached (a list)",
        ),
        _m(
            "target_reached",
            FRACTION,
            "higher",
            "info",
            "share of seeds that reached the target accuracy within the budget",
        ),
        _m(
            "energy_j",
            JOULES,
            "lower",
            "energy",
            "GPU energy per timed unit (NVML total-energy counter)",
        ),
        _m("power_w", WATTS, "lower", "energy", "mean GPU board power during the timed rounds"),
        _m("diverged", BOOLEAN, "lower", "flag", "the loss became NaN or infinite"),
        _m(
            "prep_time_s",
            SECONDS,
            "lower",
            "info",
            "one-off preparation cost of a data path (building a cache, writing files)",
        ),
        _m(
            "load_time_s",
            SECONDS,
            "lower",
            "info",
            "cost a data path pays at the start of every run (loading a cache, copying a "
            "dataset to the device, scanning a folder), apart from its one-off prep_time_s",
        ),
        _m("cache_disk_bytes", BYTES, "lower", "info", "size of a data path's files on disk"),
        _m("cache_mem_bytes", BYTES, "lower", "info", "size of a data path's tensors in memory"),
        _m(
            "h2d_bytes",
            "B",
            "lower",
            "info",
            "bytes copied from host to device memory in one epoch, counted from the copies "
            "made (absent on the CPU, where nothing is copied)",
        ),
        _m(
            "compile_time_s",
            SECONDS,
            "lower",
            "info",
            "one-off torch.compile time, kept apart from the steady-state step",
        ),
        _m(
            "cudnn_search_s",
            SECONDS,
            "lower",
            "info",
            "one-off time of cuDNN's algorithm search under cudnn.benchmark (the first step "
            "at the timed shapes in a fresh process, minus a steady step), kept apart from "
            "the steady-state step",
        ),
        _m("epochs_run", EPOCHS, "lower", "info", "epochs trained (early stopping)"),
        _m(
            "latency_per_image_s",
            "s/image",
            "lower",
            "time",
            "mean inference latency per image, including features and premodel",
        ),
        _m(
            "route_share",
            FRACTION,
            "none",
            "info",
            "share of images routed to each model (a mapping model -> fraction)",
        ),
        _m(
            "ratio_vs_ref",
            RATIO,
            "lower",
            "info",
            "time of the variant's unit over its reference's, timed round by round in "
            "one process (random, balanced order): exp of the Hodges-Lehmann estimate "
            "of the pairs' log-ratios",
        ),
        _m(
            "ratio_ci_low",
            RATIO,
            "lower",
            "info",
            "lower end of ratio_vs_ref's 95% interval: Wilcoxon signed-rank (distribution-free) "
            "over the pairs, widened where ratio_between_sd is recorded by the between-process "
            "shift pooled over the run's ratios (what another run of the commit would see)",
        ),
        _m("ratio_ci_high", RATIO, "lower", "info", "upper end of ratio_vs_ref's 95% interval"),
        _m(
            "paired_rounds",
            COUNT,
            "none",
            "info",
            "pairs behind ratio_vs_ref; 0: timed in separate blocks (variant and reference "
            "did not fit on the device at once, or the profile's budget has too few rounds "
            "for pairs), and the report's ratio is of medians",
        ),
        _m(
            "ratio_log_per_process",
            "log ratio",
            "none",
            "info",
            "log(variant / reference) of each pair, one list per process the ratio was timed "
            "in (the bench's own first; its pids in ratio_pids)",
        ),
        _m(
            "ratio_between_sd",
            "log ratio",
            "none",
            "info",
            "sd of one process's shift of log(ratio_vs_ref), pooled over the run's ratios "
            "timed in two processes or more (one-way random effects), added to the interval",
        ),
        _m(
            "ratio_between_df",
            COUNT,
            "none",
            "info",
            "degrees of freedom of ratio_between_sd (Satterthwaite)",
        ),
        _m(
            "overhead_s",
            SECONDS,
            "lower",
            "info",
            "the harness bench: a timing method's cost per round, its median round of a "
            "call that does nothing less that call's own cost (torch Timer, over "
            "`timer_number` calls)",
        ),
        _m(
            "overhead_share",
            FRACTION,
            "lower",
            "info",
            "the harness bench: overhead_s over the small CNN's training step (torch Timer's "
            "median)",
        ),
        _m(
            "timer_number",
            COUNT,
            "none",
            "info",
            "the harness bench: calls of the unit per torch.utils.benchmark.Timer measurement",
        ),
        _m(
            "scaling_efficiency",
            RATIO,
            "higher",
            "info",
            "data parallel: global samples_per_s at this world size over world_size x the "
            "same variant's samples_per_s at world size 1 (1.0: perfect weak scaling)",
        ),
        _m(
            "allreduce_bytes",
            BYTES,
            "lower",
            "info",
            "data parallel: bytes handed to all-reduce per step on one rank, counted by a "
            "communication hook at the collective (a compressed bucket at its compressed size)",
        ),
        _m(
            "allreduce_calls",
            COUNT,
            "none",
            "info",
            "data parallel: all-reduces issued per step on one rank (one per gradient bucket)",
        ),
        _m(
            "allreduce_time_s",
            SECONDS,
            "lower",
            "info",
            "data parallel: seconds per step on rank 0 with an all-reduce in flight, from "
            "its launch to its completion, overlapped with the backward pass or not (median)",
        ),
        _m(
            "allreduce_share",
            FRACTION,
            "lower",
            "info",
            "data parallel: allreduce_time_s over the step time (median over rounds): an "
            "upper bound on what communication costs, since part of it overlaps compute",
        ),
        _m(
            "peak_mem_bytes_per_rank",
            BYTES,
            "lower",
            "info",
            "data parallel: peak_mem_bytes of each rank in rank order (a list; "
            "peak_mem_bytes is the largest)",
        ),
        _m(
            "eval_images",
            COUNT,
            "none",
            "info",
            "test images behind `accuracy` (its binomial noise: sqrt(p(1-p)/n))",
        ),
        _m(
            "accuracy_outcomes",
            "bits (hex)",
            "none",
            "info",
            "which test images `accuracy` got right: per seed (a list, seed order) the "
            "outcome on each of the `eval_images` images of `eval_set` in stored order, one "
            "bit each, packed (numpy packbits, the first image the high bit) as hex; two "
            "accuracies on the same `eval_set` are compared paired over images",
        ),
    )
}

#: Descriptive keys a bench also stores in extra_info so that every figure is
#: self-describing (which variant, which data, which settings).
CONFIG_KEYS: dict[str, type | tuple[type, ...]] = {
    "technique": str,  # the benchmark group, e.g. "model_size"
    "variant": str,  # this variant's name within its technique
    "reference": str,  # the technique's reference variant
    "unit": str,  # what one timed round is: one of UNITS
    "model": str,  # the model's registry name (or --vb-model's NAME)
    "model_shapes": str,  # hash of its parameter shapes: another network under one name differs
    "model_source": str,  # a --vb-model model's MODULE:FACTORY (absent for the registry's own)
    "dataset": str,
    "device": str,
    "image_size": int,
    "stem_size": int,  # the input side the model's stem is built for, where it is not
    #   image_size: a resolution sweep's largest size, so that every size is one network
    "batch_size": int,
    "amp": str,  # the autocast precision the model trained and ran in ("bf16", "fp16");
    #   absent: fp32
    "profile": str,
    "error": str,  # a variant that failed records why, and no figures
    "epochs": int,  # the training budget in epochs behind the accuracy figures
    "eval_set": str,  # which test images `accuracy` was scored on: a digest of their labels
    #   in order (two figures on the same eval_set pair their accuracy_outcomes)
    "classes": int,  # classes of the dataset: guessing scores 1/classes
    "target_accuracy": float,  # the test accuracy that time_to_target_s counts to
    "world_size": int,  # data parallel: ranks (processes) training together
    "backend": str,  # data parallel: torch.distributed backend ("gloo", "nccl")
    "nodes": int,  # data parallel: machines the ranks ran on
    "global_batch": int,  # data parallel: images per timed step over all ranks
    "comm_hook": str,  # data parallel: the DDP communication hook ("allreduce", "bf16", ...)
    "bucket_cap_mb": (int, float),  # data parallel: DDP's bucket size cap
    "accumulation": int,  # data parallel: micro-batches per synchronised step (no_sync)
    "train_steps": int,  # data parallel: optimiser steps the accuracy run took
    "time_budget_s": float,  # the training seconds that accuracy_in_budget is read at
    "max_time_s": float,  # the cap in training seconds of a seed trained to the target
    "rung": int,  # a recipe ladder's step, 0 the baseline: each adds one switch
    "switch": str,  # what a rung changes from the one before (or from its reference)
    "left_out": str,  # a ladder's rungs this device or profile cannot run, with the reasons
    "ratio_pids": list,  # the processes a paired ratio was timed in (ratio_log_per_process)
}


class SchemaError(ValueError):
    """A figure that does not fit the metric schema."""


def _check_number(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SchemaError(f"metric {name!r} must be a number, got {value!r}")
    if math.isnan(value):
        raise SchemaError(f"metric {name!r} is NaN; record diverged=True instead")


def validate(extra_info: Mapping[str, Any]) -> None:
    """Raise SchemaError naming the first key or value that breaks the schema."""
    for name, value in extra_info.items():
        if name in CONFIG_KEYS:
            if not isinstance(value, CONFIG_KEYS[name]) or isinstance(value, bool):
                raise SchemaError(f"{name!r} must be {CONFIG_KEYS[name]}, got {value!r}")
            if name == "unit" and value not in UNITS:
                raise SchemaError(f"unknown unit {value!r}; known: {', '.join(UNITS)}")
            continue
        metric = METRICS.get(name)
        if metric is None:
            known = ", ".join(sorted([*METRICS, *CONFIG_KEYS]))
            raise SchemaError(f"unknown metric {name!r}; known names: {known}")
        if value is None:
            continue  # measured as absent (e.g. energy without NVML, a target never reached)
        if metric.kind == "flag":
            if not isinstance(value, bool):
                raise SchemaError(f"metric {name!r} must be true or false, got {value!r}")
        elif name.endswith(("_per_seed", "_per_rank")):
            if not isinstance(value, list):
                what = "seed" if name.endswith("_per_seed") else "rank"
                raise SchemaError(f"metric {name!r} must be a list (one per {what}), got {value!r}")
            for item in value:
                if item is not None:
                    _check_number(name, item)
        elif name == "gradcam":
            _check_gradcam(value)
        elif name == "ratio_log_per_process":
            if not isinstance(value, list) or not all(_numbers(v) and None not in v for v in value):
                raise SchemaError(f"metric {name!r} must be lists of numbers, got {value!r}")
        elif name == "curves":
            _check_curves(value)
        elif name == "augmented_examples":
            _check_examples(value)
        elif name == "accuracy_outcomes":
            _check_outcomes(value)
        elif name == "route_share":
            if not isinstance(value, Mapping):
                raise SchemaError(f"metric 'route_share' must be a mapping, got {value!r}")
            for share in value.values():
                _check_number(name, share)
        else:
            _check_number(name, value)
            if metric.unit == FRACTION and not 0.0 <= value <= 1.0:
                raise SchemaError(f"metric {name!r} is a fraction, got {value!r}")
            if metric.unit in NON_NEGATIVE and value < 0:
                raise SchemaError(f"metric {name!r} cannot be negative, got {value!r}")


def _check_outcomes(value: Any) -> None:
    """One hex string per seed, all of one length."""
    ok = isinstance(value, list) and value and all(isinstance(v, str) for v in value)
    try:
        ok = ok and all(bytes.fromhex(v) is not None for v in value)
    except ValueError:
        ok = False
    if not ok or len({len(v) for v in value}) != 1:
        raise SchemaError(
            f"metric 'accuracy_outcomes' must be a list of hex strings of one length (one "
            f"per seed), got {str(value)[:80]!r}"
        )


def _check_gradcam(value: Any) -> None:
    """images and maps: one list of rows of 0..255 integers per image, alike in shape."""
    if not isinstance(value, Mapping) or not {"images", "maps"} <= set(value):
        raise SchemaError(f"metric 'gradcam' must be a mapping with images and maps, got {value!r}")
    images, maps = value["images"], value["maps"]
    if not isinstance(images, list) or not isinstance(maps, list) or len(images) != len(maps):
        raise SchemaError("metric 'gradcam': images and maps must be lists of the same length")
    for grid in (*images, *maps):
        if not isinstance(grid, list) or not all(
            isinstance(row, list) and all(isinstance(v, int) and 0 <= v <= 255 for v in row)
            for row in grid
        ):
            raise SchemaError("metric 'gradcam': every image and map is rows of ints 0..255")


def _numbers(value: Any) -> bool:
    """A list of finite numbers, None where there was none (an infinite mean loss)."""
    return isinstance(value, list) and all(
        v is None or (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v))
        for v in value
    )


def _check_curves(value: Any) -> None:
    """loss, accuracy and train_time_s: lists (one per seed) of numbers, alike in shape;
    lr: lists (one per epoch) of numbers."""
    keys = {"loss", "accuracy", "train_time_s", "lr"}
    if not isinstance(value, Mapping) or set(value) != keys:
        raise SchemaError(f"metric 'curves' must be a mapping with {sorted(keys)}, got {value!r}")
    for key in keys:
        if not isinstance(value[key], list) or not all(_numbers(v) for v in value[key]):
            raise SchemaError(f"metric 'curves': {key} must be lists of numbers (or null)")
    shapes = {key: [len(v) for v in value[key]] for key in ("loss", "accuracy", "train_time_s")}
    if len(set(map(tuple, shapes.values()))) != 1:
        raise SchemaError(f"metric 'curves': loss, accuracy and train_time_s differ: {shapes}")


def _image(value: Any) -> bool:
    """C x H x W nested lists of ints 0..255."""
    return isinstance(value, list) and all(
        isinstance(plane, list)
        and all(
            isinstance(row, list) and all(isinstance(v, int) and 0 <= v <= 255 for v in row)
            for row in plane
        )
        for plane in value
    )


def _check_examples(value: Any) -> None:
    """columns: names; images: one row per image, one image per column."""
    if not isinstance(value, Mapping) or set(value) != {"columns", "images"}:
        raise SchemaError("metric 'augmented_examples' must be a mapping of columns and images")
    columns, images = value["columns"], value["images"]
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise SchemaError("metric 'augmented_examples': columns must be a list of names")
    if not isinstance(images, list) or not all(
        isinstance(row, list) and len(row) == len(columns) and all(_image(i) for i in row)
        for row in images
    ):
        raise SchemaError(
            "metric 'augmented_examples': images must be rows of one C x H x W image of "
            "ints 0..255 per column"
        )


def record(benchmark: Any, **figures: Any) -> None:
    """Validate figures and store them in `benchmark.extra_info`."""
    validate(figures)
    benchmark.extra_info.update(figures)
