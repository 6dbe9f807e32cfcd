"""The data-loading technique timed: each data path of `visionbench.techniques.data_loading.paths`
(prepared once per session) delivering epochs to the device, and a model
trained from disk and from the cache.

  measure_epoch     one epoch delivered to the device a round (plain or
                    augmented), paired with the reference path's epochs where
                    the profile's budget allows; throughput, one-off costs,
                    peak memory, host-to-device bytes
  measure_training  the budget's model trained for train_epochs from the
                    path's plain feed, one timed round an epoch; accuracy
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import torch

from visionbench import models
from visionbench.data.imageset import ImageSet
from visionbench.data.loaders import Feed
from visionbench.measure import metrics, techniques
from visionbench.measure.figures import pack_outcomes
from visionbench.measure.meters import peak_memory
from visionbench.measure.runner import Runner, Timing, Variant
from visionbench.techniques.data_loading.paths import DISK, REFERENCE, Cost, Prepared
from visionbench.training.train import Trainer, evaluation_batches, fit, outcomes, planned_steps
from visionbench.training.workloads import scored_on

TECHNIQUE = techniques.DATA_LOADING.name


def run_epoch(feed: Feed, epoch: int) -> int:
    """Deliver one epoch to the device; the number of samples delivered."""
    count = 0
    for _, y in feed(epoch):
        count += len(y)
    return count


def _describe(
    runner: Runner, prepared: Prepared, variant: str, unit: str, batch: int
) -> dict[str, Any]:
    return runner.describe(
        Variant(TECHNIQUE, variant, REFERENCE),
        unit,
        dataset=prepared.data.name,
        classes=prepared.data.num_classes,
        image_size=prepared.size,
        batch_size=batch,
    )


def _cost_figures(cost: Cost, feed: Feed) -> dict[str, Any]:
    """One-off costs, and the bytes the last epoch copied to the device (counted;
    absent on the CPU, where nothing is copied)."""
    return {
        "prep_time_s": cost.prep_time_s,
        "load_time_s": cost.load_time_s,
        "cache_disk_bytes": cost.disk_bytes,
        "cache_mem_bytes": cost.mem_bytes,
        "h2d_bytes": feed.h2d_bytes(),
    }


def measure_epoch(
    benchmark: Any, runner: Runner, prepared: Prepared, variant: str, *, augmented: bool
) -> None:
    """Time one epoch of the variant delivered to the device (synchronised), a new
    epoch each round; record throughput, costs and peak memory.

    Peak memory is measured on an untimed warm-up epoch. On the CPU a disk path
    with worker processes records none: its decoding allocates in the workers,
    which the count of this process's tensors cannot see, and a figure without
    them would make more workers look cheaper.
    """
    budget = runner.profile.data_path
    batch = runner.profile.train.batch_size
    feed, cost = prepared.feed(variant, runner.device, batch, augmented=augmented)
    disk = DISK.match(variant)
    workers = disk is not None and int(disk.group(2)) > 0
    unseen_workers = runner.device.type == "cpu" and workers
    opened = [feed]

    def build_reference() -> Callable[[], int]:
        """The reference path's epochs, a new one each call (paired rounds)."""
        reference, _ = prepared.feed(REFERENCE, runner.device, batch, augmented=augmented)
        opened.append(reference)
        ref_epochs = itertools.count(1)
        return lambda: run_epoch(reference, next(ref_epochs))

    try:
        # With worker processes, a first epoch outside the memory counter starts
        # them (forked inside it, they would keep its per-op overhead); the next
        # measures the peak. Both are untimed and count as warm-up.
        if workers:
            run_epoch(feed, 0)
        peak = None
        if not unseen_workers:
            peak = peak_memory(lambda: run_epoch(feed, 0), runner.device, resident=feed.held())
        epochs = itertools.count(1)

        def epoch() -> None:
            delivered = run_epoch(feed, next(epochs))
            if delivered != feed.n:
                raise RuntimeError(f"{variant} delivered {delivered} of {feed.n} samples")

        timing = Timing(budget.timing.rounds, max(0, budget.timing.warmup_rounds - 1))
        if variant == REFERENCE:
            figures = runner.time(benchmark, epoch, feed.n, timing)
        elif budget.paired:
            figures = runner.time_paired(benchmark, epoch, feed.n, build_reference, timing)
        else:  # blocks, by the profile's choice
            figures = {**runner.time(benchmark, epoch, feed.n, timing), "paired_rounds": 0}
    finally:
        for each in opened:
            each.close()
    unit = metrics.AUGMENTED_EPOCH if augmented else metrics.EPOCH
    runner.record(
        benchmark,
        _describe(runner, prepared, variant, unit, batch),
        **figures,
        **_cost_figures(cost, feed),
        peak_mem_bytes=peak,
    )


def measure_training(benchmark: Any, runner: Runner, prepared: Prepared, variant: str) -> float:
    """Train the budget's model for train_epochs from the variant's plain feed,
    through `fit`, one timed round per epoch; record time per epoch (the rounds),
    the total (train_time_s) and the test accuracy. Returns the accuracy."""
    budget = runner.profile.data_path
    cfg = runner.profile.train.with_(epochs=budget.train_epochs)
    feed, cost = prepared.feed(variant, runner.device, cfg.batch_size, augmented=False)
    torch.manual_seed(cfg.seed)
    model = models.build(
        budget.model,
        num_classes=prepared.data.num_classes,
        in_channels=prepared.channels,
        image_size=prepared.size,
    )
    # fit runs one epoch per call; the schedule spans all of them.
    trainer = Trainer(model, cfg.with_(epochs=1), runner.device, planned_steps(cfg, feed.n))
    results = []
    epochs = itertools.count()
    try:

        def one_epoch() -> None:
            e = next(epochs)
            results.append(fit(trainer, lambda _: feed(e), ()))

        figures = runner.time(
            benchmark, one_epoch, units=feed.n, timing=Timing(budget.train_epochs, 0)
        )
    finally:
        feed.close()
    test = prepared.test_cache
    test_set = ImageSet(prepared.data.name, test.images, test.labels, test.classes)
    hits = outcomes(
        trainer,
        evaluation_batches(test_set, cfg, runner.device, prepared.mean, prepared.std),
    )
    accuracy = int(hits.sum()) / max(len(hits), 1)
    eval_images, eval_set = scored_on(test_set, cfg)
    runner.record(
        benchmark,
        _describe(runner, prepared, variant, metrics.TRAIN_EPOCH, cfg.batch_size),
        model=budget.model,
        **models.identity(budget.model, model),
        **figures,
        **_cost_figures(cost, feed),
        accuracy=accuracy,
        eval_images=eval_images,
        eval_set=eval_set,
        accuracy_outcomes=[pack_outcomes(hits.numpy())],
        train_time_s=sum(r.train_time_s for r in results),
        epochs_run=len(results),
        diverged=any(r.diverged for r in results),
    )
    return accuracy
