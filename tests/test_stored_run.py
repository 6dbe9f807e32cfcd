"""A run saved by an earlier commit still loads, gates and reports.

`tests/data/0001_c167359.json` is a real run saved by commit c167359 (before the
report and data-parallel packages): `pytest benches/bench_grad_zeroing.py
benches/bench_model_size.py -k small_cnn --benchmark-save-data` on the CPU, quick
profile: the small CNN's training step and inference batch with their raw samples,
accuracy, memory and the machine fingerprint. Stored runs outlive the code that
wrote them; a change that cannot read them loses a team's history.
"""

from __future__ import annotations

import json
import shutil

import pytest
from helpers import ROOT

from visionbench import cli, report
from visionbench.measure import metrics, results

STORED = ROOT / "tests" / "data" / "0001_c167359.json"
NAMES = {
    "benches/bench_model_size.py::bench_train_step[cpu-mnist5k-small_cnn]",
    "benches/bench_model_size.py::bench_inference[cpu-mnist5k-small_cnn]",
}


@pytest.fixture
def storage(tmp_path):
    """A storage folder holding only the stored run (a copy: nothing may touch the file)."""
    folder = tmp_path / "store"
    folder.mkdir()
    shutil.copy(STORED, folder / STORED.name)
    return folder


def test_the_stored_run_loads_with_its_samples_and_figures():
    run = results.load(STORED)
    assert set(run.benchmarks) == NAMES
    assert run.commit and "c167359".startswith(run.commit[:7])
    for bench in run.benchmarks.values():
        metrics.validate(bench.extra_info)  # the schema still accepts what it wrote
        assert len(bench.samples) == bench.rounds == 20
        assert bench.extra_info["accuracy"] == pytest.approx(0.963)
    assert run.machine_info["visionbench"]["profile"] == "quick"


def test_the_stored_run_gates_against_itself(storage, tmp_path, capsys):
    args = ["gate", "--storage", str(storage), "--baseline", "0001", "--candidate", "0001"]
    assert cli.main([*args, "--summary", str(tmp_path / "gate.md")]) == 0
    out = capsys.readouterr().out
    assert "bench_train_step[cpu-mnist5k-small_cnn]" in out and "gate passed" in out
    assert "bench_inference[cpu-mnist5k-small_cnn]" in (tmp_path / "gate.md").read_text()


def test_the_stored_run_reports(storage, tmp_path, capsys):
    before = STORED.read_bytes()
    out_dir = tmp_path / "reports"
    assert cli.main(["report", "0001", "--storage", str(storage), "--out", str(out_dir)]) == 0
    printed = capsys.readouterr().out
    assert "model_size:train_step (mnist5k, cpu); model: small_cnn" in printed
    md = (out_dir / "0001_c167359" / "report.md").read_text()
    for section in ("model_size:train_step (mnist5k, cpu)", "model_size:inference (mnist5k, cpu)"):
        assert f"## {section}" in md
    assert "| small_cnn (ref) |" in md and "96.3%" in md and "rounds)" in md
    assert sorted(p.name for p in (out_dir / "0001_c167359").glob("*.png")) == [
        "model_size_inference_mnist5k_cpu.png",  # one `_` for each run of unsafe characters
        "model_size_train_step_mnist5k_cpu.png",
    ]
    assert report.summary_text(results.load(STORED)).count("small_cnn (ref)") == 2
    assert STORED.read_bytes() == before
    json.loads(before)  # still one valid JSON document
