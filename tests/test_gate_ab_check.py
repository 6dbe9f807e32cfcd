"""scripts/gate_ab_check.py: the injected slowdown is real extra compute in training
convolutions only, and the summary counts verdicts by kind of benchmark."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
import torch.nn as nn

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("gate_ab_check", ROOT / "scripts/gate_ab_check.py")
check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check)


def test_the_patch_repeats_training_convolutions_only(monkeypatch):
    batches = []
    conv_forward = nn.Conv2d._conv_forward

    def counting(self, x, weight, bias):
        batches.append((len(x), torch.is_grad_enabled()))
        return conv_forward(self, x, weight, bias)

    monkeypatch.setattr(nn.Conv2d, "_conv_forward", counting)
    monkeypatch.setattr(nn.Conv2d, "forward", nn.Conv2d.forward)  # restored afterwards
    patch = check.PATCH.format(extra=1.5)
    compile((ROOT / check.PATCHED).read_text() + patch, check.PATCHED, "exec")  # appends cleanly
    exec(patch, {"nn": nn, "torch": torch})  # what train.py's own imports give it
    conv, x = nn.Conv2d(1, 4, 3), torch.randn(10, 1, 8, 8)
    out = conv.train()(x)
    assert out.requires_grad and out.shape == (10, 4, 6, 6)
    conv.eval()(x)
    # the batch, then 1.5 batches more without autograd; in eval mode the batch alone
    assert batches == [(10, True), (15, False), (10, True)]


def test_the_summary_counts_flags_by_kind():
    def invocation(train: str, infer: str) -> dict:
        benches = [("bench_train_step[cpu-mnist5k-x]", train), ("bench_inference[cpu-x]", infer)]
        return {"benchmarks": [
            {"name": f"benches/bench_model_size.py::{n}", "metric": "time", "verdict": v,
             "ratio": 1.2, "ci_low": 1.1, "ci_high": 1.3, "pairs": 20, "log_ratios": [0.1, 0.2]}
            for n, v in benches
        ]}  # fmt: skip

    rows, flags = check.table("slow", [invocation("regression", "unchanged"), None])
    assert flags == {"slow:train": 1}
    assert [r[1] for r in rows] == ["bench_train_step[cpu-mnist5k-x]", "bench_inference[cpu-x]"]
    assert rows[0][3] == 1 and rows[1][5] == 1  # regressions of the train step, unchanged
