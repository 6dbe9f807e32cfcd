"""Equivalence, not absence of evidence: one rule words every noisy accuracy difference
(the summary, the report's tables, the gate's accuracy rows)."""

from __future__ import annotations

import math
import re

import pytest
from gate_helpers import as_run, bench, run_data, steady
from hypothesis import assume, given
from hypothesis import strategies as st

from visionbench.gate import runs as gate_runs
from visionbench.gate.config import GateConfig
from visionbench.measure.figures import figure_of
from visionbench.report import knee, sections, summary
from visionbench.stats.equivalence import (
    SAME,
    UNRESOLVED,
    Difference,
    Figure,
    accuracy_difference,
    judge,
)

TOL = 0.01  # the gate's default accuracy tolerance: 1 pt


def test_ten_points_down_with_eleven_points_of_noise_is_not_resolved():
    judged = judge(Difference.of_noise(-0.10, 0.11, images=80), TOL)
    assert judged.verdict == UNRESOLVED
    assert judged.text().startswith("not resolved: ±11.0 pt of noise; about ")
    assert judged.text().endswith("more test images would resolve 10.0 pt")


def test_a_small_drop_well_inside_its_noise_and_the_tolerance_is_the_same():
    judged = judge(Difference.of_noise(-0.003, 0.005), TOL)
    assert judged.verdict == SAME
    assert judged.text() == "same: 90% interval −0.8 to +0.2 pt, within ±1.0 pt"


@pytest.mark.parametrize(
    ("change", "noise", "verdict"),
    [
        (-0.03, 0.005, "worse"),  # interval −3.5..−2.5: excludes 0, estimate beyond 1 pt
        (0.03, 0.005, "better"),
        (-0.008, 0.005, UNRESOLVED),  # −1.3..−0.3: neither inside ±1 pt nor clear of 0
        (-0.005, 0.0, SAME),  # no noise: the estimate against the tolerance, as the gate
        (-0.02, 0.0, "worse"),
        (-0.015, 0.01, "worse"),  # −2.5..−0.5: excludes 0, the estimate beyond 1 pt
        (-0.009, 0.006, UNRESOLVED),  # −1.5..−0.3: the estimate within 1 pt, the interval not
    ],
)
def test_the_rule(change, noise, verdict):
    assert judge(Difference.of_noise(change, noise), TOL).verdict == verdict


def test_the_binomial_noise_of_the_test_images_does_not_shrink_with_seeds():
    """Every seed is scored on the same test images: three seeds with no spread still
    carry the binomial noise of 1,000 images (about ±1.4 pt at 96%, 90%)."""
    a, b = Figure(0.96, 1000, seeds=3, std=0.0), Figure(0.96, 1000, seeds=3, std=0.0)
    one = Figure(0.96, 1000)
    assert accuracy_difference(a, b).half_width() == pytest.approx(
        accuracy_difference(one, one).half_width()
    )
    assert accuracy_difference(one, one).half_width() == pytest.approx(
        1.645 * math.sqrt(2 * 0.96 * 0.04 / 1000), rel=1e-3
    )


def test_the_seed_spread_uses_students_t_and_a_one_seed_side_borrows_it():
    spread = Figure(0.9, None, seeds=3, std=0.02)
    diff = accuracy_difference(spread, Figure(0.9, None, seeds=3, std=0.02))
    se = math.sqrt(2 * 0.02**2 / 3)
    assert diff.df_seeds == pytest.approx(4)  # Welch with equal spreads: 2 (3 - 1)
    assert diff.half_width() == pytest.approx(2.132 * se, rel=1e-3)  # t(4) at 95%, one side
    borrowed = accuracy_difference(spread, Figure(0.9, None, seeds=1, std=0.0))
    assert borrowed.se_seeds == pytest.approx(math.sqrt(0.02**2 / 3 + 0.02**2))


def test_more_seeds_are_asked_for_when_the_seed_spread_dominates():
    diff = accuracy_difference(Figure(0.90, None, 3, 0.03), Figure(0.905, None, 3, 0.03))
    judged = judge(diff, TOL)
    assert judged.verdict == UNRESOLVED and judged.more_seeds and judged.more_seeds > 3
    assert re.search(r"about \d+ more seeds would resolve 0\.5 pt", judged.text())


def test_an_unknown_test_size_says_so():
    judged = judge(Difference.of_noise(-0.05, 0.06), TOL)
    assert "more test images (their number was not recorded)" in judged.text()


changes = st.floats(-0.5, 0.5, allow_nan=False)
noises = st.floats(0.0, 0.3, allow_nan=False)
# from a thousandth of a point up: at subnormal tolerances `tol * (1 - 1e-9)` rounds back
# to `tol` itself, the edge where rounding decides
tolerances = st.floats(1e-5, 0.2, allow_nan=False)


unit = st.floats(0.0, 1.0, allow_nan=False)


