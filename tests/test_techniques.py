"""The training-step techniques and convergence figures: each switch does what it
claims, early stopping watches the validation split, compile time is kept apart,
and time-to-target over seeds aggregates and compares honestly."""

import copy
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn
from helpers import FakeBenchmark
from hypothesis import given
from hypothesis import strategies as st

from visionbench import models, profiles
from visionbench.data import SplitData, load_digits, split
from visionbench.measure import meters, metrics
from visionbench.report import convergence
from visionbench.training import targets
from visionbench.training.model_bench import ModelBench
from visionbench.training.train import (
    Batches,
    FitResult,
    TrainConfig,
    Trainer,
    amp_unsupported,
    first_reached,
    fit,
)
from visionbench.training.workloads import Trained, TrainedModels, Workload

CPU = torch.device("cpu")
MiB = 1 << 20


@pytest.fixture(scope="module")
def digits() -> SplitData:
    train, test = split(load_digits(), 0.2, seed=0)
    return SplitData("digits", train, test)


def batch(digits: SplitData, n: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    mean, std = digits.stats()
    return next(iter(Batches(digits.train, n, CPU, mean=mean, std=std, seed=0)))


def small_trainer(cfg: TrainConfig) -> Trainer:
    torch.manual_seed(0)
    return Trainer(models.build("small_cnn", num_classes=10, in_channels=1, image_size=8), cfg, CPU)


# -- precision -----------------------------------------------------------------------


@pytest.mark.parametrize(("amp", "dtype"), [(None, torch.float32), ("bf16", torch.bfloat16)])
def test_autocast_dtype_reaches_every_convolution_and_linear_layer(digits, amp, dtype):
    """test_train checks the first layer under bf16; here every layer, and fp32 too."""
    trainer = small_trainer(TrainConfig(amp=amp))
    seen = []
    for m in trainer.model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            m.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    trainer.step(*batch(digits))
    assert len(seen) == 4 and set(seen) == {dtype}


def test_fp16_without_a_gpu_is_a_skip_reason_not_a_crash():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA; the reason only applies without it")
    reason = amp_unsupported(CPU, "fp16")
    assert reason is not None and "CUDA" in reason
    assert amp_unsupported(CPU, "bf16") is None and amp_unsupported(CPU, None) is None


def test_a_diverged_run_is_recorded_in_the_figures_not_raised():
    fits = [
        FitResult(accuracy=0.98, train_time_s=1.0, epochs_run=2, steps=10),
        FitResult(accuracy=0.1, train_time_s=0.4, epochs_run=1, steps=3, diverged=True),
    ]
    figures = Trained(nn.Linear(1, 1), 1000, fits).figures(target_accuracy=0.95)
    metrics.validate(figures)
    assert figures["diverged"] is True
    assert figures["target_reached"] == 0.0  # neither history reached it


# -- memory format and compile -------------------------------------------------------


@pytest.mark.parametrize("channels_last", [False, True])
def test_channels_last_holds_through_the_forward_pass(digits, channels_last):
    trainer = small_trainer(TrainConfig(channels_last=channels_last))
    formats = []
    for i in (0, 3):  # both convolutions' outputs (32 and 64 channels)
        trainer.model.features[i].register_forward_hook(
            lambda m, i, o: formats.append(o.is_contiguous(memory_format=torch.channels_last))
        )
    trainer.step(*batch(digits))
    assert formats == [channels_last, channels_last]


class CompileCountingBenchmark(FakeBenchmark):
    """pytest-benchmark's pedantic, noting whether anything compiled while timed."""

    compiled_while_timed: int | None = None

    def before_timing(self) -> None:
        from torch._dynamo.utils import counters

        self._before = sum(counters["stats"].values())

    def after_timing(self) -> None:
        from torch._dynamo.utils import counters

        self.compiled_while_timed = sum(counters["stats"].values()) - self._before


def tiny_net() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(8 * 8, 10))  # little for inductor to build


