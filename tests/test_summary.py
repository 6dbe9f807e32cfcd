"""The report's summary verdicts and the recipe ladder, on constructed runs."""

import pytest
from gate_helpers import FINGERPRINT, as_run, bench, run_data, steady
from hypothesis import given, settings
from hypothesis import strategies as st

from visionbench import report
from visionbench.gate.config import GateConfig
from visionbench.report import ladder, sections, summary, tradeoffs
from visionbench.report.evidence import TimeEvidence
from visionbench.report.summary import verdict
from visionbench.stats.equivalence import Difference

MIB = 1 << 20


def acc(change, noise):
    """An accuracy difference with `noise` the half-width of its 90% (TOST) interval."""
    return None if change is None else Difference.of_noise(change, noise)


@pytest.mark.parametrize(
    ("ratio", "change", "noise", "expected"),
    [
        (0.476, 0.0, 0.005, "2.1× faster, same accuracy"),
        (0.95, 0.002, 0.005, "no difference beyond noise"),  # 5% is within the 10% tolerance
        (1.08, None, 0.0, "no difference beyond noise"),
        (0.5, -0.03, 0.005, "2× faster but −3.0 pt"),
        (0.5, 0.02, 0.005, "2× faster and +2.0 pt"),
        (1.5, 0.0, 0.01, "1.5× slower, same accuracy"),
        (1.0, -0.03, 0.005, "same time, −3.0 pt"),
        # a 3 pt drop inside 4 pt of noise: not "same", the data cannot tell
        (0.5, -0.03, 0.04, "2× faster, accuracy not resolved (±4.0 pt)"),
        (0.012, -0.10, 0.112, "83× faster, accuracy not resolved (±11.2 pt)"),  # the issue's
        (0.5, -0.003, 0.005, "2× faster, same accuracy"),  # -0.8..+0.2 pt inside ±1 pt
        (1.0, -0.003, 0.005, "no difference beyond noise"),
        (1.0, -0.005, 0.01, "same time, accuracy not resolved (±1.0 pt)"),
        (0.25, None, 0.0, "4× faster"),
    ],
)
def test_verdicts_respect_the_tolerances_and_the_noise(ratio, change, noise, expected):
    assert verdict(TimeEvidence(ratio), acc(change, noise)) == expected


def test_the_time_tolerance_is_read_from_the_gate_configuration():
    loose = GateConfig(tolerance={**GateConfig().tolerance, "time": 0.5})
    assert verdict(TimeEvidence(0.75), acc(0.0, 0)) == "1.33× faster, same accuracy"
    assert verdict(TimeEvidence(0.75), acc(0.0, 0), config=loose) == "no difference beyond noise"


def test_the_accuracy_tolerance_is_read_from_the_gate_configuration():
    loose = GateConfig(tolerance={**GateConfig().tolerance, "accuracy": 0.05})
    assert verdict(TimeEvidence(0.5), acc(-0.03, 0.01)) == "2× faster but −3.0 pt"
    assert verdict(TimeEvidence(0.5), acc(-0.03, 0.01), config=loose) == (
        "2× faster, same accuracy"
    )


def test_an_interval_that_includes_no_change_is_no_difference():
    assert verdict(TimeEvidence(0.6, low=0.4, high=1.05), None) == "no difference beyond noise"
    assert verdict(TimeEvidence(0.6, low=0.5, high=0.7), None) == "1.67× faster"


def test_memory_is_mentioned_only_beyond_its_tolerance():
    assert verdict(TimeEvidence(1.0), None, memory_ratio=1.02) == "no difference beyond noise"
    assert verdict(TimeEvidence(1.0), None, memory_ratio=0.5).endswith("; 0.5× the memory")


