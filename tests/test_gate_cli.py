"""`visionbench gate`: exit codes, machine check, outputs, and an end-to-end run."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from gate_helpers import FINGERPRINT, MACHINE, bench, run_data, save, snapshot, stats_of, steady

from visionbench import cli
from visionbench.measure import results

MIB = 1 << 20


def figures(**changes):
    """Two benchmarks with steady timings and the usual extra_info figures."""
    extra = {"accuracy": 0.90, "peak_mem_bytes": 200 * MIB, "diverged": False}
    a = {**extra, **changes}
    return [bench("small", steady(10, seed=1), **a), bench("big", steady(30, seed=2), **extra)]


@pytest.fixture
def storage(tmp_path, monkeypatch):
    """A storage with a baseline; the working directory is tmp_path (for reports/)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    root = tmp_path / ".benchmarks"
    save(root, 1, "baseline", run_data(figures()))
    return root


def gate(storage, *extra):
    return cli.main(["gate", "--storage", str(storage), "--baseline", "baseline", *extra])


def test_an_unchanged_candidate_passes(storage, capsys):
    save(storage, 2, "same", run_data(figures()))
    assert gate(storage) == 0
    out = capsys.readouterr().out
    for header in ("benchmark", "metric", "baseline", "candidate", "change", "p-value", "verdict"):
        assert header in out
    assert "gate passed" in out


@pytest.mark.parametrize(
    ("changes", "metric"),
    [({"accuracy": 0.85}, "accuracy"), ({"peak_mem_bytes": 220 * MIB}, "peak_mem_bytes")],
)
def test_accuracy_or_memory_regression_fails_naming_the_metric(storage, capsys, changes, metric):
    save(storage, 2, "worse", run_data(figures(**changes)))
    assert gate(storage) == 1
    out = capsys.readouterr().out
    (line,) = [ln for ln in out.splitlines() if "regression" in ln and "[small]" in ln]
    assert metric in line
    assert "gate FAILED" in out


def test_a_slower_candidate_fails_against_a_history(storage, capsys):
    # two more runs named baseline: the gate measures the noise from the three
    for number in (2, 3):
        benches = figures()
        for b in benches:
            b["stats"] = stats_of([x * (1 + 0.01 * number) for x in b["stats"]["data"]])
        save(storage, number, "baseline", run_data(benches))
    save(storage, 4, "slow", results.scale_timings(run_data(figures()), 1.5))
    assert gate(storage) == 1
    assert "regression" in capsys.readouterr().out


def test_a_slower_candidate_without_history_is_inconclusive_not_passed_silently(storage, capsys):
    save(storage, 2, "slow", results.scale_timings(run_data(figures()), 1.5))
    assert gate(storage) == 0
    captured = capsys.readouterr()
    assert "INCONCLUSIVE" in captured.out + captured.err
    assert "too few saved runs" in (storage.parent / "reports" / "gate.md").read_text()


def test_a_failed_benchmark_fails(storage, capsys):
    benches = figures()
    benches[0]["extra_info"] = {**benches[0]["extra_info"], "error": "CUDA out of memory"}
    save(storage, 2, "oom", run_data(benches))
    assert gate(storage) == 1
    assert "CUDA out of memory" in (storage.parent / "reports" / "gate.md").read_text()


def test_a_bench_that_failed_before_timing_fails_by_name(storage, capsys):
    """The root conftest saves benches that raised (no timings) under
    `visionbench_failed`; the gate shows them as failed, not as missing."""
    benches = figures()
    data = run_data(benches[1:])
    data["visionbench_failed"] = [
        {"fullname": benches[0]["fullname"], "name": benches[0]["name"],
         "group": benches[0]["group"], "extra_info": {"error": "OutOfMemoryError: CUDA"}}
    ]  # fmt: skip
    save(storage, 2, "oom", data)
    assert gate(storage, "--allow-missing") == 1
    summary = (storage.parent / "reports" / "gate.md").read_text()
    assert "OutOfMemoryError: CUDA" in summary and "failed" in summary


def test_a_missing_benchmark_fails_unless_allowed(storage, capsys):
    save(storage, 2, "fewer", run_data(figures()[:1]))
    assert gate(storage) == 1
    assert "missing" in capsys.readouterr().out
    assert gate(storage, "--allow-missing") == 0
    assert "allowed by --allow-missing" in capsys.readouterr().out


def test_a_new_benchmark_is_listed(storage, capsys):
    save(storage, 2, "more", run_data([*figures(), bench("extra", steady(5))]))
    assert gate(storage) == 0
    assert "new" in capsys.readouterr().out


def test_machine_mismatch_is_bad_input_naming_the_fields(storage, capsys):
    other = {**FINGERPRINT, "torch": "2.15.0", "gpu_name": "NVIDIA A100"}
    save(storage, 2, "elsewhere", run_data(figures(), fingerprint=other))
    assert gate(storage) == 2
    err = capsys.readouterr().err
    assert "torch" in err and "gpu_name" in err and "2.15.0" in err
    assert "threads" not in err
    assert gate(storage, "--allow-machine-mismatch") == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--candidate", "0042"], "0042"),
        (["--candidate", "nowhere.json"], "nowhere.json"),
        (["--candidate", "broken"], "0002_broken.json"),
        (["--config", "missing.toml"], "missing.toml"),
        (["--alpha", "2"], "alpha"),
    ],
)
def test_bad_input_exits_2_naming_it(storage, capsys, args, message):
    (storage / MACHINE / "0002_broken.json").write_text('{"machine_info": {}, "benchmarks": [')
    assert gate(storage, *args) == 2
    assert message in capsys.readouterr().err


