"""How many accuracy comparisons does pairing over images resolve in a saved run?

    python scripts/accuracy_pairing.py RUN.json

Every accuracy the report compares with its reference (each variant of each
technique's main group) is judged twice at the gate's accuracy tolerance for that
benchmark: by the unpaired rule (each accuracy's binomial noise on its own test
images, the outcomes ignored, as runs saved before them are read) and by the paired
one (`stats.outcomes`, where both kept their per-image outcomes on the same images).
Prints one row per comparison, then the counts resolved (same, better or worse)
under each rule, for every row and for the summary's rows; exit 2 when the run
cannot be read.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

from tabulate import tabulate

from visionbench.gate.config import load_config
from visionbench.measure import results
from visionbench.measure.figures import infos_difference
from visionbench.measure.results import Run
from visionbench.report import summary
from visionbench.report.evidence import main_groups, split_reference
from visionbench.stats.equivalence import UNRESOLVED, judge

PAIRING_KEYS = ("accuracy_outcomes", "eval_set")


def unpaired(run: Run) -> Run:
    """The run as one saved before outcomes were kept."""
    out = copy.deepcopy(run)
    for b in out.benchmarks.values():
        for key in PAIRING_KEYS:
            b.extra_info.pop(key, None)
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        run = results.load(Path(argv[0]))
    except results.ResultsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    config = load_config()
    rows = []
    for technique, where, benches in main_groups(run):
        ref, others = split_reference(benches)
        for b in others if ref is not None else []:
            tol = config.tolerance_for(b.fullname, "accuracy")
            paired = infos_difference(b.extra_info, ref.extra_info)
            if paired is None:
                continue
            strip = {k: v for k, v in b.extra_info.items() if k not in PAIRING_KEYS}
            before = judge(infos_difference(strip, ref.extra_info), tol)
            after = judge(paired, tol)
            how = paired.paired.method if paired.paired is not None else "unpaired (no outcomes)"
            rows.append(
                [f"{technique} {b.variant} vs {ref.variant}", where, f"{paired.change * 100:+.1f}",
                 before.short(), after.short(), how]
            )  # fmt: skip
    print(tabulate(rows, ["comparison", "where", "pt", "unpaired", "paired", "paired by"]))
    resolved = [sum(r[i] != UNRESOLVED and not r[i].startswith(UNRESOLVED) for r in rows)
                for i in (3, 4)]  # fmt: skip
    print(f"\nvariant-vs-reference rows: {len(rows)}; resolved unpaired {resolved[0]}, "
          f"paired {resolved[1]}")  # fmt: skip
    counts = []
    for r in (unpaired(run), run):
        judged = [x.judgement(config) for x in summary.technique_rows(r, config)]
        counts.append(sum(j is not None and j.verdict != UNRESOLVED for j in judged))
    total = sum(x.accuracy is not None for x in summary.technique_rows(run, config))
    print(f"summary rows with an accuracy: {total}; resolved unpaired {counts[0]}, "
          f"paired {counts[1]}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
