"""Accuracy differences paired over images: two models scored on the same test images are
judged by the images on which they disagree (McNemar's exact test, a paired bootstrap
over images with seeds), the unpaired binomial rule kept where the images differ or the
outcomes were not saved."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from visionbench.data import SplitData, load_digits, split
from visionbench.measure import metrics
from visionbench.measure.figures import (
    eval_set_of,
    infos_difference,
    outcomes_of,
    pack_outcomes,
    paired_images,
)
from visionbench.stats.equivalence import BETTER, SAME, UNRESOLVED, judge
from visionbench.stats.outcomes import PairedImages, mcnemar_interval
from visionbench.training.train import TrainConfig
from visionbench.training.workloads import TrainedModels, Workload

TOLERANCE = 0.01  # the gate's default accuracy tolerance: 1 pt


def outcomes(n: int, wrong: set[int]) -> np.ndarray:
    hits = np.ones(n, dtype=bool)
    hits[list(wrong)] = False
    return hits


def info(hits: list[np.ndarray], labels: np.ndarray, **extra) -> dict:
    """A saved figure's extra_info with its outcomes, one array per seed."""
    accs = [float(h.mean()) for h in hits]
    return {
        "accuracy": float(np.mean(accs)),
        "accuracy_std": float(np.std(accs, ddof=1)) if len(accs) > 1 else 0.0,
        "seeds": len(hits),
        "eval_images": len(labels),
        "eval_set": eval_set_of(labels),
        "dataset": "mnist5k",
        "accuracy_outcomes": [pack_outcomes(h) for h in hits],
        **extra,
    }


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(500, 1200),
    shared=st.floats(0.04, 0.15),  # both models wrong on these
    gain=st.integers(0, 3),  # pt/10 of images only the variant gets right
)
def test_two_models_that_disagree_on_few_images_read_same_paired_not_unpaired(n, shared, gain):
    labels = np.arange(n) % 10
    common = set(range(int(shared * n)))
    only = set(range(len(common), len(common) + gain * n // 1000))
    a = info([outcomes(n, common)], labels)
    b = info([outcomes(n, common | only)], labels)
    paired, unpaired = infos_difference(a, b), infos_difference(a, {**b, "eval_set": "other"})
    assert paired.paired is not None and unpaired.paired is None
    assert paired.change == pytest.approx(unpaired.change)
    # at most 0.3 pt apart, all on images only one of them gets right: "same" when paired;
    # unpaired, the binomial noise of both accuracies (±1.1 pt or more here) cannot say it
    assert judge(paired, TOLERANCE).verdict == SAME
    assert judge(unpaired, TOLERANCE).verdict == UNRESOLVED


def test_a_real_difference_the_unpaired_rule_cannot_resolve_is_flagged_paired():
    n = 1000
    labels = np.arange(n) % 10
    common = set(range(90))  # 91% and 89.5%: 15 images only the variant gets right
    a = info([outcomes(n, common)], labels)
    b = info([outcomes(n, common | set(range(90, 105)))], labels)
    unpaired = infos_difference(a, {**b, "eval_set": None})
    paired = infos_difference(a, b)
    assert judge(unpaired, TOLERANCE).verdict == UNRESOLVED  # ±2.2 pt of noise
    judged = judge(paired, TOLERANCE)
    assert judged.verdict == BETTER and judged.low > 0  # 15 of 15 discordant: p < 1e-4


@settings(max_examples=25, deadline=None)
@given(seeds=st.integers(1, 4), n=st.integers(50, 2000), p=st.floats(0.1, 1.0), seed=st.integers())
def test_the_same_model_with_the_same_seed_reads_same(seeds, n, p, seed):
    """A/A: identical outcomes, whatever they are, are the same accuracy."""
    labels = np.arange(n) % 7
    rng = np.random.default_rng(abs(seed))
    hits = [rng.random(n) < p for _ in range(seeds)]
    diff = infos_difference(info(hits, labels), info(hits, labels))
    assert diff.paired is not None and diff.change == 0
    assert judge(diff, TOLERANCE).verdict == SAME


def test_other_images_or_no_outcomes_fall_back_to_the_unpaired_rule():
    n = 1000
    labels = np.arange(n) % 10
    a = info([outcomes(n, set(range(40)))], labels)
    b = info([outcomes(n, set(range(45)))], labels)
    other_split = info([outcomes(n, set(range(45)))], labels[::-1])
    shorter = info([outcomes(n - 8, set(range(45)))], labels[:-8])
    old = {k: v for k, v in b.items() if k not in ("accuracy_outcomes", "eval_set")}
    other_data = {**b, "dataset": "gradations"}
    assert paired_images(a, b) is not None

    def unpaired(x):
        return {k: v for k, v in x.items() if k not in ("accuracy_outcomes", "eval_set")}

    for other in (other_split, shorter, old, other_data):
        assert paired_images(a, other) is None
        diff, today = infos_difference(a, other), infos_difference(unpaired(a), unpaired(other))
        assert diff.paired is None and diff.interval() == today.interval()
        assert diff.half_width() == pytest.approx(1.6449 * today.se_images, rel=1e-4)
    # outcomes that do not fit their eval_images or seeds are not read
    assert outcomes_of({**b, "eval_images": n + 64}) is None
    assert outcomes_of({**b, "seeds": 2}) is None
    assert outcomes_of({**b, "accuracy_outcomes": ["zz"]}) is None


@given(st.lists(st.booleans(), min_size=1, max_size=300))
def test_outcomes_pack_into_hex_and_back(hits):
    packed = info([np.array(hits)], np.zeros(len(hits)))
    assert len(packed["accuracy_outcomes"][0]) == 2 * ((len(hits) + 7) // 8)
    assert outcomes_of(packed).tolist() == [hits]
    metrics.validate({"accuracy_outcomes": packed["accuracy_outcomes"]})


def test_the_schema_refuses_outcomes_that_are_not_hex_per_seed():
    for bad in ("ff", ["fg"], ["ff", "fff0"], [], [3]):
        with pytest.raises(metrics.SchemaError, match="accuracy_outcomes"):
            metrics.validate({"accuracy_outcomes": bad})


@given(
    only_a=st.integers(0, 60), only_b=st.integers(0, 60), more=st.integers(0, 500),
    confidence=st.sampled_from([0.9, 0.95]),
)  # fmt: skip
def test_mcnemars_interval_holds_the_estimate_and_zero_when_the_split_is_even(
    only_a, only_b, more, confidence
):
    n = only_a + only_b + more + 1
    low, high = mcnemar_interval(only_a, only_b, n, confidence)
    assert low <= (only_a - only_b) / n <= high
    assert -(only_a + only_b) / n - 1e-12 <= low and high <= (only_a + only_b) / n + 1e-12
    if only_a == only_b:
        assert low <= 0 <= high


def test_with_several_seeds_the_bootstrap_over_images_is_deterministic_and_holds_the_estimate():
    rng = np.random.default_rng(1)
    a = rng.random((3, 800)) < 0.95
    b = a.copy()
    b[:, :12] = ~b[:, :12]  # a few images flip under the reference, in every seed
    first, second = PairedImages(a, b), PairedImages(a, b)
    assert first.method == "a paired bootstrap over images"
    low, high = first.interval(0.9)
    assert (low, high) == second.interval(0.9)
    assert low <= first.change <= high and high - low < 0.02
    assert first.interval(0.95)[0] <= low


def test_the_training_keeps_each_seeds_outcomes_and_an_a_a_pair_reads_same():
    """Two trainings of the same variant with the same seed (separate caches): the same
    outcomes image by image, so the same accuracy, resolved; their mean is the accuracy."""
    train, test = split(load_digits(), 0.2, seed=0)
    data = SplitData("digits", train, test)
    work = Workload("small_cnn", 8, TrainConfig(epochs=1, batch_size=64, max_steps=6))
    torch.manual_seed(0)
    first = TrainedModels(log=lambda _: None).get(work, data, torch.device("cpu"), seeds=2)
    again = TrainedModels(log=lambda _: None).get(work, data, torch.device("cpu"), seeds=2)
    a, b = first.figures(), again.figures()
    metrics.validate(a)
    hits = outcomes_of(a)
    assert hits.shape == (2, len(test)) and a["eval_set"] == eval_set_of(test.labels.numpy())
    assert hits.mean() == pytest.approx(a["accuracy"])
    diff = infos_difference(a, b)
    assert diff.paired is not None and judge(diff, TOLERANCE).verdict == SAME


def _paired(n: int, only_base: int, only_cand: int, shared: int = 50) -> PairedImages:
    """Candidate against baseline, one seed each: both wrong on `shared` images, each
    right alone on its own few."""
    base = outcomes(n, set(range(shared)) | set(range(shared, shared + only_cand)))
    cand_wrong = set(range(shared)) | set(range(shared + only_cand, shared + only_cand + only_base))
    return PairedImages(outcomes(n, cand_wrong)[None], base[None])


@pytest.mark.parametrize(
    ("only_base", "only_cand", "paired_verdict", "unpaired_verdict"),
    [
        (15, 0, "regression", "regression"),  # 15 of 15 discordant against: shown
        (40, 25, "inconclusive", "regression"),  # 1.5 pt, but 40 against 25: p = 0.08
        (3, 0, "unchanged", "unchanged"),  # −0.3 pt, at most 0.6 pt at 98%
        (0, 15, "improvement", "improvement"),
    ],
)
def test_the_gate_judges_one_seeds_accuracy_on_the_images_the_runs_disagree_on(
    only_base, only_cand, paired_verdict, unpaired_verdict
):
    from visionbench.stats.between_runs import compare_accuracy

    pair = _paired(1000, only_base, only_cand)
    base, cand = float(pair.b.mean()), float(pair.a.mean())
    judged = compare_accuracy(base, cand, tolerance=TOLERANCE, alpha=0.01, paired=pair)
    assert judged[0] == paired_verdict
    assert compare_accuracy(base, cand, tolerance=TOLERANCE, alpha=0.01)[0] == unpaired_verdict


def test_the_gate_reads_the_same_run_twice_as_unchanged_paired():
    from visionbench.stats.between_runs import compare_accuracy

    hits = np.random.default_rng(3).random((3, 500)) < 0.9
    pair = PairedImages(hits, hits.copy())
    acc = float(hits.mean())
    verdict, _, _ = compare_accuracy(
        acc, acc, tolerance=TOLERANCE, alpha=0.01, base_std=0.02, base_seeds=3, cand_std=0.02,
        cand_seeds=3, paired=pair,
    )  # fmt: skip
    assert verdict == "unchanged"  # Welch on the seeds' own spread (2 pt) could not say so
    assert compare_accuracy(
        acc, acc, tolerance=TOLERANCE, alpha=0.01, base_std=0.02, base_seeds=3, cand_std=0.02,
        cand_seeds=3,
    )[0] == "inconclusive"  # fmt: skip
