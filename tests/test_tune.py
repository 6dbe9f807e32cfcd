"""`visionbench tune`: the greedy search and the Shapley values on a synthetic objective
whose best combination and interaction are known, the Shapley arithmetic itself, and
bad input (an unknown switch, a target no configuration reaches in the budget)."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from visionbench.cli import main
from visionbench.stats import shapley
from visionbench.tune import worth
from visionbench.tune.command import recommend, speedup_interval
from visionbench.tune.search import Config, Infeasible, Switch, Trial, evaluate, greedy

SWITCHES = [
    Switch("data_loading", ("disk", "resident")),
    Switch("augmentation", ("none", "on")),
    Switch("lr_schedule", ("constant", "onecycle", "cosine")),
    Switch("precision", ("fp32", "bf16")),
    Switch("memory_format", ("contiguous", "channels_last")),
    Switch("batch_size", (64, 128)),
]
BASE_S = 100.0
# Known factors on the time to target; channels_last pays only with bf16 (1.05x slower
# alone, 0.75x with it): the interaction the Shapley values must split.
FACTOR = {("data_loading", "resident"): 0.2, ("lr_schedule", "onecycle"): 0.9,
          ("lr_schedule", "cosine"): 0.95, ("precision", "bf16"): 0.8,
          ("augmentation", "on"): 1.2, ("batch_size", 128): 1.1}  # fmt: skip
BEST = {"data_loading": "resident", "lr_schedule": "onecycle", "precision": "bf16",
        "memory_format": "channels_last"}  # fmt: skip


def synthetic_time(config: Config) -> float:
    v = config.as_dict()
    if v["augmentation"] == "on" and v["data_loading"] == "disk":
        raise Infeasible("augmentation is batched on the device; use resident data")
    t = BASE_S * math.prod(FACTOR.get(item, 1.0) for item in v.items())
    if v["memory_format"] == "channels_last":
        t *= 0.75 if v["precision"] == "bf16" else 1.05
    return t


class Synthetic:
    """The objective: exact times, honouring the prune bound as a real trial does."""

    def __init__(self) -> None:
        self.calls = 0
        self.pruned = 0

    def __call__(self, config: Config, bound: float | None) -> Trial:
        self.calls += 1
        t = synthetic_time(config)
        if bound is not None and t > bound:
            self.pruned += 1
            return Trial(config, None, note=f"cut at {bound:.1f} s", pruned=True, spent_s=bound)
        return Trial(config, t, accuracy=0.97, epochs=3)


def test_greedy_finds_the_known_best_combination_and_prunes_losers():
    objective = Synthetic()
    search = greedy(SWITCHES, objective)
    assert search.winner.moved(SWITCHES) == BEST
    assert search.stopped == "no move beat the current best"
    everything = [Config(zip([s.name for s in SWITCHES], vs, strict=True))
                  for vs in itertools.product(*(s.values for s in SWITCHES))]  # fmt: skip
    assert objective.calls < len(everything) / 3  # far fewer trials than the product
    assert objective.pruned > 0  # slower candidates stopped at the bound, not run out
    assert search.trials[search.winner].time_s == pytest.approx(
        min(synthetic_time(c) for c in everything if c.as_dict()["augmentation"] == "none")
    )
    infeasible = [t for t in search.trials.values() if t.note.startswith("infeasible")]
    assert infeasible and all("resident" in t.note for t in infeasible)
    runner = search.runners_up(1)[0]
    assert runner != search.winner and search.trials[runner].reached


def test_shapley_values_split_the_interaction_and_multiply_to_the_speedup():
    objective = Synthetic()
    search = greedy(SWITCHES, objective)
    for config in worth.designed_set(search):
        evaluate(objective, config, None, search, "shapley")
    rows, estimated, total = worth.worth(search)
    assert (estimated, total) == (0, 16)  # 4 switches: every coalition trained
    by = {w.switch: w for w in rows}
    assert by["data_loading"].shapley == pytest.approx(1 / 0.2)
    assert by["lr_schedule"].shapley == pytest.approx(1 / 0.9)
    # the bf16 x channels_last interaction, split evenly
    assert by["memory_format"].shapley == pytest.approx(1 / math.sqrt(1.05 * 0.75))
    assert by["precision"].shapley == pytest.approx(1 / math.sqrt(0.8 * 0.8 * 0.75 / 1.05))
    # "channels_last is worth 1.3x with bf16 and nothing (a loss) without"
    assert by["memory_format"].last == pytest.approx(1 / 0.75)
    assert by["memory_format"].alone == pytest.approx(1 / 1.05)
    speedup = search.trials[search.baseline].time_s / search.trials[search.winner].time_s
    assert worth.total(rows) == pytest.approx(speedup)


def test_the_budget_stops_the_search_with_what_was_evaluated():
    objective = Synthetic()
    search = greedy(SWITCHES, objective, out_of_time=lambda: objective.calls >= 4)
    assert objective.calls == 5  # four candidates, then the baseline they are judged against
    assert search.stopped == "the search's share of the budget was spent"
    assert search.baseline in search.trials


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-5, 5), min_size=8, max_size=8))
def test_shapley_is_efficient_and_gives_a_null_player_nothing(values):
    players = ["a", "b", "c"]
    game = dict(zip(shapley.coalitions(players), values, strict=True))
    phi = shapley.shapley(players, game)
    assert sum(phi.values()) == pytest.approx(game[frozenset(players)] - game[frozenset()])
    # "d" changes nothing in any coalition: its value is 0, the others' unchanged
    with_null = {c | extra: v for c, v in game.items() for extra in (frozenset(), {"d"})}
    phi4 = shapley.shapley([*players, "d"], with_null)
    assert phi4["d"] == pytest.approx(0.0, abs=1e-9)
    assert all(phi4[p] == pytest.approx(phi[p]) for p in players)


def test_complete_recovers_a_missing_coalition_of_a_pairwise_game():
    players = ["a", "b", "c"]

    def v(c):
        return (
            1.0 * ("a" in c) + 2.0 * ("b" in c) - 0.5 * ("c" in c) + 0.7 * ("a" in c and "b" in c)
        )

    known = {c: v(c) for c in shapley.coalitions(players) if c != frozenset(players)}
    values, estimated = shapley.complete(players, known)
    assert estimated == {frozenset(players)}
    assert values[frozenset(players)] == pytest.approx(v(frozenset(players)))
    with pytest.raises(ValueError, match="no value for coalition"):
        shapley.shapley(players, known)


def test_speedup_interval_pairs_seeds_and_counts_censored_ones():
    winner = [1.0, 1.1, 0.9, 1.0]
    other = [2.0, 2.3, 1.7, None]
    pairs_ = list(zip(winner[:3], other[:3], strict=True))
    pairs, censored, speed, low, high = speedup_interval(winner, other)
    assert (pairs, censored) == (3, 1)
    assert speed == pytest.approx(math.exp(sum(math.log(o / w) for w, o in pairs_) / 3))
    assert 1 < low < speed < high  # two-fold on every seed: significant


def test_an_unknown_switch_is_named_and_exits_2(capsys):
    assert main(["tune", "--switches", "precision,warp_speed"]) == 2
    err = capsys.readouterr().err
    assert "unknown switch 'warp_speed'" in err and "memory_format" in err


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--budget", "0"], "--budget must be a positive number"),
        (["--target", "1.5"], "--target is a test accuracy"),
        (["--seeds", "1"], "--seeds must be at least 2"),
    ],
)
def test_bad_settings_exit_2(args, says, capsys):
    assert main(["tune", *args]) == 2
    assert says in capsys.readouterr().err


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """Where digits is written as PNG folders once, for every test that trains."""
    return tmp_path_factory.mktemp("tune-data")


@pytest.mark.slow
def test_a_target_no_configuration_reaches_in_the_budget_exits_2(tmp_path, workdir, capsys):
    code = main(["tune", "--data", "digits", "--target", "1.0", "--budget", "0.02",
                 "--switches", "memory_format", "--workdir", str(workdir),
                 "--out", str(tmp_path / "t.json")])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert "--target 100.0%: no configuration reached it" in err
    assert not (tmp_path / "t.json").exists()


def test_the_trials_are_saved_as_a_run_the_results_reader_loads(tmp_path):
    from visionbench.measure import results
    from visionbench.tune import output

    objective = Synthetic()
    search = greedy(SWITCHES, objective)
    result = output.Result(list(SWITCHES), {"precision=fp16": "needs CUDA"}, search)
    result.seed_times = {search.winner: [10.0, 11.0], search.baseline: [100.0, None]}
    data = output.run_json(result, {"model": "small_cnn"}, 0.97, {"profile": "quick"})
    run = results.load(output.save(tmp_path / "tune.json", data))
    benches = run.benchmarks.values()
    assert {b.group for b in benches} == {output.GROUP}
    assert len(benches) == len(search.trials)
    win = next(b for b in benches if b.variant == search.winner.label(SWITCHES))
    assert win.params == search.winner.as_dict()
    assert win.samples == [pytest.approx(10.8), 10.0, 11.0]  # the search's seed, then two
    base = next(b for b in benches if b.variant == "baseline")
    assert base.extra_info["target_reached"] == pytest.approx(1 / 3)  # cut in the search


def test_the_snippet_is_python_with_the_recommended_switches():
    from visionbench import profiles
    from visionbench.tune import output, space

    profile = profiles.get("quick")
    switches, _ = space.space(profile, torch_cpu(), ("data_loading", "lr_schedule"))
    config = Config.of(switches, {"data_loading": "resident", "lr_schedule": "onecycle"})
    recipe = space.recipe_of(profile, config).with_(amp="bf16", channels_last=True)
    code = output.snippet(config.as_dict(), recipe, "cpu", None)
    compile(code, "<snippet>", "exec")
    for piece in (
        'torch.autocast(device_type="cpu", dtype=torch.bfloat16)',
        "memory_format=torch.channels_last",
        "OneCycleLR",
        "images.to(device)",
    ):
        assert piece in code
    assert "torch.utils.data.DataLoader" not in code


def torch_cpu():
    import torch

    return torch.device("cpu")


def test_fresh_seeds_overturn_the_search_only_when_a_runner_up_is_significantly_faster():
    from visionbench.tune.output import Contrast

    def c(speedup, low, high):
        return Contrast("runner-up", 5, 0, speedup, low, high, 0.95)

    assert recommend("w", [("a", c(0.9, 0.7, 1.1)), ("b", c(1.3, 1.1, 1.5))]) == ("w", 1.0)
    assert recommend("w", [("a", c(0.8, 0.7, 0.9)), ("b", c(0.6, 0.5, 0.7))]) == ("b", 0.6)
    assert recommend("w", [("a", c(0.5, None, None))]) == ("w", 1.0)  # one pair: no interval


def test_final_accuracy_is_judged_paired_over_images_and_seeds():
    import numpy as np

    from visionbench.tune.accuracy import final_accuracy, words

    rng = np.random.default_rng(0)
    base = [rng.random(2000) < 0.97 for _ in range(3)]
    assert words(final_accuracy(base, base)) == "same accuracy"  # an A/A: no discordant image
    lower = []
    for b in base:  # wrong on 60 images (3 pt) the baseline gets right, every seed
        a = b.copy()
        a[np.flatnonzero(b)[:60]] = False
        lower.append(a)
    assert words(final_accuracy(lower, base)) == "lower by 3.0 pt"
    assert words(final_accuracy([b.copy() for b in base], lower)) == "higher by 3.0 pt"
    few = [b[:40] for b in base]  # 40 images: 1 discordant image is 2.5 pt, noise far wider
    fewer = [np.r_[~f[:1], f[1:]] for f in few]
    assert words(final_accuracy(fewer, few)).startswith("not resolved (±")
    # a seed cut at the budget's end is left out of the pairs: here, every seed but one
    judged = final_accuracy([lower[0], None, None], base)
    assert judged is not None and judged.change == pytest.approx(-0.03)
    assert final_accuracy([None, None], base[:2]) is None
    assert words(None) == "–"


def test_the_trials_table_and_saved_run_carry_the_accuracy_verdict(tmp_path):
    from visionbench.stats.equivalence import WORSE, Judgement
    from visionbench.tune import output

    search = greedy(SWITCHES, Synthetic())
    result = output.Result(list(SWITCHES), {}, search)
    result.accuracy[search.winner] = Judgement(WORSE, -0.014, -0.02, -0.008, 0.01, 0.9)
    table = output.trials_table(result)
    assert "final accuracy vs baseline" in table
    row = next(line for line in table.splitlines() if line.startswith("★"))
    assert "lower by 1.4 pt" in row
    saved = output.run_json(result, {"model": "small_cnn"}, 0.97, {"profile": "quick"})
    verdict = saved["visionbench_tune"]["accuracy"][search.winner.label(SWITCHES)]
    assert verdict["verdict"] == WORSE and verdict["words"] == "lower by 1.4 pt"


@pytest.mark.slow
def test_a_trial_runs_to_its_target_past_the_ladders_own_stops(workdir, request):
    """The recipe ladder's TrainConfig stops at its cap in seconds and at the profile's
    target; a tune trial ends only at its own target, its epochs or its bound, and keeps
    its per-image outcomes where it ended."""
    import torch

    from visionbench import profiles
    from visionbench.tune import space
    from visionbench.tune.data import prepare
    from visionbench.tune.trials import to_target

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as --threads 1: torch's threads spin on a busy machine
    request.addfinalizer(lambda: torch.set_num_threads(threads))
    profile = profiles.get("quick")
    data = prepare("digits", profile, workdir, lambda _: None)
    switches, _ = space.space(profile, torch_cpu(), ("data_loading",))
    recipe = space.recipe_of(profile, Config.of(switches, {"data_loading": "resident"}))
    recipe = recipe.with_(epochs=2, time_budget_s=1e-6, stop_at_accuracy=0.01)
    o = to_target(recipe, data, torch_cpu(), seed=1, target=1.01)  # never reached
    assert (o.epochs, o.time_s, o.pruned) == (2, None, False)
    assert o.outcomes is not None and len(o.outcomes) == len(data.test)
    assert o.outcomes.mean() == pytest.approx(o.accuracy)
