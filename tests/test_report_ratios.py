"""The report's "time vs ref": the paired ratio with its interval and a verdict
that respects the noise; separate blocks are said to be separate."""

from __future__ import annotations

import pytest
from gate_helpers import as_run, bench, run_data, steady

from visionbench import report
from visionbench.report import plots, sections


def paired(ratio, low, high, rounds=20):
    return {"ratio_vs_ref": ratio, "ratio_ci_low": low, "ratio_ci_high": high,
            "paired_rounds": rounds}  # fmt: skip


@pytest.mark.parametrize(
    ("low", "high", "verdict"),
    [
        (0.60, 0.70, "faster"),
        (1.25, 1.40, "slower"),
        (0.93, 1.06, "no difference beyond noise"),
        (0.85, 1.02, "no difference beyond noise"),  # excludes neither 1 nor a big gain
        (0.93, 0.97, "within the 10% tolerance"),  # a real but small change
        (1.02, 1.30, "within the 10% tolerance"),  # slower, but not surely beyond 10%
        (None, None, "not paired: no interval"),
    ],
)
def test_time_verdicts_respect_the_interval_and_the_tolerance(low, high, verdict):
    assert report.time_verdict(low, high, tolerance=0.10) == verdict


def test_a_wider_tolerance_turns_a_clear_gain_into_no_change():
    assert report.time_verdict(0.80, 0.88, tolerance=0.10) == "faster"
    assert report.time_verdict(0.80, 0.88, tolerance=0.30) == "within the 30% tolerance"


def precision_run():
    return as_run(run_data([
        bench("fp32", steady(10), technique="precision", variant="fp32", reference="fp32"),
        bench("bf16", steady(7), technique="precision", variant="bf16", reference="fp32",
              **paired(0.71, 0.68, 0.74)),
        bench("zero", steady(10.2), technique="precision", variant="zero", reference="fp32",
              **paired(1.01, 0.97, 1.05)),
        bench("blocks", steady(30), technique="precision", variant="blocks", reference="fp32",
              paired_rounds=0),
    ]))  # fmt: skip


def test_the_table_states_each_ratio_with_its_interval_and_verdict():
    text = report.summary_text(precision_run())
    lines = {line.split()[0]: line for line in text.splitlines() if line.strip()}
    assert "0.71× [0.68–0.74×] faster" in lines["bf16"]
    assert "1.01× [0.97–1.05×] no difference beyond noise" in lines["zero"]
    assert "(blocks)" in lines["blocks"] and "3.0" in lines["blocks"]  # medians 30 / 10 ms
    assert "(ref)" in lines["fp32"] and "×" not in lines["fp32"].split("(ref)")[1]


def test_the_chart_draws_paired_intervals(tmp_path):
    run = precision_run()
    (section,) = sections.by_section(run).values()
    shown, intervals = plots.paired_times(section, sections.reference_of(section), [None] * 4)
    assert shown[1] == pytest.approx(0.71) and intervals[1] == (0.68, 0.74)
    assert 3 not in intervals and shown[3] == pytest.approx(3.0, rel=0.05)
    path = plots.plot_technique("precision", section, tmp_path / "precision.png")
    assert path.stat().st_size > 5000


def test_the_summary_row_states_the_paired_ratio_with_its_interval():
    from visionbench.report import summary

    (row,) = summary.technique_rows(precision_run())
    assert row.variant == "bf16"
    text = summary.summary_markdown(precision_run())
    assert "0.71× [0.68–0.74×] (time per unit, paired with the reference over 20 rounds)" in text
    assert "1.41× faster" in text  # the whole interval beyond the tolerance