def _run():
    size = [
        bench(name, steady(ms), technique="model_size", reference="small",
              peak_mem_bytes=mem * MIB, accuracy=acc, accuracy_std=0.0, seeds=1,
              eval_images=1000, dataset="mnist5k", device="cpu")
        for name, ms, mem, acc in [("small", 5, 20, 0.95), ("big", 40, 180, 0.97),
                                   ("tiny", 2, 10, 0.80), ("slow", 60, 200, 0.90),
                                   ("lean", 50, 5, 0.90)]
    ]  # fmt: skip
    prec = [
        bench(f"p-{name}", steady(ms), technique="precision", variant=name, reference="fp32",
              accuracy=0.96, eval_images=1000, dataset="mnist5k", device="cpu")
        for name, ms in [("fp32", 10), ("bf16", 9.8)]
    ]  # fmt: skip
    return as_run(run_data([*size, *prec]))


def test_one_row_per_technique_and_a_sweep_as_its_pareto_front():
    run = _run()
    rows = {r.technique: r for r in summary.technique_rows(run)}
    assert set(rows) == {"precision"}
    # 96.0% on 1,000 test images both: ±1.4 pt of noise, wider than the 1 pt tolerance
    assert rows["precision"].verdict() == "same time, accuracy not resolved (±1.4 pt)"
    (sweep,) = tradeoffs.trade_offs(run)
    assert sweep.technique == "model_size" and sweep.reference == "small"
    # tiny is the fastest, big the most accurate, small between: no single best
    assert [p.name for p in sweep.front.front] == ["tiny", "small", "big"]
    # slow is slower and less accurate than big (and small); lean too, but needs less memory
    assert sweep.front.dominated_by["slow"] == ["small", "big"]
    assert [p.name for p in sweep.front.by_memory] == ["lean"]
    md = summary.summary_markdown(run)
    line = next(x for x in md.splitlines() if x.startswith("| model_size"))
    assert "front: tiny, small, big" in line and "best" not in line.split("|")[3]
    assert "slow (by small, big)" in line and "on the front by memory alone: lean" in line
    assert "### Trade-off: model_size (mnist5k, cpu, train_step)" in md
    assert "| slow " in md and "dominated by small, big" in md


def _rung(i, name, epoch_ms, times, acc=0.975, **extra):
    return bench(
        f"r{i}", steady(epoch_ms), technique="recipe", variant=name, reference="baseline",
        rung=i, switch=name, accuracy=acc, accuracy_std=0.002, seeds=len(times),
        eval_images=1000, dataset="mnist5k", device="cpu", model="small_cnn", image_size=16,
        epochs=6, target_accuracy=0.97, time_budget_s=2.0,
        time_to_target_s_per_seed=times,
        time_to_target_s=(sum(t for t in times if t is not None) / max(1, sum(
            t is not None for t in times))) if any(t is not None for t in times) else None,
        target_reached=sum(t is not None for t in times) / len(times),
        accuracy_in_budget_per_seed=[acc - 0.01] * len(times), **extra,
    )  # fmt: skip


def test_the_ladder_is_in_rung_order_with_speedups_and_a_plain_verdict():
    benches = [
        _rung(2, "+onecycle", 300, [1.0, 1.2, 1.1]),
        _rung(0, "baseline", 900, [4.0, 4.4, 4.2], left_out="+final_model (budget)"),
        _rung(1, "+resident", 320, [1.5, 1.6, 1.7]),
    ]
    run = as_run(run_data(benches))
    text = ladder.ladder_markdown(list(run.benchmarks.values()))
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    assert [line.split("|")[2].strip() for line in lines[1:]] == [
        "baseline", "+resident", "+onecycle",
    ]  # fmt: skip
    assert "2.63×" in lines[2]  # 4.2 s -> 1.6 s
    assert "1.45×" in lines[3] and "3.82×" in lines[3]  # over +resident, over the baseline
    assert "**The whole recipe pays:**" in text and "3.82× faster" in text
    assert "sooner on 3 of 3 paired seeds" in text
    assert "+final_model (budget)" in text
    assert "96.5% ± 0.0 pt" in lines[1]  # accuracy within the time budget

    row = summary.technique_rows(run)[0]
    assert row.variant == "+onecycle" and row.time.what == "time to 97.0%, paired over 3 seeds"
    assert row.time.low is not None and row.time.high < 1  # every seed's ratio about 0.26
    assert row.note == ""  # both reached the target on every seed: nothing to add


