"""scripts/same_figures.py: two saved runs, the same benchmarks, keys and figures not read
from a clock (what a renovation must leave as it was)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from gate_helpers import bench, run_data, save, steady

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("same_figures", ROOT / "scripts/same_figures.py")
check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check)

CURVES = {"loss": [[2.0, 1.0]], "accuracy": [[0.5, 0.9]], "train_time_s": [[1.0, 2.0]],
          "lr": [[0.1], [0.01]]}  # fmt: skip


def a_run(ms: float = 10, train_time: float = 1.0, **changes) -> dict:
    figures = dict(accuracy=0.9, params=1000, flops=5e6, peak_mem_bytes=4096,
                   samples_per_s=1000 / ms, train_time_s=train_time, curves=CURVES)  # fmt: skip
    figures.update(changes)
    return run_data([bench("x", steady(ms), **figures), bench("y", steady(ms))])


def test_times_may_differ_and_nothing_else(tmp_path, capsys):
    before = save(tmp_path, 1, "before", a_run())
    slower_curves = {**CURVES, "train_time_s": [[1.5, 3.0]]}
    after = save(tmp_path, 2, "after", a_run(ms=14, train_time=1.4, curves=slower_curves))
    assert check.main([str(before), str(after)]) == 0
    assert "2 benchmarks before, 2 after" in capsys.readouterr().out


def test_a_changed_figure_a_lost_key_and_a_lost_benchmark_are_named(tmp_path, capsys):
    before = save(tmp_path, 1, "before", a_run())
    changed = a_run(accuracy=0.91, curves={**CURVES, "accuracy": [[0.5, 0.8]]})
    del changed["benchmarks"][0]["extra_info"]["flops"]
    changed["benchmarks"][0]["group"] = "model_size:train_step"
    changed["benchmarks"].pop(1)
    after = save(tmp_path, 2, "after", changed)
    assert check.main([str(before), str(after)]) == 1
    out = capsys.readouterr().out
    assert "only before" in out and "bench_step[y]" in out  # the benchmark, and the key
    assert "flops" in out and "0.91" in out and "curves" in out
    assert "model_size:train_step" in out  # the group
    assert "5 difference(s)" in out


def test_an_unreadable_run_is_named(tmp_path, capsys):
    before = save(tmp_path, 1, "before", a_run())
    broken = tmp_path / "broken.json"
    broken.write_text('{"benchmarks": [')
    assert check.main([str(before), str(broken)]) == 2
    assert "broken.json" in capsys.readouterr().err
