"""Reports of saved runs: the run report (markdown and PNGs), the summary, the history."""

from visionbench.report.run import (
    GATE_HEADERS,
    fmt_detectable,
    gate_table_rows,
    history_table,
    summary_text,
    time_verdict,
    write_report,
)

__all__ = [
    "GATE_HEADERS",
    "fmt_detectable",
    "gate_table_rows",
    "history_table",
    "summary_text",
    "time_verdict",
    "write_report",
]
