"""The code each technique's bench measures, beyond the one runner and the one training
loop: one module or package per registry technique with code of its own, named as the
registry and its bench name it (`benches/bench_X.py` -> `techniques/X`): `recipe`,
`augmentation`, `talk_pipeline`, `data_loading/`, `framework_switches`, `gradcam`.

The registry of every technique (name, kind, reference) is `visionbench.measure.techniques`,
below the profiles that read it; the analyses of saved figures that only the report reads
(convergence to a target, the resolution knee, Pareto fronts) are under `visionbench.report`.
"""
