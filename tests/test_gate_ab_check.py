"""scripts/gate_ab_check.py: the injected slowdowns are real extra compute in the chosen
mode's convolutions only, and the summary counts verdicts by kind of benchmark."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
import torch.nn as nn

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("gate_ab_check", ROOT / "scripts/gate_ab_check.py")
check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check)


@pytest.mark.parametrize("training", [True, False])
def test_the_patch_repeats_the_chosen_mode_s_convolutions_only(monkeypatch, training):
    batches = []
    conv_forward = nn.Conv2d._conv_forward

    def counting(self, x, weight, bias):
        batches.append((len(x), torch.is_grad_enabled()))
        return conv_forward(self, x, weight, bias)

    monkeypatch.setattr(nn.Conv2d, "_conv_forward", counting)
    monkeypatch.setattr(nn.Conv2d, "forward", nn.Conv2d.forward)  # restored afterwards
    patch = check.PATCH.format(extra=1.5, training=training)
    compile((ROOT / check.PATCHED).read_text() + patch, check.PATCHED, "exec")  # appends cleanly
    exec(patch, {})
    conv, x = nn.Conv2d(1, 4, 3), torch.randn(10, 1, 8, 8)
    out = conv.train()(x)
    assert out.requires_grad and out.shape == (10, 4, 6, 6)
    conv.eval()(x)
    # the slowed mode's batch, then 1.5 batches more without autograd; the other mode's alone
    if training:
        assert batches == [(10, True), (15, False), (10, True)]
    else:
        assert batches == [(10, True), (10, True), (15, False)]


def test_the_summary_counts_flags_by_kind():
    def invocation(train: str, infer: str) -> dict:
        benches = [("bench_train_step[cpu-mnist5k-x]", train), ("bench_inference[cpu-x]", infer)]
        return {"exit_code": 1, "blocks": 9, "minutes": {"timing blocks": 8.0}, "benchmarks": [
            {"name": f"benches/bench_model_size.py::{n}", "metric": "time", "verdict": v,
             "ratio": 1.2, "sigma_block": 0.03, "sigma_round_pair": 0.1, "blocks": 9,
             "provable": 0.05}
            for n, v in benches
        ]}  # fmt: skip

    rows, flags = check.table("slow", [invocation("regression", "unchanged"), None])
    assert flags == {"slow:train": 1}
    assert [r[1] for r in rows] == ["bench_train_step[cpu-mnist5k-x]", "bench_inference[cpu-x]"]
    assert rows[0][4] == 1 and rows[1][6] == 1  # the train step's regression, unchanged
    assert rows[0][10:] == ["0.030", "0.100", "9", "5.0%"]
    lines = check.invocation_lines("slow", [invocation("regression", "unchanged"), None])
    assert lines[0].startswith("slow 1: exit 1, 9 blocks; 1 infer unchanged, 1 train regression")
    assert lines[1] == "slow 2: no results"
