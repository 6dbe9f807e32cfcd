"""The README's metric table says what `metrics.METRICS` says: every metric, each with
its unit, and nothing METRICS lacks (the table had drifted: images/s for samples/s,
FLOP/image for FLOP/sample, latency_per_image_s missing)."""

from __future__ import annotations

import re

import pytest
from helpers import ROOT

from visionbench.measure.metrics import METRICS

HEADER = "| name | unit | meaning |"


def table_rows(text: str) -> list[tuple[list[str], list[str]]]:
    """(names, units) of each row of the README's metric table: a row names one or
    more metrics in backticks and gives one unit for all of them or one per name."""
    lines = text.splitlines()
    if HEADER not in lines:
        raise AssertionError(f"README.md has no metric table (a line {HEADER!r})")
    rows = []
    for line in lines[lines.index(HEADER) + 2 :]:
        if not line.startswith("|"):
            break
        name_cell, unit_cell = (cell.strip() for cell in line.strip("|").split("|")[:2])
        names = re.findall(r"`([^`]+)`", name_cell)
        units = [u.strip() for u in unit_cell.split(",")]
        rows.append((names, units))
    return rows


def units_by_name(rows: list[tuple[list[str], list[str]]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for names, units in rows:
        if len(units) not in (1, len(names)):
            raise AssertionError(
                f"README metric row {', '.join(names)}: {len(units)} units for "
                f"{len(names)} names ({', '.join(units)}); give one, or one per name"
            )
        for name, unit in zip(names, units * len(names) if len(units) == 1 else units, strict=True):
            if name in out:
                raise AssertionError(f"README metric table: {name} is in two rows")
            out[name] = unit
    return out


def drift(table: dict[str, str]) -> list[str]:
    """What the table gets wrong against METRICS, one line each."""
    return [
        *(f"{name}: missing from the README's table" for name in METRICS if name not in table),
        *(
            f"{name}: in the README's table, not in METRICS"
            for name in table
            if name not in METRICS
        ),
        *(
            f"{name}: README says {unit!r}, METRICS {METRICS[name].unit!r}"
            for name, unit in table.items()
            if name in METRICS and unit != METRICS[name].unit
        ),
    ]


def test_the_readme_table_lists_every_metric_with_its_unit():
    table = units_by_name(table_rows((ROOT / "README.md").read_text(encoding="utf-8")))
    assert drift(table) == []


def test_a_drifted_row_is_caught():
    """The check itself: the table as it was (images/s) and a made-up metric fail."""
    rows = [HEADER, "|---|---|---|", "| `samples_per_s` | images/s | throughput |",
            "| `images_per_s` | images/s | throughput |"]  # fmt: skip
    problems = drift(units_by_name(table_rows("\n".join(rows))))
    assert "samples_per_s: README says 'images/s', METRICS 'samples/s'" in problems
    assert "images_per_s: in the README's table, not in METRICS" in problems
    assert "flops: missing from the README's table" in problems


def test_units_that_cannot_be_matched_to_names_are_refused():
    rows = [HEADER, "|---|---|---|", "| `a`, `b` | s, B, J | x |"]
    with pytest.raises(AssertionError, match="3 units for 2 names"):
        units_by_name(table_rows("\n".join(rows)))


def test_the_readme_names_every_technique_vb_model_for_takes():
    """The options table's `--vb-model-for` row lists exactly `profiles.MODEL_FIELDS` (read
    from the technique registry) and `all` (it had drifted: `recipe` was missing)."""
    from visionbench import profiles

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    (row,) = [line for line in text.splitlines() if line.startswith("| `--vb-model-for` |")]
    values = row.split("|")[2]
    named = {name for name in re.findall(r"`([^`]+)`", values) if "=" not in name}
    assert named == {*profiles.MODEL_FIELDS, profiles.ALL_TECHNIQUES}
