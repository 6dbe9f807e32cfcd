"""Reports of saved runs, in markdown and PNGs (matplotlib) and terminal tables (tabulate).

- `summary`: the opening "what pays off" table, one verdict per technique;
- `ladder`: the recipe ladder, rung by rung;
- `sections`: each section's markdown (a technique's table and what it adds: the
  convergence to a target, the resolution knee, the data-parallel scaling, Grad-CAM);
- `plots`: the PNGs (variants against the reference, scaling, trends, Grad-CAM grids);
- `run`: `write_report`, which composes the run report from those, and `summary_text`;
- `history`: one metric across saved runs (`visionbench history`);
- `convergence`, `knee`, `pareto`: the analyses only the report reads (time to a target
  over seeds, the resolution knee, the sweeps' Pareto fronts).

Figures are written in their units by `visionbench.measure.format`.

Every verdict reads the gate's tolerances per benchmark, overrides included.
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
