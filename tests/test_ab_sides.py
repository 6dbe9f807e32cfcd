"""`visionbench ab`'s sides beyond a revision: another Python, environment variables.

Bad definitions are refused before anything starts (exit 2, one clear line, no
worktree and no process left); sides that differ in Python or variables run a
zygote each, and an A/A of that arrangement is no regression."""

from __future__ import annotations

import json
import os
import sys
import venv

import psutil
import pytest
from ab_helpers import PYPROJECT, git, new_repo, worktrees

from visionbench import cli
from visionbench.ab import calibration, full_runs, sides
from visionbench.ab.processes import Side
from visionbench.ab.worktree import AbError

BENCH = """\
import os

import pytest


def bench_loop(benchmark):
    benchmark.pedantic(lambda: sum(range(20000)), rounds=5, warmup_rounds=1)


def bench_env(benchmark):
    # built only where the side's variables reach its workers
    if os.environ.get("VISIONBENCH_NEUTRAL") != "1":
        pytest.skip("VISIONBENCH_NEUTRAL is not set here")
    benchmark.pedantic(lambda: sum(range(20000)), rounds=5, warmup_rounds=1)
"""


@pytest.fixture
def project(tmp_path, monkeypatch):
    repo = tmp_path / "proj"
    (repo / "benches").mkdir(parents=True)
    (repo / "pyproject.toml").write_text(PYPROJECT)
    (repo / "benches" / "bench_sides.py").write_text(BENCH)
    new_repo(repo)
    monkeypatch.chdir(repo)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    return repo


def children() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


def test_variables_are_key_value_pairs_and_a_virtualenv_is_its_python(tmp_path):
    assert sides.variables_of("--candidate-env", ["A=1", "B_2=x=y", "A=3"]) == (
        ("A", "3"),
        ("B_2", "x=y"),
    )
    for bad in ("NOVALUE", "=x", "1A=b", "A B=c"):
        with pytest.raises(AbError, match=r"--candidate-env .* is not KEY=VALUE"):
            sides.variables_of("--candidate-env", [bad])
    with pytest.raises(AbError, match="PYTHONPATH is the gate's to set"):
        sides.variables_of("--baseline-env", ["PYTHONPATH=/x"])
    (tmp_path / "env" / "bin").mkdir(parents=True)
    (tmp_path / "env" / "bin" / "python").symlink_to(sys.executable)
    # a venv's python is a symlink only its own path makes a venv: never resolved
    assert sides.python_of("--baseline-python", str(tmp_path / "env")) == str(
        tmp_path / "env" / "bin" / "python"
    )
    assert sides.python_of("--baseline-python", None) == sys.executable
    with pytest.raises(AbError, match=r"--baseline-python .*: no such interpreter"):
        sides.python_of("--baseline-python", str(tmp_path / "nothing"))
    with pytest.raises(AbError, match="no virtualenv"):
        sides.python_of("--baseline-python", str(tmp_path))


def test_what_differs_is_said_side_by_side(tmp_path):
    packages, lacks = {"torch": "2.13.0", "numpy": "2.4"}, {"torchvision": "RuntimeError: x"}
    env = sides.Environment(
        "/a/python", "3.11.7", packages, {"torch": "2.13.0", "threads": 1}, lacks
    )
    packages = {"torch": "2.14.1", "numpy": "2.4", "nox": "2026.1", "ruff": "0.9"}
    other = sides.Environment(
        "/b/python", "3.11.7", packages, {"torch": "2.14.1", "threads": 2}, {}
    )
    base = Side("baseline", tmp_path, "HEAD", "/a/python")
    cand = Side("candidate", tmp_path, "HEAD", "/b/python", (("ONEDNN_MAX_CPU_ISA", "AVX2"),))
    rows = sides.differences(base, cand, {"baseline": env, "candidate": other})
    assert ["python", "/a/python", "/b/python"] in rows
    assert ["torch", "2.13.0", "2.14.1"] in rows  # a fingerprint field, not again as a package
    assert not [r for r in rows if r[0] in ("package torch", "package numpy", "threads")]
    assert ["imports torchvision", "RuntimeError: x", "yes"] in rows
    assert ["packages of one side only", "-", "2: nox, ruff"] in rows
    caller = os.environ.get("ONEDNN_MAX_CPU_ISA", "(unset)")
    assert ["$ONEDNN_MAX_CPU_ISA", caller, "AVX2"] in rows
    (note,) = sides.limitation_notes({"baseline": env, "candidate": other})
    assert "baseline's Python cannot import torchvision" in note and "skipped" in note


