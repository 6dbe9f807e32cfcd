"""Reports of saved runs, in markdown and PNGs (matplotlib) and terminal tables (tabulate).

- `format`: seconds, bytes, ratios and metric values for people; the gate's table rows;
- `summary`: the opening "what pays off" table, one verdict per technique;
- `ladder`: the recipe ladder, rung by rung;
- `sections`: each section's markdown (a technique's table and what it adds: the
  convergence to a target, the resolution knee, the data-parallel scaling, Grad-CAM);
- `plots`: the PNGs (variants against the reference, scaling, trends, Grad-CAM grids);
- `run`: `write_report`, which composes the run report from those, and `summary_text`;
- `history`: one metric across saved runs (`visionbench history`).

Every verdict reads the gate's tolerances per benchmark, overrides included.
"""

from visionbench.measure.format import GATE_HEADERS, fmt_detectable, gate_table_rows
from visionbench.report.history import history_table
from visionbench.report.run import summary_text, write_report
from visionbench.report.sections import time_verdict

__all__ = [
    "GATE_HEADERS",
    "fmt_detectable",
    "gate_table_rows",
    "history_table",
    "summary_text",
    "time_verdict",
    "write_report",
]
