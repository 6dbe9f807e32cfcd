"""Do two saved runs of the same commit agree on what each technique buys?

    python scripts/ratio_check.py RUN_A.json RUN_B.json

For every benchmark that recorded a paired ratio to its reference
(`ratio_vs_ref` with `ratio_ci_low`..`ratio_ci_high`) in both runs: whether the
two intervals overlap, and whether one run calls the variant "faster" and the
other "slower" (the report's verdict, at the gate's time tolerance for that
benchmark, its pattern's override included). Prints a
table and the share that overlap; exit 1 when fewer than 95% overlap or any
verdict flips, 2 when a run cannot be read (the message names the file).
"""

from __future__ import annotations

import sys
from pathlib import Path

from tabulate import tabulate

from visionbench.gate.config import load_config
from visionbench.measure import results
from visionbench.report import time_verdict


def paired(path: Path) -> dict[str, tuple[float, float, float]]:
    out = {}
    for name, b in results.load(path).benchmarks.items():
        e = b.extra_info
        if all(
            isinstance(e.get(k), (int, float))
            for k in ("ratio_vs_ref", "ratio_ci_low", "ratio_ci_high")
        ):
            out[name] = (e["ratio_vs_ref"], e["ratio_ci_low"], e["ratio_ci_high"])
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        a, b = (paired(Path(p)) for p in argv)
    except results.ResultsError as exc:
        print(f"ratio_check: {exc}", file=sys.stderr)
        return 2
    config = load_config()
    rows, overlap, flips = [], 0, 0
    for name in sorted(a.keys() & b.keys()):
        (ra, la, ha), (rb, lb, hb) = a[name], b[name]
        both = la <= hb and lb <= ha
        tolerance = config.tolerance_for(name, "time")
        va, vb = time_verdict(la, ha, tolerance), time_verdict(lb, hb, tolerance)
        flip = {va, vb} == {"faster", "slower"}
        overlap += both
        flips += flip
        rows.append(
            [
                name.split("::")[-1],
                f"{ra:.3g} [{la:.3g}–{ha:.3g}]",
                f"{rb:.3g} [{lb:.3g}–{hb:.3g}]",
                "yes" if both else "NO",
                va,
                vb,
            ]
        )
    print(tabulate(rows, headers=["benchmark", "run A", "run B", "overlap", "A says", "B says"]))
    n = len(rows)
    share = overlap / n if n else 0.0
    print(f"\n{overlap}/{n} intervals overlap ({share:.0%}); {flips} verdict(s) flip faster/slower")
    return 0 if n and share >= 0.95 and not flips else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
