"""scripts/accuracy_pairing.py: a saved run's accuracy comparisons, unpaired and paired."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
from gate_helpers import bench, run_data, save, steady

from visionbench.measure.figures import eval_set_of, pack_outcomes

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("pairing", ROOT / "scripts/accuracy_pairing.py")
pairing = importlib.util.module_from_spec(spec)
spec.loader.exec_module(pairing)


def test_it_counts_what_pairing_resolves(tmp_path, capsys):
    labels = np.arange(1000) % 10
    ref = np.ones(1000, dtype=bool)
    ref[:40] = False
    near = ref.copy()
    near[40:43] = False  # 3 images fewer: −0.3 pt, same when paired
    benches = [
        bench(f"p-{name}", steady(ms), technique="precision", variant=name, reference="fp32",
              accuracy=float(hits.mean()), eval_images=1000, eval_set=eval_set_of(labels),
              accuracy_outcomes=[pack_outcomes(hits)], dataset="mnist5k", device="cpu")
        for name, ms, hits in [("fp32", 10, ref), ("bf16", 5, near)]
    ]  # fmt: skip
    path = save(tmp_path, 1, "run", run_data(benches))
    assert pairing.main([str(path)]) == 0
    out = capsys.readouterr().out
    assert "McNemar's exact test" in out
    assert "variant-vs-reference rows: 1; resolved unpaired 0, paired 1" in out
    assert "summary rows with an accuracy: 1; resolved unpaired 0, paired 1" in out
    assert pairing.main([str(tmp_path / "missing.json")]) == 2
