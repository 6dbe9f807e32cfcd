"""The trials of a `visionbench tune` run in the report and on the history site: time to
the target against accuracy, the front marked (a pure function, checked against every
pair of trials), and no such section for a run without tune trials."""

from __future__ import annotations

import itertools

from gate_helpers import as_run, bench, run_data, steady
from history_helpers import saved_history
from test_tune import SWITCHES, Synthetic

from visionbench.history import series as hseries
from visionbench.history import site
from visionbench.measure import results
from visionbench.measure.results import Bench
from visionbench.report import tune_trials, write_report
from visionbench.tune import output
from visionbench.tune.search import greedy


def trial(name: str, time: float | None, accuracy: float) -> Bench:
    info = {"variant": name, "accuracy": accuracy}
    if time is not None:
        info["time_to_target_s"] = time
    return Bench(f"tune[{name}]", f"tune[{name}]", output.GROUP, {}, info, {})


def test_the_front_is_exactly_the_trials_no_other_beats_on_time_and_accuracy():
    grid = [trial(f"t{i}", 10.0 + (i * 7) % 13, 0.95 + ((i * 5) % 9) / 200) for i in range(25)]
    grid += [trial("twin", 10.0, 0.95), trial("cut", None, 0.99)]  # a tie; a trial with no time
    front = {p.name for p in tune_trials.front(grid).front}
    timed = [b for b in grid if "time_to_target_s" in b.extra_info]

    def beaten(b: Bench) -> bool:
        t, a = b.extra_info["time_to_target_s"], b.extra_info["accuracy"]
        return any(
            o.extra_info["time_to_target_s"] <= t and o.extra_info["accuracy"] >= a
            and (o.extra_info["time_to_target_s"], o.extra_info["accuracy"]) != (t, a)
            for o in timed
        )  # fmt: skip

    assert front == {b.variant for b in timed if not beaten(b)}
    assert "cut" not in front  # no time: not on the time axis, not on the front
    assert 1 < len(front) < len(timed)
    ordered = tune_trials.front(grid).front  # fastest first: each slower one more accurate
    assert all(a.time < b.time and a.accuracy < b.accuracy for a, b in itertools.pairwise(ordered))


def tune_run(tmp_path):
    """A saved tune run of the synthetic search, its trials' accuracies spread out."""
    search = greedy(SWITCHES, Synthetic())
    for i, t in enumerate(search.trials.values()):
        t.accuracy = 0.95 + (i % 4) / 100
    result = output.Result(list(SWITCHES), {}, search)
    result.seed_times = {search.winner: [10.0, 11.0], search.baseline: [100.0, 90.0]}
    data = output.run_json(result, {"model": "small_cnn", "dataset": "mnist5k"}, 0.97, {})
    return results.load(output.save(tmp_path / "tune" / "20260101-120000.json", data)), search


def test_a_saved_tune_run_is_reported_with_its_trials_plotted(tmp_path):
    run, search = tune_run(tmp_path)
    md = write_report(run, [run], tmp_path / "report").read_text()
    assert (tmp_path / "report" / "tune_trials.png").stat().st_size > 10_000
    assert "## Tune: the trials" in md and "](tune_trials.png)" in md
    front = tune_trials.front(tune_trials.trials(run)).front
    line = next(x for x in md.splitlines() if "on the front" in x)
    assert line.count("`") == 2 * len(front) and all(f"`{p.name}`" in line for p in front)
    assert f"Recommended: `{search.winner.label(SWITCHES)}`." in md
    untimed = [t for t in search.trials.values() if not t.reached and t.config != search.baseline]
    assert untimed and f"{len(untimed)} more trials have no time" in md


def test_a_run_without_tune_trials_has_no_such_section(tmp_path):
    run = as_run(run_data([bench("small", steady(10.0), "model_size", "small", "small")]))
    md = write_report(run, [run], tmp_path / "report").read_text()
    assert "Tune" not in md
    assert not (tmp_path / "report" / "tune_trials.png").exists()


def test_the_site_shows_the_tune_runs_reports(tmp_path):
    run, _ = tune_run(tmp_path)
    (tmp_path / "tune" / "notes.json").write_text("{not json")  # named and skipped
    saved_history(tmp_path / "storage")
    history = hseries.read_history(tmp_path / "storage", lambda _: None)
    said = []
    site.write_site(history, tmp_path / "site", reports_per_machine=0, say=said.append,
                    tune=tmp_path / "tune")  # fmt: skip
    index = (tmp_path / "site" / "index.html").read_text()
    assert "<h2>Tune runs</h2>" in index
    assert f'href="runs/tune/{run.label}/index.html"' in index
    assert (tmp_path / "site" / "runs" / "tune" / run.label / "tune_trials.png").is_file()
    assert any("notes.json" in s and "skipped" in s for s in said)
    bare = tmp_path / "bare"
    site.write_site(history, bare, reports_per_machine=0, say=said.append)
    assert "Tune runs" not in (bare / "index.html").read_text()