def test_compile_gives_the_same_results_and_its_time_is_kept_apart(digits, monkeypatch):
    """One test for torch.compile (a compile costs seconds): same outputs and step as
    eager, and the bench records the compile before, not inside, its timed rounds."""
    monkeypatch.setattr("visionbench.training.workloads.build_model", lambda w, d, seed: tiny_net())
    cfg = TrainConfig(compile="default", batch_size=32)
    cached = Trained(
        tiny_net(), 100, [FitResult(accuracy=0.9, train_time_s=1.0, epochs_run=1, steps=9)]
    )
    trained = SimpleNamespace(get=lambda *args, **kwargs: cached)
    vb = ModelBench(profiles.get("quick"), CPU, digits, trained)
    bench = CompileCountingBenchmark()
    variant = SimpleNamespace(technique="compile", name="default", reference="eager")
    vb.train_step(bench, variant, Workload("tiny", 8, cfg), allocator_memory=True)
    assert bench.extra_info["compile_time_s"] > 0
    assert bench.compiled_while_timed == 0  # the steady-state rounds never compile
    assert bench.extra_info["peak_mem_bytes"] > 0

    torch.manual_seed(0)
    eager = Trainer(tiny_net(), TrainConfig(batch_size=32), CPU)
    compiled = Trainer(copy.deepcopy(eager.model), cfg, CPU)
    assert compiled.forward is not compiled.model
    x, y = batch(digits)
    torch.testing.assert_close(compiled.forward(x), eager.model(x), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(compiled.step(x, y), eager.step(x, y), rtol=1e-4, atol=1e-5)
    for a, b in zip(compiled.model.parameters(), eager.model.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_allocator_peak_counts_resident_and_what_is_alive_at_once():
    resident = torch.zeros(MiB // 4)  # 1 MiB of float32

    def work():
        a = torch.ones(2 * MiB // 4)
        b = torch.ones(3 * MiB // 4)
        del a
        c = torch.ones(MiB // 4)
        return b.sum() + c.sum()

    peak = meters.allocator_peak_memory(work, CPU, resident=[resident])
    assert 6 * MiB <= peak < 6 * MiB + 64 * 1024  # 1 resident + 2 + 3 alive at once


# -- early stopping ------------------------------------------------------------------


def scripted_evaluate(monkeypatch, test, validation, test_scores, val_scores):
    """An evaluation scores the next scripted accuracy of whichever split it is given (100
    images' outcomes, that many of them right)."""
    scores = {id(test): iter(test_scores), id(validation): iter(val_scores)}

    def outcomes(trainer, b):
        return torch.arange(100) < round(next(scores[id(b)]) * 100)

    monkeypatch.setattr("visionbench.training.train.outcomes", outcomes)


def test_early_stopping_stops_on_the_validation_split(digits, monkeypatch):
    test, validation = ["test batches"], ["validation batches"]
    scripted_evaluate(monkeypatch, test, validation, [0.5, 0.6, 0.7, 0.8, 0.9], [0.9, 0.8, 0.7])
    cfg = TrainConfig(epochs=5, max_steps=None, early_stopping_patience=2)
    result = fit(small_trainer(cfg), lambda epoch: [batch(digits)], test, validation=validation)
    assert result.epochs_run == 3  # validation fell twice; the rising test split did not count
    assert [row["val_accuracy"] for row in result.history] == [0.9, 0.8, 0.7]


def test_early_stopping_ignores_a_stalling_test_split(digits, monkeypatch):
    test, validation = ["test batches"], ["validation batches"]
    scripted_evaluate(monkeypatch, test, validation, [0.5, 0.4, 0.3, 0.2], [0.6, 0.7, 0.8, 0.9])
    cfg = TrainConfig(epochs=4, early_stopping_patience=1)
    result = fit(small_trainer(cfg), lambda epoch: [batch(digits)], test, validation=validation)
    assert result.epochs_run == 4


def test_early_stopping_without_a_validation_split_is_refused(digits):
    cfg = TrainConfig(epochs=2, early_stopping_patience=1)
    with pytest.raises(ValueError, match="validation split"):
        fit(small_trainer(cfg), lambda epoch: [batch(digits)], [batch(digits)])


def test_the_validation_split_is_held_out_of_the_training_split(digits, monkeypatch):
    seen = {}

    def fake_fit(trainer, train, test, *, validation=None, train_eval=None, on_epoch=None):
        if not seen:  # the run (a CPU run's memory replay comes after it)
            seen.update(train=train, test=test, validation=validation)
        return FitResult(accuracy=0.5, train_time_s=0.1, epochs_run=1, steps=1)

    monkeypatch.setattr("visionbench.training.workloads.fit", fake_fit)
    cfg = TrainConfig(validation_fraction=0.25, early_stopping_patience=1)
    TrainedModels(log=lambda m: None).get(Workload("small_cnn", 8, cfg), digits, CPU)
    train, validation, test = seen["train"], seen["validation"], seen["test"]

    def rows(*images: torch.Tensor) -> list[bytes]:
        return sorted(img.numpy().tobytes() for part in images for img in part)

    assert abs(len(validation.labels) - 0.25 * len(digits.train)) <= digits.num_classes
    assert rows(train.images, validation.images) == rows(digits.train.images)  # a partition
    assert torch.equal(test.images, digits.test.images)  # the test split is untouched


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"compile": "fast"}, "TrainConfig.compile='fast'"),
        ({"validation_fraction": 1.0}, "validation_fraction"),
        ({"early_stopping_patience": 0}, "early_stopping_patience"),
    ],
)
def test_bad_technique_settings_name_the_field(changes, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**changes)


# -- time to target over seeds -------------------------------------------------------

reached_runs = st.lists(
    st.one_of(
        st.none(),
        st.tuples(st.integers(1, 50), st.floats(0.0, 1e4, allow_nan=False)),
    ),
    min_size=1,
    max_size=8,
)


@given(reached_runs)
def test_target_figures_aggregate_every_seed(reached):
    figures = targets.target_figures(reached)
    metrics.validate(figures)
    hits = [r for r in reached if r is not None]
    assert figures["target_reached"] == len(hits) / len(reached)
    assert figures["epochs_to_target_per_seed"] == [r and r[0] for r in reached]
    assert figures["time_to_target_s_per_seed"] == [r and r[1] for r in reached]
    if not hits:  # recorded as never reached, not dropped
        assert figures["epochs_to_target"] is None and figures["time_to_target_s"] is None
        return
    epochs = [e for e, _ in hits]
    assert min(epochs) <= figures["epochs_to_target"] <= max(epochs)
    assert figures["epochs_to_target"] == pytest.approx(sum(epochs) / len(epochs))
    assert (figures["epochs_to_target_std"] == 0) == (len(set(epochs)) == 1)


@given(st.lists(st.floats(0.0, 1.0, allow_nan=False), max_size=10), st.floats(0.0, 1.0))
def test_first_reached_is_the_first_epoch_at_or_over_the_target(accuracies, target):
    history = [
        {"epoch": i + 1, "train_time_s": 2.0 * (i + 1), "accuracy": a}
        for i, a in enumerate(accuracies)
    ]
    got = first_reached(history, target)
    hits = [i for i, a in enumerate(accuracies) if a >= target]
    assert got == ((hits[0] + 1, 2.0 * (hits[0] + 1)) if hits else None)


def saved(variant, per_seed, epochs=6, train_time_s=6.0, target=0.97):
    """A saved lr_schedule benchmark as results.Bench shows it."""
    return SimpleNamespace(
        variant=variant,
        extra_info={
            "variant": variant,
            "reference": "constant",
            "epochs": epochs,
            "target_accuracy": target,
            "train_time_s": train_time_s,
            "accuracy": 0.97,
            "accuracy_std": 0.005,
            "epochs_run": epochs,
            **targets.target_figures([(e, float(e)) if e is not None else None for e in per_seed]),
        },
    )


def contrast(benches, measure="epochs_to_target"):
    return next(c for c in convergence.compare_to_reference(benches) if c.measure == measure)


def test_a_schedule_sooner_on_every_seed_wins_by_its_gap():
    c = contrast([saved("constant", [5, 6, 5]), saved("onecycle", [4, 4, 3])])
    assert c.difference == pytest.approx(-5 / 3)
    assert c.low < c.difference < c.high < 0
    assert c.winner == "onecycle" and c.censored == 0
    assert "onecycle reaches 97.0% 1.7 epochs sooner than constant" in c.sentence()
    assert "3 paired seeds" in c.sentence()


def test_a_gap_inside_the_seed_noise_names_no_winner():
    c = contrast([saved("constant", [5, 3, 6]), saved("onecycle", [4, 5, 4])])
    assert c.winner is None and c.low < 0 < c.high
    assert "do not separate it from" in c.sentence()


def test_seeds_that_never_reach_count_at_the_budget_end_and_are_named():
    c = contrast([saved("constant", [None, None, 6]), saved("onecycle", [4, 5, 4])])
    assert c.difference == pytest.approx(((4 - 7) + (5 - 7) + (4 - 6)) / 3)
    assert c.censored == 2 and c.reached == (3, 1)
    assert "understates" in c.sentence()
    t = contrast(
        [saved("constant", [None, None, 6]), saved("onecycle", [4, 5, 4])], "time_to_target_s"
    )
    assert t.difference == pytest.approx(((4 - 6) + (5 - 6) + (4 - 6)) / 3)  # train_time_s bound


def test_one_seed_gives_a_difference_without_an_interval():
    c = contrast([saved("constant", [5]), saved("onecycle", [4])])
    assert c.difference == -1 and c.low is None and c.winner is None
    assert "one seed" in c.sentence()


@given(st.lists(st.integers(1, 9), min_size=2, max_size=6), st.integers(-3, 3))
def test_a_constant_shift_on_every_seed_is_the_difference(epochs, shift):
    shifted = [e + shift for e in epochs]
    c = contrast([saved("constant", epochs, epochs=20), saved("cosine", shifted, epochs=20)])
    assert c.difference == pytest.approx(shift)
    assert c.low == pytest.approx(shift) and c.high == pytest.approx(shift)
    # no spread: only the sign test can separate them, which 3 seeds never do
    assert (c.winner is not None) == (shift != 0 and len(epochs) >= 6)


def test_the_markdown_shows_every_variant_and_the_early_stopping_trade():
    stopped = saved("constant_early_stop", [None, 5, None])
    stopped.extra_info.update(epochs_run=4.0, accuracy=0.955, train_time_s=4.0)
    text = convergence.section(
        [saved("constant", [6, 5, None]), saved("onecycle", [4, 4, 3]), stopped]
    )
    assert "| constant | 2/3 |" in text and "| onecycle | 3/3 |" in text
    assert "6, 5, >6" in text
    assert "onecycle reaches 97.0%" in text and "constant_early_stop reaches" not in text
    assert "| constant_early_stop | 1/3 |" in text and "stopped, 5, stopped" in text
    assert "constant_early_stop: stopped after 4 of 6 epochs on average (2 epochs saved" in text
    assert "-1.5 pt" in text
    assert convergence.section([SimpleNamespace(variant="x", extra_info={})]) == ""


def test_per_seed_lists_are_validated():
    metrics.validate({"epochs_to_target_per_seed": [3, None, 4]})
    for bad in ("3,4", [3, "4"], [float("nan")]):
        with pytest.raises(metrics.SchemaError, match="epochs_to_target_per_seed"):
            metrics.validate({"epochs_to_target_per_seed": bad})


# -- time to target ------------------------------------------------------------------


class LoggingBenchmark(FakeBenchmark):
    """pytest-benchmark's pedantic, writing where each timed round begins and ends
    into the same log as the training's progress."""

    def __init__(self, log: list[str]) -> None:
        super().__init__()
        self.log = log

    def pedantic(self, fn, rounds, warmup_rounds, iterations=1, setup=None, teardown=None):
        def timed(*args, **kwargs):
            self.log.append("timed: begin")
            fn(*args, **kwargs)
            self.log.append("timed: end")

        super().pedantic(timed, rounds, warmup_rounds, iterations, setup, teardown)


def test_time_to_target_times_each_seed_up_to_the_target_and_finishes_untimed(digits):
    log: list[str] = []
    vb = ModelBench(profiles.get("quick"), CPU, digits, TrainedModels(log=log.append))
    cfg = TrainConfig(epochs=2, batch_size=64)
    bench = LoggingBenchmark(log)
    variant = SimpleNamespace(technique="lr_schedule", name="constant", reference="constant")
    vb.time_to_target(bench, variant, Workload("small_cnn", 8, cfg), seeds=2, target=0.0)
    for seed in (0, 1):  # the target (any accuracy) is met after the first epoch
        at = log.index(
            "timed: begin",
            log.index(
                f"training small_cnn on digits at 8px (cpu, seed {seed}): 2 epochs of 1438 images"
            ),
        )
        timed = log[at : log.index("timed: end", at)]
        assert [line for line in timed if "epoch 1/2" in line] and not [
            line for line in timed if "epoch 2/2" in line
        ]
        after = log[log.index("timed: end", at) :]
        assert any(f"seed {seed}): epoch 2/2" in line for line in after)  # then to the end
    info = bench.extra_info
    metrics.validate(info)
    assert info["unit"] == "to_target" and info["seeds"] == 2 and info["epochs_run"] == 2
    assert info["epochs_to_target_per_seed"] == [1, 1] and info["target_reached"] == 1.0
    assert info["train_accuracy"] > 0.3 and info["model_bytes"] > 0  # chance: 0.1


# -- caches keyed by value -------------------------------------------------------------


def test_data_keys_follow_the_contents_not_the_object(digits):
    same = SplitData("digits", digits.train.subset(torch.arange(len(digits.train))), digits.test)
    other = SplitData("digits", digits.train.subset(torch.arange(100)), digits.test)
    assert same is not digits and same.key == digits.key
    assert other.key != digits.key
    assert digits.at(4).key == f"{digits.key}@4" != digits.key


def test_trained_models_train_equal_data_once_and_other_data_again(digits, monkeypatch):
    trainings = []

    def fake_fit(trainer, train, test, *, validation=None, train_eval=None, on_epoch=None):
        trainings.append(len(train.labels))
        return FitResult(accuracy=0.5, train_time_s=0.1, epochs_run=1, steps=1, train_accuracy=0.6)

    monkeypatch.setattr("visionbench.training.workloads.fit", fake_fit)
    monkeypatch.setattr("visionbench.training.workloads.replay_peak_memory", lambda *args: 1)
    cache = TrainedModels(log=lambda m: None)
    workload = Workload("small_cnn", 8, TrainConfig())
    first = cache.get(workload, digits, CPU)
    copy_ = SplitData("digits", digits.train.subset(torch.arange(len(digits.train))), digits.test)
    assert cache.get(workload, copy_, CPU) is first  # equal contents: the same training
    smaller = SplitData("digits", digits.train.subset(torch.arange(100)), digits.test)
    assert cache.get(workload, smaller, CPU) is not first
    assert trainings == [len(digits.train), 100]
    assert first.figures()["train_accuracy"] == 0.6 and first.figures()["run_peak_mem_bytes"] == 1


def test_a_sweep_refuses_data_smaller_than_its_largest_size(digits):
    from visionbench.training.model_bench import upsampling_reason

    assert upsampling_reason(digits, 8) is None  # digits are 8 px
    assert "8 px, below the sweep's largest size 28 px" in upsampling_reason(digits, 28)
