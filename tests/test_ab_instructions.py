"""The instruction lane end to end: both sides counted by callgrind at once.

On a throwaway project with real torch work: the candidate runs its convolution twice
in one bench (a counted regression) and leaves the other alone (an A/A inside the same
invocation: no regression). Needs valgrind (`.ci/run` installs it); minutes, as
valgrind runs torch's import and every counted call on a synthetic CPU."""

from __future__ import annotations

import json

import pytest
from ab_helpers import torch_project, worktrees

from visionbench import cli
from visionbench.ab import instructions

pytestmark = pytest.mark.skipif(
    instructions.missing_valgrind() is not None, reason=str(instructions.missing_valgrind())
)


def test_an_extra_convolution_is_a_counted_regression_and_the_untouched_bench_is_not(
    tmp_path, monkeypatch, capsys
):
    repo = torch_project(tmp_path / "tiny")
    monkeypatch.chdir(repo)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    (repo / "benches" / "work.txt").write_text("2\n")
    result = tmp_path / "instructions.json"
    args = ["--lane", "instructions", "--repeats", "2", "--times-only", "--json", str(result)]
    assert cli.main(["ab", "--baseline", "HEAD", *args]) == 1
    data = json.loads(result.read_text())
    assert data["lane"] == "instructions" and data["minutes"]["instructions"] > 0
    benches = {b["name"].split("::")[-1]: b for b in data["benchmarks"]}
    conv, steady = benches["bench_conv"], benches["bench_steady"]
    assert conv["metric"] == steady["metric"] == "instructions"
    assert conv["verdict"] == "regression" and 1.8 < conv["ratio"] < 2.2
    assert steady["verdict"] == "unchanged" and abs(steady["change"]) < steady["tolerance"]
    for b in (conv, steady):
        assert len(b["counts"]["baseline"]) == len(b["counts"]["candidate"]) == 2
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.startswith("bench_conv"))
    assert "instructions" in line and (" M " in line or " G " in line)  # counts, never a time
    assert "smallest change provable: the instruction tolerance" in out
    assert len(worktrees(repo)) == 1