@given(tolerances, unit, st.floats(-1.0, 1.0, allow_nan=False))
def test_an_interval_inside_the_tolerance_is_never_not_resolved(tol, share, where):
    """Any interval inside ±tol: noise a share of it, the estimate anywhere that fits."""
    inner = tol * (1 - 1e-9)  # not on the edge itself, where rounding decides
    noise = inner * share
    change = where * (inner - noise)
    assert judge(Difference.of_noise(change, noise), tol).verdict == SAME


@given(changes, noises, tolerances)
def test_an_interval_straddling_the_tolerance_is_never_same(change, noise, tol):
    low, high = change - noise, change + noise
    assume(low < -tol < high or low < tol < high)
    assert judge(Difference.of_noise(change, noise), tol).verdict != SAME


@given(changes, st.floats(0.001, 0.3), st.floats(0.001, 0.2), st.integers(50, 100_000))
def test_the_test_images_it_asks_for_do_resolve_it(change, noise, tol, images):
    """Binomial noise only: with the images it asks for (the estimate unchanged), the
    difference is no longer unresolved."""
    diff = Difference.of_noise(change, noise, images=images)
    judged = judge(diff, tol)
    assume(judged.verdict == UNRESOLVED and judged.more_images is not None)
    assume(judged.resolve is not None and judged.resolve > 1e-6)
    n = images + judged.more_images
    more = Difference(change, se_images=diff.se_images * math.sqrt(images / n), images=n)
    assert judge(more, tol).verdict != UNRESOLVED


# -- the same words in the summary, the report's tables, the gate -----------------------


def _accuracy_run(ref_acc, acc, images, technique="adaptive_selection", **extra):
    return [
        bench(f"{technique}-ref", steady(10), technique=technique, variant="ref",
              reference="ref", accuracy=ref_acc, eval_images=images, seeds=1,
              dataset="gradations", device="cpu", **extra),
        bench(f"{technique}-fast", steady(0.12), technique=technique, variant="fast",
              reference="ref", accuracy=acc, eval_images=images, seeds=1,
              dataset="gradations", device="cpu", **extra),
    ]  # fmt: skip


def test_a_fixture_run_reads_not_resolved_and_same_in_the_summary():
    """The issue's two cases in one run: −10 pt with ±11 pt of noise (80 test images)
    is not resolved; −0.3 pt with ±0.5 pt (6,000 test images) is the same accuracy."""
    run = as_run(run_data([
        *_accuracy_run(0.80, 0.70, 80),
        *_accuracy_run(0.973, 0.970, 6000, technique="precision"),
    ]))  # fmt: skip
    md = summary.summary_markdown(run)
    rows = {line.split("|")[1].strip(): line for line in md.splitlines() if line.startswith("| ")}
    selection, precision = rows["adaptive_selection"], rows["precision"]
    assert "83× faster, accuracy not resolved (±11.2 pt)" in selection
    assert re.search(
        r"−10\.0 pt; not resolved: ±11\.2 pt of noise; about \d+ more test images would "
        r"resolve 10\.0 pt",
        selection,
    )
    assert "83× faster, same accuracy" in precision
    assert "−0.3 pt; same: 90% interval −0.8 to +0.2 pt, within ±1.0 pt" in precision

    table = sections.technique_table(
        [b for b in run.benchmarks.values() if b.technique == "adaptive_selection"]
    )
    assert "−10.0 pt: not resolved (±11.2 pt)" in table


def test_the_knee_and_the_summary_share_one_noise_model():
    a = {"accuracy": 0.93, "eval_images": 500, "seeds": 3, "accuracy_std": 0.01}
    b = {"accuracy": 0.95, "eval_images": 500, "seeds": 3, "accuracy_std": 0.02}
    diff = accuracy_difference(figure_of(a), figure_of(b))
    assert knee.difference_noise(a, b) == pytest.approx(diff.half_width(0.95))


def test_the_gate_keeps_its_decision_and_words_accuracy_the_same_way():
    """One seed, 80 test images: 10 pt lower is beyond the tolerance, so the gate fails
    it as before; 0.5 pt lower it calls unchanged, as before. Its detail says what the
    interval shows of both: ±11 pt of noise resolves neither."""
    config = GateConfig()
    for cand_acc, verdict in ((0.70, "regression"), (0.795, "unchanged")):
        base = as_run(run_data([bench("a", steady(10), accuracy=0.80, eval_images=80)]))
        cand = as_run(run_data([bench("a", steady(10), accuracy=cand_acc, eval_images=80)]))
        rows = gate_runs.compare_runs(base, cand, config)
        row = next(r for r in rows if r.metric == "accuracy")
        assert row.verdict == verdict
        assert row.note.startswith("seeds 1/1; not resolved: ±")
        assert gate_runs.is_failure(row) == (verdict == "regression")


def test_the_gate_says_same_where_the_interval_shows_it():
    base = as_run(run_data([bench("a", steady(10), accuracy=0.970, eval_images=50_000)]))
    cand = as_run(run_data([bench("a", steady(10), accuracy=0.969, eval_images=50_000)]))
    rows = gate_runs.compare_runs(base, cand, GateConfig())
    row = next(r for r in rows if r.metric == "accuracy")
    assert row.verdict == "unchanged" and "same: 90% interval" in row.note
