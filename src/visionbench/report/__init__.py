"""Reports of saved runs, in markdown and PNGs (matplotlib) and terminal tables (tabulate).

- `evidence`: what a run says of each variant against its reference (time, accuracy,
  memory), and each technique's main group;
- `summary`: the opening "what pays off" table, one verdict per technique;
- `tradeoffs`: a sweep's Pareto front, its row and its table;
- `ladder`: the recipe ladder, rung by rung;
- `sections`: each section's markdown (a technique's table and what it adds);
- `convergence`, `knee`: the analyses only the report reads (time to a target over
  seeds, the resolution knee) and their statements; `pareto`: the fronts;
- `scaling`: the data-parallel section;
- `tune_trials`: a `visionbench tune` run's trials, time to target against accuracy;
- `plots`: the PNGs (variants against the reference, scaling, trends, Grad-CAM grids);
- `run`: `write_report`, which composes the run report from those, and `summary_text`;
- `history`: one metric across saved runs (`visionbench history`).

Figures are written in their units by `visionbench.measure.format`. Every verdict reads
the gate's tolerances per benchmark, overrides included.
"""

from visionbench.report.history import history_table
from visionbench.report.run import summary_text, write_report
from visionbench.report.sections import time_verdict

__all__ = [
    "history_table",
    "summary_text",
    "time_verdict",
    "write_report",
]