def test_storage_given_as_pytest_benchmark_takes_it(storage):
    save(storage, 2, "same", run_data(figures()))
    assert cli.main(["gate", "--storage", f"file://{storage}", "--baseline", "baseline"]) == 0


def test_a_storage_that_is_not_a_folder_exits_2_naming_it(storage, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["gate", "--storage", "s3://bucket/runs"])
    assert exit_.value.code == 2
    assert "s3://bucket/runs" in capsys.readouterr().err


def test_an_empty_storage_exits_2(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    assert cli.main(["gate", "--storage", str(tmp_path / "empty")]) == 2
    assert "no saved runs" in capsys.readouterr().err


def test_bad_settings_exit_2(storage, tmp_path, capsys):
    config = tmp_path / "gate.toml"
    config.write_text("[tool.visionbench.gate]\nalhpa = 0.05\n")
    save(storage, 2, "same", run_data(figures()))
    assert gate(storage, "--config", str(config)) == 2
    assert "alhpa" in capsys.readouterr().err


def test_settings_from_config_apply(storage, tmp_path):
    config = tmp_path / "gate.toml"
    config.write_text(
        "[tool.visionbench.gate.tolerance]\naccuracy = 0.10\n"
        '[[tool.visionbench.gate.override]]\npattern = "*big*"\nmemory = 0.5\n'
    )
    save(storage, 2, "worse", run_data(figures(accuracy=0.85)))
    assert gate(storage, "--config", str(config)) == 0


def test_markdown_summary_written_and_appended_to_the_step_summary(storage, tmp_path, monkeypatch):
    step = tmp_path / "step_summary.md"
    step.write_text("# earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step))
    save(storage, 2, "worse", run_data(figures(accuracy=0.85)))
    assert gate(storage, "--summary", "out/gate.md") == 1
    summary = (tmp_path / "out" / "gate.md").read_text()
    assert "## visionbench gate" in summary and "| benchmark" in summary
    assert "accuracy" in summary and "regression" in summary
    text = step.read_text()
    assert text.startswith("# earlier step\n") and "## visionbench gate" in text


def test_inconclusive_passes_loudly(storage, capsys):
    # six benchmarks all 25% slower, no history: machine load or a real change?
    base = [bench(f"b{i}", steady(10 + i, seed=i)) for i in range(6)]
    save(storage, 2, "six", run_data(base))
    save(storage, 3, "six_slower", results.scale_timings(run_data(base), 1.25))
    code = cli.main(["gate", "--storage", str(storage), "--baseline", "2", "--candidate", "3"])
    out = capsys.readouterr().out
    assert code == 0
    assert "INCONCLUSIVE" in out and "inconclusive" in out


def test_the_gate_never_modifies_stored_runs(storage):
    save(storage, 2, "worse", run_data(figures(accuracy=0.5)))
    before = snapshot(storage)
    gate(storage)
    cli.main(["report", "--storage", str(storage)])
    cli.main(["history", "--storage", str(storage)])
    assert snapshot(storage) == before


# -- end to end: a real (tiny) bench, run twice by pytest-benchmark ---------------------

TINY_BENCH = textwrap.dedent(
    """
    import itertools

    import torch

    _ticks = itertools.count()


    def clock():
        # a counting clock: every round lasts exactly one tick, whatever else runs
        return next(_ticks) * 1e-5


    def test_tiny_matmul(benchmark):
        x = torch.randn(64, 64)
        benchmark.extra_info.update(technique="tiny", variant="matmul", reference="matmul")
        benchmark.pedantic(lambda: x @ x, rounds=40, iterations=1, warmup_rounds=3)
    """
)


@pytest.mark.slow
def test_end_to_end_real_runs(tmp_path, monkeypatch, capsys):
    """A tiny bench run twice through pytest-benchmark and its storage, then gated:
    the two runs pass, a run against itself passes; with a history (copies of the
    second run: reruns that did not vary), a copy with every timing 1.5x fails.

    The bench reads a counting clock (`--benchmark-timer`), so every round lasts
    exactly one tick: the verdicts do not depend on how loaded this machine is.
    How the gate fares on real between-run noise is what scripts/gate_aa_check.py
    measures on real runs (a test cannot rest on a machine's noise)."""
    (tmp_path / "test_tiny.py").write_text(TINY_BENCH)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    storage = tmp_path / "store"
    for _ in range(2):
        subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_tiny.py",
             f"--benchmark-storage=file://{storage}", "--benchmark-autosave",
             "--benchmark-save-data", "--benchmark-timer=test_tiny.clock"],
            cwd=tmp_path, check=True, capture_output=True, timeout=300,
        )  # fmt: skip
    monkeypatch.chdir(tmp_path)
    folder = results.machine_folder(storage)
    assert [p.name[:4] for p in results.run_files(folder)] == ["0001", "0002"]

    def gate(baseline, candidate):
        return cli.main(
            ["gate", "--storage", str(storage), "--baseline", baseline, "--candidate", candidate]
        )

    assert gate("0001", "0002") == 0  # reruns
    assert gate("0002", "0002") == 0  # a run against itself
    second = results.load_run("0002", storage)
    for number in range(3, 11):
        save(storage, number, "rerun", second.data)
    before = snapshot(storage)
    slowed = save(storage, 11, "slowed", results.scale_timings(second.data, 1.5))
    assert gate("0010", "latest") == 1
    out = capsys.readouterr().out
    assert "regression" in out and "test_tiny_matmul" in out
    slowed.unlink()
    assert snapshot(storage) == before  # the gate read, never wrote