def test_two_zygotes_are_another_arrangement_s_calibration(tmp_path):
    """A two-zygote gate never plans with the one-zygote calibration, and entries saved
    before the arrangement was part of the key still match one zygote."""
    one = calibration.machine_key("cpu A", 2, 1, "2.14", [])
    two = calibration.machine_key("cpu A", 2, 1, "2.14", [], zygotes=2)
    assert "zygotes" not in one and two == {**one, "zygotes": 2}
    store = calibration.Store(tmp_path)
    store.update(one, full_runs={"benches": 10.0})
    assert store.full_run_s(one, "benches") == 10.0 and store.full_run_s(two, "benches") is None


def test_a_benchmark_one_side_skipped_is_named_with_why():
    rows = full_runs.unpaired_rows(
        {}, {"b::x": 0.1}, {}, {}, set(), ({"b::x": "needs torchvision, which ..."}, {})
    )
    (row,) = rows
    assert (
        row.verdict == "new" and row.note == "skipped in the baseline: needs torchvision, which ..."
    )
    fixed = [full_runs.Comparison("b::x", "-", "new", note="not in the baseline")]
    (merged,) = full_runs.merged(fixed, rows)
    assert merged.note.startswith("skipped in the baseline: needs torchvision")


def no_torch_python(tmp_path) -> str:
    """A virtualenv's Python without torch (nor anything else)."""
    venv.create(tmp_path / "bare", with_pip=False)
    return str(tmp_path / "bare" / "bin" / "python")


def test_bad_sides_are_bad_input_with_nothing_left(project, tmp_path, capsys):
    """Not Python, a Python without torch, a variable that is not KEY=VALUE: exit 2 with
    one clear line each, before any worktree or process is left behind."""
    fake = tmp_path / "fake-python"
    fake.write_text("#!/bin/sh\necho 'not python'\n")
    fake.chmod(0o755)
    before = children()
    cases = [
        (["--baseline-python", str(fake)], f"--baseline-python {fake}: not a Python interpreter"),
        (["--candidate-python", no_torch_python(tmp_path)], "cannot import torch"),
        (["--candidate-env", "ONEDNN_MAX_CPU_ISA"], "--candidate-env 'ONEDNN_MAX_CPU_ISA' is not"),
    ]
    for args, said in cases:
        assert cli.main(["ab", "--baseline", "HEAD", "--times-only", *args]) == 2
        err = capsys.readouterr().err
        assert said in err, err
        assert len(worktrees(project)) == 1
        assert children() <= before, "a probe or zygote was left running"


def test_two_zygotes_a_a_is_no_regression_and_each_side_gets_its_variables(
    project, tmp_path, capsys
):
    """The same Python under another path (the venv's python3 beside its python) and a
    neutral variable on the candidate: a zygote per side, the round-pairs an A/A that
    is not a regression; the bench that needs the variable is built by the candidate
    alone and named as skipped in the baseline."""
    other = os.path.join(os.path.dirname(sys.executable), "python3")
    python = ["--candidate-python", other] if os.path.exists(other) else []
    out = tmp_path / "ab.json"
    args = ["ab", "--baseline", "HEAD", "--times-only", "--seed", "1", "--alpha", "0.05",
            "--rounds", "8", "--max-blocks", "5", "--json", str(out), *python,
            "--candidate-env", "VISIONBENCH_NEUTRAL=1"]  # fmt: skip
    before = children()
    assert cli.main(args) == 0
    err = capsys.readouterr().err
    assert "a zygote each" in err
    data = json.loads(out.read_text())
    assert data["sides"]["zygotes"] == 2
    assert data["sides"]["candidate"]["env"] == {"VISIONBENCH_NEUTRAL": "1"}
    assert ["$VISIONBENCH_NEUTRAL", "(unset)", "1"] in data["sides"]["differences"]
    by_name = {b["name"].split("::")[-1]: b for b in data["benchmarks"]}
    assert by_name["bench_loop"]["verdict"] in ("unchanged", "inconclusive")
    assert by_name["bench_env"]["verdict"] == "new"
    assert by_name["bench_env"]["note"] == (
        "skipped in the baseline: VISIONBENCH_NEUTRAL is not set here"
    )
    assert git(project, "status", "--porcelain") == "?? reports/"
    assert len(worktrees(project)) == 1 and children() <= before
