"""The recipe ladder judged as the article judges it: each seed trains until it reaches
the target or a cap, and the ladder says which switches pay here and which do not."""

from types import SimpleNamespace

import pytest
import torch
from gate_helpers import as_run, bench, run_data, steady

from visionbench import models, profiles
from visionbench.report import ladder
from visionbench.techniques.recipe import baseline
from visionbench.techniques.recipe import ladder as rungs_of
from visionbench.training.train import TrainConfig, Trainer, fit


def _rung(i, name, times, in_budget, acc=0.975):
    reached = [t for t in times if t is not None]
    return bench(
        f"r{i}", steady(300), technique="recipe", variant=name, reference="baseline",
        rung=i, switch=name, accuracy=acc, accuracy_std=0.002, seeds=len(times),
        eval_images=1000, dataset="mnist5k", device="cpu", model="small_cnn", image_size=16,
        epochs=12, max_time_s=10.0, target_accuracy=0.97, time_budget_s=3.0,
        time_to_target_s_per_seed=times,
        time_to_target_s=sum(reached) / len(reached) if reached else None,
        target_reached=len(reached) / len(times), accuracy_in_budget_per_seed=in_budget,
    )  # fmt: skip


def _text(*benches):
    return ladder.ladder_markdown(list(as_run(run_data(list(benches))).benchmarks.values()))


def test_each_switch_is_judged_against_the_rung_before_and_the_fastest_is_named():
    text = _text(
        _rung(0, "baseline", [4.0, 4.4, 4.2], [0.96, 0.962, 0.961]),
        _rung(1, "+resident", [1.5, 1.6, 1.7], [0.972, 0.971, 0.973]),
        _rung(2, "+augment", [None, None, None], [0.955, 0.954, 0.956], acc=0.965),
        _rung(3, "+onecycle", [2.0, 2.1, 2.2], [0.958, 0.955, 0.957]),
    )
    assert "the cap (12 epochs or 10 s)" in text
    assert "**+resident** pays: 2.63× sooner to 97.0%" in text
    # the sentence: what augmentation costs in this budget, paired over seeds
    assert (
        "**+augment** does not pay: 0/3 seeds reach 97.0% within the cap, 3/3 before it; "
        "costs 1.7 pt within 3 s." in text
    )
    assert "**+onecycle** pays: 3/3 seeds reach 97.0% within the cap, 0/3 before it" in text
    assert "The fastest rung to 97.0% is **+resident**: 1.6 s" in text
    assert "2.63× sooner than the baseline" in text
    assert "| not within the cap (0/3)" in text  # the table says where none got there


def test_a_switch_within_the_noise_is_said_to_change_nothing():
    text = _text(
        _rung(0, "baseline", [1.0, 1.1, 1.2], [0.97, 0.971, 0.972]),
        _rung(1, "+resident", [1.02, 1.12, 1.2], [0.97, 0.972, 0.971]),
    )
    assert "**+resident** changes the time to 97.0% by no more than noise" in text
    assert "the same accuracy within 3 s" in text
    assert "The fastest rung to 97.0% is **baseline**" in text
    assert "the baseline itself: no switch above it reaches the target sooner" in text


def test_no_rung_reaching_the_target_on_every_seed_is_said_plainly():
    text = _text(
        _rung(0, "baseline", [None, 5.0, None], [0.95, 0.96, 0.95]),
        _rung(1, "+resident", [None, None, None], [0.95, 0.96, 0.95]),
    )
    assert "No rung reaches 97.0% on every seed within the cap here." in text
    assert "**+resident** does not pay: 0/3 seeds reach 97.0% within the cap, 1/3 before it" in text


# -- training to the target -------------------------------------------------------------


def _fit(cfg, scores, seconds_per_epoch, monkeypatch):
    """fit() with scripted test accuracies and a clock advancing `seconds_per_epoch`."""
    scores = iter(scores)  # each evaluation: 100 images' outcomes, that many of them right
    monkeypatch.setattr(
        "visionbench.training.train.outcomes",
        lambda trainer, b: torch.arange(100) < round(next(scores) * 100),
    )
    clock = iter(range(10**6))  # two readings an epoch, its start and its end: 1 unit each
    fake = SimpleNamespace(perf_counter=lambda: next(clock) * seconds_per_epoch)
    monkeypatch.setattr("visionbench.training.train.time", fake)
    torch.manual_seed(0)
    model = models.build("small_cnn", num_classes=10, in_channels=1, image_size=8)
    batch = (torch.randn(4, 1, 8, 8), torch.arange(4))
    return fit(Trainer(model, cfg, torch.device("cpu")), lambda epoch: [batch], [batch])


@pytest.mark.parametrize(
    ("after_s", "cap_s", "epochs_run"),
    [
        (0.0, None, 2),  # stops at the first epoch that reached 0.97
        (3.5, None, 4),  # but trains at least the time budget (1 s an epoch)
        (0.0, 1.0, 1),  # the cap in seconds stops it first
    ],
)
def test_a_run_trained_to_the_target_stops_there_once_the_budget_has_passed(
    after_s, cap_s, epochs_run, monkeypatch
):
    cfg = TrainConfig(epochs=10, stop_at_accuracy=0.97, stop_after_s=after_s, time_budget_s=cap_s)
    result = _fit(cfg, [0.9, 0.97, 0.95, 0.98, 0.99, 0.99], 1.0, monkeypatch)
    assert result.epochs_run == epochs_run


def test_without_the_target_a_run_reaches_the_epochs_cap(monkeypatch):
    cfg = TrainConfig(epochs=3, stop_at_accuracy=0.99)
    assert _fit(cfg, [0.5, 0.6, 0.7], 1.0, monkeypatch).epochs_run == 3
    with pytest.raises(ValueError, match="stop_at_accuracy"):
        TrainConfig(stop_at_accuracy=1.5)


@pytest.mark.parametrize("name", list(profiles.PROFILES))
def test_every_rung_trains_to_the_profiles_target_under_its_caps(name):
    profile = profiles.get(name)
    budget = profile.recipe
    assert budget.max_time_s >= budget.time_budget_s  # the cap never cuts the budget short
    for rung in rungs_of(profile, torch.device("cpu"))[0]:
        cfg = rung.recipe.train
        assert cfg.stop_at_accuracy == profile.target_accuracy
        assert (cfg.epochs, cfg.time_budget_s) == (budget.epochs, budget.max_time_s)
        assert cfg.stop_after_s == budget.time_budget_s
    dry = baseline(profiles.dry_run(profile)).train
    assert dry.max_steps == profiles.DRY_RUN.max_steps  # a dry run still stops after a few steps
