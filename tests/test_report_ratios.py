"""The report's "time vs ref": the paired ratio with its interval and a verdict
that respects the noise; separate blocks are said to be separate."""

from __future__ import annotations

import pytest
from gate_helpers import as_run, bench, run_data, steady
from helpers import ROOT

from visionbench import report
from visionbench.gate.config import GateConfig, load_config
from visionbench.report import plots, sections, summary


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
    (row,) = summary.technique_rows(precision_run())
    assert row.variant == "bf16"
    text = summary.summary_markdown(precision_run())
    assert (
        "0.71× [0.68–0.74×] (step ratio: time per step, paired with the reference over 20 rounds)"
        in text
    )
    assert "1.41× faster" in text  # the whole interval beyond the tolerance


def tolerance_run():
    """A data-loading and a memory-format variant, each 1.15× [1.12–1.18×] its reference."""
    slower = paired(1.15, 1.12, 1.18)
    return as_run(run_data([
        bench("w0", steady(100), technique="data_loading", variant="disk_png-w0",
              reference="disk_png-w0", unit="epoch"),
        bench("w2", steady(115), technique="data_loading", variant="disk_png-w2",
              reference="disk_png-w0", unit="epoch", **slower),
        bench("small", steady(10), technique="memory_format", variant="small", reference="small"),
        bench("big", steady(11.5), technique="memory_format", variant="big", reference="small",
              **slower),
    ]))  # fmt: skip


def test_the_report_reads_per_benchmark_tolerances_as_the_gate_does(tmp_path):
    """pyproject.toml gives data loading 20% (disk decoding varies more): there 1.12–1.18×
    is within the tolerance, while the same interval of a memory-format step is slower.
    A report that used the default 10% everywhere would call both slower."""
    config = load_config(ROOT / "pyproject.toml")
    run = tolerance_run()
    name = {b.variant: b.fullname for b in run.benchmarks.values()}
    assert config.tolerance_for(name["disk_png-w2"], "time") == 0.20  # what the gate applies
    assert config.tolerance_for(name["big"], "time") == 0.10

    lines = {line.split()[0]: line for line in report.summary_text(run, config).splitlines()
             if line.strip()}  # fmt: skip
    assert "1.15× [1.12–1.18×] within the 20% tolerance" in lines["disk_png-w2"]
    assert "1.15× [1.12–1.18×] slower" in lines["big"]

    md = report.write_report(run, [run], tmp_path, config).read_text()
    assert "| 1.15× [1.12–1.18×] within the 20% tolerance |" in md
    assert "| 1.15× [1.12–1.18×] slower |" in md
    verdicts = {r.technique: r.verdict(config) for r in summary.technique_rows(run, config)}
    assert verdicts == {
        "data_loading": "no difference beyond noise",
        "memory_format": "1.15× slower",
    }
    for technique, verdict in verdicts.items():  # the summary table says the same
        assert any(line.startswith(f"| {technique} ") and line.rstrip(" |").endswith(verdict)
                   for line in md.splitlines())  # fmt: skip

    default = report.summary_text(run, GateConfig())  # no overrides: both are slower
    assert default.count("1.15× [1.12–1.18×] slower") == 2