def test_seeds_without_an_epoch_in_the_budget_are_counted_not_averaged():
    assert ladder._budget_text([0.0, 0.0]) == "no epoch ended within it"
    assert ladder._budget_text([0.9, 0.0, 0.92]) == (
        "91.0% ± 1.4 pt (2/3 seeds; the others: no epoch within it)"
    )


def test_a_ladder_whose_last_rung_misses_the_target_says_so():
    benches = [_rung(0, "baseline", 900, [4.0, 4.4, 4.2]),
               _rung(1, "+augment", 300, [None, 5.0, None], acc=0.965)]  # fmt: skip
    text = ladder.ladder_markdown(list(as_run(run_data(benches)).benchmarks.values()))
    assert "**Not decided:**" in text and "1 of 3 seeds" in text
    assert "Why: seeds stop reaching it at +augment" in text and "96.5% against 97.5%" in text
    assert "n/a (1/3 vs 3/3 seeds reached)" in text
    (row,) = summary.technique_rows(as_run(run_data(benches)))
    assert row.time.what.endswith("time to target not comparable: 1/3 vs 3/3 seeds reached it")
    # the verdict itself says the faster epochs never got there on two seeds of three
    assert row.verdict().endswith("(reached 97.0% in 1/3 seeds, the reference in 3/3)")


def test_the_report_opens_with_the_summary_then_the_ladder(tmp_path):
    benches = [_rung(0, "baseline", 900, [4.0, 4.4, 4.2]), _rung(1, "+resident", 300, [1, 1, 1])]
    run = as_run(run_data([*benches, *_run().data["benchmarks"]]))
    md = report.write_report(run, [run], tmp_path).read_text()
    summary_at = md.index("## Summary")
    ladder_at = md.index("## The recipe ladder")
    details_at = md.index("# Details")
    assert summary_at < ladder_at < details_at < md.index("## model_size")
    assert "training split" not in md  # no train_accuracy recorded, no gap lines


def test_the_overfitting_gap_is_train_minus_test_accuracy():
    b = bench("aug", steady(5), technique="augmentation", variant="none", reference="none",
              accuracy=0.97, train_accuracy=0.995)  # fmt: skip
    (line,) = sections.gap_lines(list(as_run(run_data([b])).benchmarks.values()))
    assert line == (
        "- none: training split 99.5% (without augmentation), test 97.0%: a gap of 2.5 pt"
    )


def test_a_techniques_row_comes_from_its_main_group_not_its_overheads():
    policies = [
        bench(f"s-{name}", steady(ms), technique="adaptive_selection", variant=name,
              reference="big", accuracy=acc, eval_images=1000, dataset="mnist5k", device="cpu")
        for name, ms, acc in [("small", 1, 0.9), ("big", 10, 0.98), ("premodel", 4, 0.975)]
    ]  # fmt: skip
    overhead = [
        bench(f"o-{name}", steady(0.1), technique="adaptive_selection", variant=name,
              reference="big", dataset="mnist5k", device="cpu")
        for name in ("features", "features+premodel")
    ]  # fmt: skip
    for b in policies:
        b["group"] = "adaptive_selection:infer_batch"
    for b in overhead:
        b["group"] = "adaptive_selection:overhead"
    (row,) = summary.technique_rows(as_run(run_data([*policies, *overhead])))
    # premodel, the fastest whose accuracy is not proven worse: −0.5 pt on 1,000 test images
    # has ±1.1 pt of noise, more than the 1 pt tolerance, so "same" cannot be shown
    assert row.variant == "premodel"
    assert row.verdict() == "2.5× faster, accuracy not resolved (±1.1 pt)"


