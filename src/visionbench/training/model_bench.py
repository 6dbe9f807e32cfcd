"""The model benches' context: train a workload once, then time its training step,
an inference batch or its time to a target accuracy, and record each with the
figures of its trainings.

`ModelBench` is the `runner.Runner` of every bench that trains a model (model size,
resolution, precision, memory format, compile, grad zeroing, schedules, Grad-CAM,
selection, the talk's pipeline, data parallelism): profile, device, dataset and
the session's trained-model cache (`workloads.TrainedModels`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn as nn

from visionbench import models
from visionbench.data import SplitData
from visionbench.measure import metrics
from visionbench.measure.meters import (
    allocator_peak_memory,
    count_flops,
    count_params,
    graph_pool_ids,
    model_bytes,
    new_graph_pools,
    peak_memory,
    time_once,
)
from visionbench.measure.runner import Runner, Timing, Variant, time_rounds, timing_only
from visionbench.profiles import Profile
from visionbench.training import elsewhere, workloads
from visionbench.training.train import FitResult, Trainer, cuda_graphs
from visionbench.training.workloads import (
    SeedRun,
    Trained,
    TrainedModels,
    Workload,
    batches,
    scored_on,
)


def upsampling_reason(data: SplitData, largest: int) -> str | None:
    """Why a resolution sweep up to `largest` px cannot run on `data` (a skip reason):
    images smaller than the sweep's largest size would be upsampled, and the sweep
    would measure interpolation, not resolution. None when the data is large enough."""
    if data.size < largest:
        return (
            f"{data.name} images are {data.size} px, below the sweep's largest size "
            f"{largest} px: the sweep would measure upsampled images, not resolution "
            "(use data at least that large, e.g. gradations or your own images)"
        )
    return None


#: Calls of a step compiled to CUDA graphs, after its first, before its peak memory is
#: taken: torch.compile's CUDA-graph trees run a function once to warm up, record it on
#: the next call and replay it from then on (a call that still records is caught:
#: `meters.peak_memory` then leaves the figure out).
GRAPH_RECORDING_CALLS = 2


class ModelBench(Runner):
    """The context a model bench runs in: profile, device, dataset and the model cache."""

    def __init__(
        self,
        profile: Profile,
        device: torch.device,
        data: SplitData,
        trained: TrainedModels,
        seeds: int | None = None,
    ) -> None:
        super().__init__(profile, device)
        self.data = data
        self.trained = trained
        self.requested_seeds = seeds  # --vb-seeds, None when not given
        self.seeds = seeds or profile.seeds

    def seeds_or(self, default: int) -> int:
        """--vb-seeds when given, else a bench's own default (e.g. its budget's)."""
        return self.requested_seeds or default

    def workload(self, model: str, image_size: int | None = None, **changes: Any) -> Workload:
        """The profile's recipe with `changes` (a technique's switch) applied."""
        stem_size = changes.pop("stem_size", None)
        size = image_size or self.profile.model_size.image_size
        stem = models.stem_for(model, size, stem_size)  # None where it changes nothing
        return Workload(model, size, self.profile.train.with_(**changes), stem)

    def describe_workload(
        self, variant: Variant, workload: Workload, unit: str, batch: int
    ) -> dict[str, Any]:
        return self.describe(
            variant,
            unit,
            model=workload.model,
            dataset=self.data.name,
            classes=self.data.num_classes,
            image_size=workload.image_size,
            batch_size=batch,
            epochs=workload.train.epochs,
            **({"stem_size": workload.stem_size} if workload.stem_size else {}),
            **({"amp": workload.train.amp} if workload.train.amp else {}),
        )

    def _model_figures(self, name: str, model: nn.Module, sample: torch.Tensor) -> dict[str, Any]:
        """Size and cost of the network, and what tells it from another under `name`."""
        return {
            **models.identity(name, model),
            "params": count_params(model),
            "model_bytes": model_bytes(model),
            "flops": count_flops(model, sample[:8]),
        }

    def train_step(
        self,
        benchmark: Any,
        variant: Variant,
        workload: Workload,
        *,
        allocator_memory: bool = False,
        reference: Workload | None = None,
    ) -> Trained | None:
        """Time one training step of `workload`; record it with the accuracy that
        the profile's training budget reaches (trained once, cached).

        `allocator_memory` counts the CPU peak at the allocator
        (`measure.allocator_peak_memory`), which sees compiled kernels; use it for
        every variant of a group or for none. A compiled workload's first step is
        timed apart (`compile_time_s`, a compile from scratch) before anything
        else of the session reuses it. A mode that replays CUDA graphs has its
        graphs recorded before its peak memory is taken, and their memory pool
        counted in it (`meters.peak_memory`), before its training records graphs of
        its own into the same pool. `reference`, the technique's reference
        workload, has its step timed round by round with this one (`time`).
        With `timing_only()` nothing is trained and only the step is timed (None).
        """
        cfg = workload.train
        step, trainer, x, y = self._step_unit(workload)
        graphs = cuda_graphs(cfg.compile, self.device)
        pools_before = graph_pool_ids(self.device) if graphs else set()
        # the first step allocates gradients and optimiser state, and compiles
        first_step_s = self._first_step(step, compiled=cfg.compile is not None)
        if timing_only():
            described = self.describe_workload(variant, workload, metrics.TRAIN_STEP, x.shape[0])
            self.record(benchmark, described, **self.time(benchmark, step, x.shape[0]))
            return None
        pools = None
        if graphs:
            for _ in range(GRAPH_RECORDING_CALLS):
                time_once(step, self.device)
            pools = new_graph_pools(pools_before, self.device)
        measure_peak = allocator_peak_memory if allocator_memory else peak_memory
        resident = [trainer.model, trainer.optimizer, x, y]
        peak = measure_peak(step, self.device, resident=resident, graph_pools=pools)
        trained = self.trained.get(workload, self.data, self.device, self.seeds)
        build_reference = None
        if reference is not None and reference != workload:
            build_reference = lambda: self._step_unit(reference)[0]  # noqa: E731
        units = self._elsewhere(workload, reference, train=True)
        figures = self.time_paired(benchmark, step, x.shape[0], build_reference, elsewhere=units)
        if cfg.compile is not None:
            stats = getattr(getattr(benchmark, "stats", None), "stats", None)
            steady = stats.median if stats is not None else 0.0
            figures["compile_time_s"] = max(0.0, first_step_s - steady)
        self.record(
            benchmark,
            self.describe_workload(variant, workload, metrics.TRAIN_STEP, x.shape[0]),
            **figures,
            peak_mem_bytes=peak,
            **self._model_figures(workload.model, trainer.model, x),
            **trained.figures(self.step_target(), curves=True),
        )
        return trained

    def step_target(self) -> float | None:
        """The accuracy a training step's trainings are timed to (`time_to_target_s` and
        the rest, read from their per-epoch history): the profile's target where it says
        `step_to_target`, else None (the step ratio alone)."""
        return self.profile.target_accuracy if self.profile.step_to_target else None

    def _step_unit(self, workload: Workload) -> tuple[Callable[[], None], Trainer, Any, Any]:
        """One training step of a fresh model of `workload` on its first batch."""
        data = self.data.at(workload.image_size)
        cfg = workload.train
        trainer = Trainer(
            workloads.build_model(workload, data, cfg.seed), cfg, self.device, total_steps=10**9
        )
        x, y = next(batches(data, cfg, self.device, train=True).epoch(0))
        x, y = trainer.prepare(x), y.to(self.device)

        def step() -> None:
            trainer.step(x, y)

        return step, trainer, x, y

    def _elsewhere(
        self, workload: Workload, reference: Workload | None, *, train: bool
    ) -> elsewhere.Units | None:
        """Both units as recipes for the ratio's other processes (`measure.workers`):
        None when the profile times a ratio in one process, there is no reference, or
        either side is compiled (a worker would compile it from scratch)."""
        if self.timing.processes < 2 or reference is None or reference == workload:
            return None
        if workload.train.compile is not None or reference.train.compile is not None:
            return None

        def unit(w: Workload) -> elsewhere.Unit:
            data = self.data.at(w.image_size)
            model = workloads.build_model(w, data, w.train.seed)
            if train:
                x, y = next(batches(data, w.train, self.device, train=True).epoch(0))
                return elsewhere.Unit(model, w.train, x.cpu(), y.cpu())
            size = self.profile.infer_batch_size
            x, _ = next(iter(batches(data, w.train, self.device, train=False, batch_size=size)))
            return elsewhere.Unit(model, w.train, x.cpu())

        return elsewhere.Units(str(self.device), unit(workload), unit(reference))

    def _first_step(self, step: Callable[[], Any], compiled: bool) -> float:
        """Seconds of the first call. When compiled: from scratch, with dynamo's
        in-process cache cleared and inductor's on-disk caches bypassed, so that
        the figure does not depend on what ran before (in this run or earlier)."""
        if not compiled:
            return time_once(step, self.device)[0]
        import torch._dynamo
        import torch._inductor.config

        torch._dynamo.reset()
        with (
            torch._inductor.config.patch(force_disable_caches=True),
            warnings.catch_warnings(),
        ):
            warnings.filterwarnings("ignore", message=".*force_disable_caches.*")
            return time_once(step, self.device)[0]

    def inference(
        self,
        benchmark: Any,
        variant: Variant,
        workload: Workload,
        *,
        reference: Workload | None = None,
    ) -> Trained | None:
        """Time one inference batch of the trained model (eval mode, no autograd);
        with `reference`, round by round with the reference's trained model.
        With `timing_only()`: of the untrained model (weights do not change the
        time), recording the time alone (None)."""
        if timing_only():
            infer, x = self._infer_unit(workload, self.untrained(workload))
            described = self.describe_workload(variant, workload, metrics.INFER_BATCH, x.shape[0])
            self.record(benchmark, described, **self.time(benchmark, infer, x.shape[0]))
            return None
        trained = self.trained.get(workload, self.data, self.device, self.seeds)
        infer, x = self._infer_unit(workload, trained.model)
        infer()
        peak = peak_memory(infer, self.device, resident=[trained.model, x])
        build_reference = None
        if reference is not None and reference != workload:
            ref_trained = self.trained.get(reference, self.data, self.device, self.seeds)
            build_reference = lambda: self._infer_unit(reference, ref_trained.model)[0]  # noqa: E731
        units = self._elsewhere(workload, reference, train=False)
        figures = self.time_paired(benchmark, infer, x.shape[0], build_reference, elsewhere=units)
        self.record(
            benchmark,
            self.describe_workload(variant, workload, metrics.INFER_BATCH, x.shape[0]),
            **figures,
            peak_mem_bytes=peak,
            **self._model_figures(workload.model, trained.model, x),
            **trained.figures(),
        )
        return trained

    def untrained(self, workload: Workload) -> nn.Module:
        """A fresh model of the workload, in eval mode on the device: what the timing-only
        processes time (weights do not change a pass's time)."""
        data = self.data.at(workload.image_size)
        return workloads.build_model(workload, data, workload.train.seed).to(self.device).eval()

    def model_and_figures(self, workload: Workload) -> tuple[nn.Module, dict[str, Any]]:
        """The workload's trained model and its accuracy figures; under `timing_only()`
        an untrained model and no figures, nothing trained."""
        if timing_only():
            return self.untrained(workload), {}
        trained = self.trained.get(workload, self.data, self.device, self.seeds)
        return trained.model, trained.figures()

    def _infer_unit(self, workload: Workload, model: nn.Module) -> tuple[Callable[[], None], Any]:
        """One inference batch of `model` (of `workload`, in eval mode) on the test split."""
        data = self.data.at(workload.image_size)
        cfg = workload.train
        predictor = Trainer(model, cfg, self.device)
        size = self.profile.infer_batch_size
        x, _ = next(iter(batches(data, cfg, self.device, train=False, batch_size=size)))
        x = predictor.prepare(x)

        def infer() -> None:
            predictor.predict(x)

        return infer, x

    def time_to_target(
        self, benchmark: Any, variant: Variant, workload: Workload, *, seeds: int, target: float
    ) -> Trained:
        """Time each seed's training until its test accuracy first reaches `target`:
        one round per seed, the seconds from its first step to the end of the
        epoch whose evaluation reached it (evaluations included; a seed that never
        reaches it counts its whole budget). Each run then goes on, untimed, to
        the end of its budget for the final figures (accuracy, early stopping).
        """
        data = self.data.at(workload.image_size)
        runs: list[SeedRun] = []
        running: list[Iterator[FitResult]] = []

        def setup() -> tuple[tuple, dict]:
            run = SeedRun(workload, data, self.device, len(runs))
            runs.append(run)
            running.append(
                run.epochs(self.trained.progress(run.what, run.cfg.epochs, run.train_images))
            )
            return (running[-1],), {}

        def to_target(epochs: Iterator[FitResult]) -> None:
            for result in epochs:
                if result.history and result.history[-1]["accuracy"] >= target:
                    return

        def finish(epochs: Iterator[FitResult]) -> None:
            for _ in epochs:
                pass

        rounds = Timing(rounds=seeds, warmup_rounds=0)
        time_rounds(benchmark, to_target, self.device, rounds, setup=setup, teardown=finish)
        while len(runs) < seeds:  # --benchmark-disable runs one round, untimed
            setup()
        for epochs in running:  # and no teardown
            finish(epochs)
        n, images = scored_on(data.test, workload.train)
        trained = Trained(
            runs[0].trainer.model.eval(), n, [run.finish() for run in runs], eval_set=images
        )
        x, _ = next(iter(runs[0].test))
        self.record(
            benchmark,
            self.describe_workload(variant, workload, metrics.TO_TARGET, workload.train.batch_size),
            **self._model_figures(workload.model, trained.model, runs[0].trainer.prepare(x)),
            **trained.figures(target, curves=True),
        )
        return trained
