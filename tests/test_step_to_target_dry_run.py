"""The `standard` profile trains the step techniques to its target: a dry run of their
benches (`--vb-dry-run`: every variant, a few steps) records `time_to_target_s` (null
where, as in a few steps, no seed reached it) for every variant of every step
technique, and the summary says which time it states.

Needs the dry-run mode; skipped, saying so, where this checkout has none."""

from __future__ import annotations

import json

import pytest
from helpers import run_pytest

from visionbench.report import summary
from visionbench.results import Run

STEP_TECHNIQUES = ("precision", "grad_zeroing", "memory_format", "compile")
BENCHES = [f"benches/bench_{t}.py" for t in STEP_TECHNIQUES]


def _has_dry_run() -> bool:
    proc = run_pytest("--help", timeout=120)
    return "--vb-dry-run" in proc.stdout


@pytest.mark.slow
def test_a_standard_dry_run_records_time_to_target_for_every_step_technique(tmp_path):
    if not _has_dry_run():
        pytest.skip("--vb-dry-run is not an option of this checkout yet (the dry-run mode)")
    out = tmp_path / "run.json"
    proc = run_pytest(
        *BENCHES, "--vb-profile", "standard", "--vb-dry-run", "--vb-device", "cpu",
        f"--benchmark-json={out}", "--benchmark-save-data", "-q", timeout=1800,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    data = json.loads(out.read_text())
    steps = [b for b in data["benchmarks"] if b["extra_info"].get("unit") == "train_step"]
    assert {b["extra_info"]["technique"] for b in steps} == set(STEP_TECHNIQUES)
    for b in steps:
        info = b["extra_info"]
        assert "time_to_target_s" in info and "time_to_target_s_per_seed" in info, b["name"]
        assert info["target_accuracy"] == 0.97 and "curves" in info, b["name"]
    rows = summary.technique_rows(Run(out, data))
    assert {r.technique for r in rows} == set(STEP_TECHNIQUES)
    for r in rows:  # the time cell says which time it states
        assert r.time is not None
        assert r.time.what.startswith(("time to 97.0%", "step ratio")), r.time.what
        assert "time to" in r.time.text(), r.time.text()