def _bf16_run(kernels: bool | None):
    """fp32 against bf16 on the CPU, bf16 7.7x slower, from a CPU with (True) or without
    (False) bf16 kernels, or from a run saved before the fingerprint said (None)."""
    prec = [
        bench(f"p-{name}", steady(ms), technique="precision", variant=name, reference="fp32",
              accuracy=0.96, eval_images=1000, dataset="mnist5k", device="cpu",
              **({"amp": "bf16"} if name == "bf16" else {}))
        for name, ms in [("fp32", 10), ("bf16", 77)]
    ]  # fmt: skip
    fp = dict(FINGERPRINT, cpu_model="AMD EPYC")
    if kernels is not None:
        fp["cpu_bf16_kernels"] = kernels
    return as_run(run_data(prec, fingerprint=fp))


def test_bf16_from_a_cpu_without_bf16_kernels_says_it_ran_emulated():
    run = _bf16_run(kernels=False)
    (row,) = summary.technique_rows(run)
    assert row.variant == "bf16"
    assert row.verdict() == (
        "7.7× slower, accuracy not resolved (±1.4 pt) (no bf16 kernels on this CPU: bf16 ran "
        "emulated)"
    )
    md = summary.summary_markdown(run)
    assert "(no bf16 kernels on this CPU: bf16 ran emulated)" in md
    assert "**bf16 on this CPU:** AMD EPYC has no bf16 kernels" in md
    assert "AMD EPYC has no bf16 kernels" in report.summary_text(run)


@pytest.mark.parametrize("kernels", [True, None], ids=["bf16_kernels", "not_recorded"])
def test_bf16_is_not_called_emulated_where_the_cpu_has_kernels_or_did_not_say(kernels):
    run = _bf16_run(kernels)
    (row,) = summary.technique_rows(run)
    assert row.verdict() == "7.7× slower, accuracy not resolved (±1.4 pt)"
    assert "emulated" not in summary.summary_markdown(run)
    assert "bf16 kernels" not in report.summary_text(run)


def test_bf16_on_a_gpu_is_never_called_emulated():
    run = _bf16_run(kernels=False)
    for b in run.benchmarks.values():
        b.extra_info["device"] = "cuda:0"
    assert "emulated" not in summary.summary_markdown(run)


def _selection_run(latencies: dict[str, float], accuracies: dict[str, float]):
    policies = [
        bench(f"s-{name}", steady(ms), technique="adaptive_selection", variant=name,
              reference="big", accuracy=accuracies[name], eval_images=1000, dataset="mnist5k",
              device="cpu")
        for name, ms in latencies.items()
    ]  # fmt: skip
    for b in policies:
        b["group"] = "adaptive_selection:infer_batch"
    return as_run(run_data(policies))


def test_the_oracle_is_a_bound_never_the_best_variant_and_its_headroom_is_said_apart():
    latencies = {"small": 1, "big": 10, "premodel": 4, "cascade": 6, "oracle": 2}
    accuracies = {"small": 0.85, "big": 0.98, "premodel": 0.975, "cascade": 0.98, "oracle": 0.99}
    (row,) = summary.technique_rows(_selection_run(latencies, accuracies))
    # the oracle is the fastest and the most accurate, yet premodel is the row's variant
    assert row.variant == "premodel"
    assert row.verdict() == (
        "2.5× faster, accuracy not resolved (±1.1 pt); oracle (a bound, not deployable) "
        "would be 5× faster, +1.0 pt: headroom 2× over premodel"
    )
    md = summary.summary_markdown(_selection_run(latencies, accuracies))
    assert "oracle vs" not in md and "premodel vs big" in md


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.floats(0.5, 20), min_size=5, max_size=5),
    st.lists(st.floats(0.5, 1.0), min_size=5, max_size=5),
)
def test_no_latency_or_accuracy_makes_a_bound_the_best_variant(times, accs):
    names = ["small", "big", "premodel", "cascade", "oracle"]
    run = _selection_run(dict(zip(names, times, strict=True)), dict(zip(names, accs, strict=True)))
    (row,) = summary.technique_rows(run)
    assert row.variant != "oracle" and "oracle (a bound, not deployable)" in row.verdict()
