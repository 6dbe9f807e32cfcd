"""scripts/ratio_check.py: two saved runs' paired ratios, read through results.Run."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from gate_helpers import bench, run_data, save, steady

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("ratio_check", ROOT / "scripts/ratio_check.py")
check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check)


def run_with(ratios: dict[str, tuple[float, float, float]]) -> dict:
    return run_data([
        bench(name, steady(10), ratio_vs_ref=r, ratio_ci_low=lo, ratio_ci_high=hi)
        for name, (r, lo, hi) in ratios.items()
    ] + [bench("ref", steady(10))])  # fmt: skip


def test_overlapping_intervals_pass_and_a_flip_fails(tmp_path, capsys):
    a = save(tmp_path, 1, "a", run_with({"x": (0.5, 0.45, 0.55), "y": (1.0, 0.97, 1.03)}))
    b = save(tmp_path, 2, "b", run_with({"x": (0.52, 0.5, 0.56), "y": (1.01, 0.99, 1.05)}))
    assert check.main([str(a), str(b)]) == 0
    assert "2/2 intervals overlap (100%); 0 verdict(s) flip" in capsys.readouterr().out
    c = save(tmp_path, 3, "c", run_with({"x": (1.6, 1.5, 1.7), "y": (1.0, 0.97, 1.03)}))
    assert check.main([str(a), str(c)]) == 1
    out = capsys.readouterr().out
    assert "1/2 intervals overlap" in out and "1 verdict(s) flip" in out


def test_an_unreadable_run_is_named(tmp_path, capsys):
    a = save(tmp_path, 1, "a", run_with({"x": (0.5, 0.45, 0.55)}))
    broken = tmp_path / "broken.json"
    broken.write_text('{"benchmarks": [')
    assert check.main([str(a), str(broken)]) == 2
    assert "broken.json" in capsys.readouterr().err
