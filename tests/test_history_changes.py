"""Change points: a step at one commit is found there, and only there; a flat noisy
history has none; `visionbench history --changes` lists them."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from gate_helpers import MACHINE
from history_helpers import commit, history_run, write
from hypothesis import given, settings
from hypothesis import strategies as st

from visionbench import cli
from visionbench.gate.config import GateConfig
from visionbench.history.changes import MIN_RUNS, find_steps, scan
from visionbench.history.series import all_series, read_history

TOLERANCE, ALPHA = GateConfig().tolerance["time"], GateConfig().alpha


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    before=st.integers(MIN_RUNS, 15),
    after=st.integers(MIN_RUNS, 15),
    noise=st.lists(st.floats(-0.02, 0.02), min_size=30, max_size=30),
    level=st.floats(1e-4, 10.0),
)
def test_a_20_percent_step_is_found_at_its_commit_and_nowhere_else(before, after, noise, level):
    """Any pattern of ±2% noise between runs (even one that drifts), a +20% step."""
    values = [level * (1 + e) for e in noise[: before + after]]
    values[before:] = [v * 1.2 for v in values[before:]]
    (step,) = find_steps(values, relative=True, tolerance=TOLERANCE, alpha=ALPHA)
    assert step.index == before
    assert step.size == pytest.approx(0.2, abs=0.05)
    assert step.text().startswith("+")


def test_a_flat_noisy_history_has_no_change_point():
    """Gaussian noise of 5% between runs (half the tolerance): 300 histories of 6 to 60
    runs, none with a change point."""
    found = 0
    for seed in range(300):
        rng = np.random.default_rng(seed)
        n = int(rng.integers(6, 61))
        found += bool(find_steps(0.01 * np.exp(rng.normal(0, 0.05, n)), True, TOLERANCE, ALPHA))
    assert found == 0


def test_noise_beyond_the_tolerance_rarely_makes_a_step():
    """15% Gaussian noise, or heavy-tailed noise (t, 3 degrees of freedom): steps beyond
    the tolerance appear by chance, and the test must reject nearly all of them."""
    for draw in (lambda r, n: r.normal(0, 0.15, n), lambda r, n: 0.05 * r.standard_t(3, n)):
        found = 0
        for seed in range(200):
            rng = np.random.default_rng(seed)
            found += bool(find_steps(0.01 * np.exp(draw(rng, 40)), True, TOLERANCE, ALPHA))
        assert found <= 6  # 3%; without the t-test (tolerance alone) most would have one


def test_two_steps_are_both_found():
    values = [1.0] * 6 + [1.3] * 6 + [1.0] * 6
    values = [v * (1 + 0.01 * ((i * 7) % 5 - 2)) for i, v in enumerate(values)]
    steps = find_steps(values, True, TOLERANCE, ALPHA)
    assert [s.index for s in steps] == [6, 12]
    assert steps[0].size > 0 > steps[1].size


@pytest.mark.parametrize("runs_after", range(1, MIN_RUNS))
def test_the_newest_runs_alone_are_not_a_change_point(runs_after):
    values = [1.0, 1.01, 0.99, 1.0, 1.02, 0.98] + [1.5] * runs_after
    assert find_steps(values, True, TOLERANCE, ALPHA) == []


def test_accuracy_steps_are_in_points_and_need_the_tolerance():
    flat = [0.90, 0.905, 0.897, 0.902, 0.899, 0.903, 0.898, 0.901]
    assert find_steps(flat, False, 0.01, ALPHA) == []
    dropped = flat[:4] + [v - 0.05 for v in flat[4:]]
    (step,) = find_steps(dropped, False, 0.01, ALPHA)
    assert step.index == 4 and step.size == pytest.approx(-0.05, abs=0.002)
    assert step.text() == f"{step.size * 100:+.1f} pt"


def test_a_constant_figure_that_moves_once_is_a_change_point():
    """Memory is often the same to the byte run after run: a step is certain."""
    (step,) = find_steps([100.0] * 4 + [130.0] * 3, True, 0.05, ALPHA)
    assert step.index == 4 and step.p_value == 0.0


def test_short_or_non_positive_series_give_nothing():
    assert find_steps([1.0, 2.0, 3.0], True, TOLERANCE, ALPHA) == []
    with pytest.raises(ValueError, match="positive"):
        find_steps([1.0, 0.0, 1.0, 1.0, 1.0, 1.0], True, TOLERANCE, ALPHA)


# -- in a saved history ---------------------------------------------------------------------


def stepped_history(root, step_at=5, runs=9):
    """Runs 1..runs of this machine; from commit `step_at` on, every time 20% slower."""
    for i in range(1, runs + 1):
        step = 1.2 if i >= step_at else 1.0
        data = history_run(i, speed=step / (1 + 0.01 * i))  # no drift: a step alone
        for b in data["benchmarks"]:  # the same figures every run, but for the step
            b["extra_info"]["accuracy"] = 0.9
            b["extra_info"]["peak_mem_bytes"] = 100 << 20
            if "ratio_vs_ref" in b["extra_info"]:
                b["extra_info"] |= {"ratio_vs_ref": 1.4, "ratio_ci_low": 1.3, "ratio_ci_high": 1.5}
        write(root, MACHINE, i, f"run{i}", data)


def test_a_step_in_a_saved_history_is_dated_between_its_commits(tmp_path):
    root = tmp_path / "storage"
    stepped_history(root)
    history = read_history(root, lambda _: None)
    changes = scan(all_series(history))
    assert {c.series.metric for c in changes} == {"time"}
    assert len(changes) == 4  # every benchmark's time, once each
    for c in changes:
        assert c.commits() == f"{commit(4)[:8]}..{commit(5)[:8]}"
        assert c.step.size == pytest.approx(0.2, abs=0.03)


def test_history_changes_lists_them_as_a_table(tmp_path, capsys):
    root = tmp_path / "storage"
    stepped_history(root)
    assert cli.main(["history", "--changes", "--storage", str(root), "-k", "resnet18"]) == 0
    out = capsys.readouterr().out
    (row,) = [line for line in out.splitlines() if "bench_step[resnet18]" in line]
    assert f"{commit(4)[:8]}..{commit(5)[:8]}" in row and "+20" in row and "time" in row
    assert "1 change point(s) in 4 series of 9 runs on 1 machine(s)" in out
    for header in ("commits", "benchmark", "figure", "step", "machine"):
        assert header in out


def test_history_changes_on_a_flat_history_says_none(tmp_path, capsys):
    root = tmp_path / "storage"
    stepped_history(root, step_at=99)
    assert cli.main(["history", "--changes", "--storage", str(root)]) == 0
    assert "0 change point(s) in" in capsys.readouterr().out


def test_history_changes_bad_input(tmp_path, capsys):
    root = tmp_path / "storage"
    stepped_history(root, runs=2)
    assert cli.main(["history", "--changes", "--storage", str(root), "--metric", "flops"]) == 2
    assert "--metric 'flops'" in capsys.readouterr().err
    assert cli.main(["history", "--changes", "--storage", str(tmp_path / "none")]) == 2
    assert "does not exist" in capsys.readouterr().err
    # the plain history still works as before
    assert cli.main(["history", "--storage", str(root)]) == 0
    assert "median time per unit" in capsys.readouterr().out


def test_the_site_marks_each_change_point_with_its_commits_and_size(tmp_path):
    root = tmp_path / "storage"
    stepped_history(root)
    out = tmp_path / "site"
    assert cli.main(["site", "--storage", str(root), "--out", str(out), "--reports", "0"]) == 0
    index = (out / "index.html").read_text()
    span = f"{commit(4)[:8]}..{commit(5)[:8]}"
    assert index.count(span) == 4  # the index's table: every benchmark's time
    assert index.count(f"visionbench bisect {commit(4)[:8]}") == 4  # the command finding it
    page = (out / "technique-model_size.html").read_text()
    assert page.count(span) == 2  # the page's table: its two benchmarks
    layout = json.loads(re.search(r'"shapes":(\[.*?\])', page).group(1))
    (shade,) = [s for s in layout if s["type"] == "rect"]  # one shade for both steps
    assert (shade["x0"], shade["x1"]) == (
        f"2026-01-04 {commit(4)[:8]}",
        f"2026-01-05 {commit(5)[:8]}",
    )
    assert "small: +20" in page and "resnet18: +20" in page  # the sizes, on the figure
