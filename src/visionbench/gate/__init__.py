"""The run-against-run gate (`visionbench gate`): a candidate run against a saved baseline,
metric by metric (`runs`), its command (`run_gate`), its table and summary (`output`), and
the settings both gates read from pyproject.toml (`config`). Its statistics are
`visionbench.stats`; the A/B gate is `visionbench.ab`."""
