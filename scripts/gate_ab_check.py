"""Check the A/B gate on this machine: A/A invocations, and a real slowdown injected.

    python scripts/gate_ab_check.py --aa 10 --slow 3 -- -k model_size --vb-profile quick
    python scripts/gate_ab_check.py --aa 0 --slow 10 --extra 0.5 -- -k model_size
    python scripts/gate_ab_check.py --aa 2 --slow 1 --budget 6 -- -k "model_size and small_cnn"

Each invocation is `visionbench ab --baseline HEAD` run from a temporary clean
worktree of HEAD (your own uncommitted changes play no part):

- A/A: the candidate tree is HEAD itself; nothing changed, so every
  "regression" is a false positive.
- slow: the candidate tree gets a patch (only that temporary tree): in
  training mode every Conv2d repeats its forward, without autograd, on
  `--extra` batches more (1.5: the batch and half of it again), real compute
  that contention slows like the rest, unlike a sleep. Training steps slow
  down by an amount that depends on the model's share of convolution time;
  inference is untouched. Each train-step benchmark should come out
  "regression" (or "inconclusive" with an interval holding the true ratio,
  where the noise allows no decision in the budget), inference never.

It prints per benchmark the verdicts, the false-positive rate (A/A), the
detection rate (slow, train steps), the inconclusive rate, σ_d (the sd of one
pair's log-ratio, pooled over the invocations), the ratio and the median
interval width, and the invocations' durations; each invocation's JSON is kept
under --out. Extra arguments go to `visionbench ab` (pytest arguments and its
own options). Exit 1 if an A/A invocation flagged a regression or the slow
candidate flagged an inference benchmark, else 0.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from tabulate import tabulate

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from visionbench.gate import worktree  # noqa: E402

PATCHED = "src/visionbench/train.py"
PATCH = '''

# -- gate_ab_check: an injected slowdown (only in a temporary candidate tree) --------------
def _inject_slowdown(extra: float) -> None:
    """Training-mode convolutions repeat their forward on `extra` batches more."""
    forward = nn.Conv2d.forward

    def slower(self, x):
        out = forward(self, x)
        if self.training and extra > 0:
            n = x.shape[0]
            copies = [x] * int(extra) + [x[: round((extra % 1) * n)]]
            with torch.no_grad():
                forward(self, torch.cat([c for c in copies if len(c)]))
        return out

    nn.Conv2d.forward = slower


_inject_slowdown({extra!r})
'''


def invoke(tree: Path, args: list[str], out: Path, log: Path) -> tuple[int, float]:
    """`visionbench ab --baseline HEAD` from `tree` (this checkout's visionbench)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    cmd = [sys.executable, "-m", "visionbench.cli", "ab", "--baseline", "HEAD",
           "--json", str(out), "--summary", str(out.with_suffix(".md")), *args]  # fmt: skip
    start = time.monotonic()
    with open(log, "w", encoding="utf-8") as fh:
        proc = subprocess.Popen(cmd, cwd=tree, env=env, stdout=fh, stderr=subprocess.STDOUT)
        try:
            code = proc.wait()
        except BaseException:  # Ctrl-C, SIGTERM: let it remove its own worktree first
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=120)
            raise
    return code, time.monotonic() - start


def run_case(label: str, count: int, extra: float | None, args: list[str], out: Path) -> list:
    """`count` invocations; the JSON of each (None where it gave none)."""
    results = []
    commit = worktree.resolve_rev(ROOT, "HEAD")
    for i in range(count):
        with worktree.baseline_worktree(ROOT, commit) as tree:
            if extra is not None:
                with open(tree / PATCHED, "a", encoding="utf-8") as fh:
                    fh.write(PATCH.format(extra=extra))
            path = out / f"{label}-{i + 1:02d}.json"
            code, seconds = invoke(tree, args, path, path.with_suffix(".log"))
        print(f"{label} {i + 1}/{count}: exit {code} in {seconds / 60:.1f} min", flush=True)
        if code == 2 or not path.is_file():
            print(f"  bad input or no results: see {path.with_suffix('.log')}", file=sys.stderr)
            results.append(None)
            continue
        results.append(json.loads(path.read_text()))
    return results


def table(label: str, results: list) -> tuple[list[list], Counter]:
    """Rows per benchmark of one case, and the verdicts that matter for the exit code."""
    by_bench: dict[str, list[dict]] = {}
    for data in filter(None, results):
        for b in data["benchmarks"]:
            if b["metric"] == "time":
                by_bench.setdefault(b["name"], []).append(b)
    rows, flags = [], Counter()
    for name, items in by_bench.items():
        verdicts = Counter(b["verdict"] for b in items)
        logs = [x for b in items for x in b.get("log_ratios", [])]
        widths = [b["ci_high"] / b["ci_low"] - 1 for b in items if b["ci_low"] and b["ci_high"]]
        ratios = [b["ratio"] for b in items if b["ratio"]]
        kind = "train" if "train_step" in name else "infer" if "inference" in name else "other"
        if verdicts["regression"]:
            flags[f"{label}:{kind}"] += verdicts["regression"]
        rows.append([
            label, name.split("::")[-1], len(items), verdicts["regression"],
            verdicts["inconclusive"], verdicts["unchanged"], verdicts["improvement"],
            verdicts["failed"],
            f"{statistics.stdev(logs):.3f}" if len(logs) > 1 else "-",
            f"{statistics.median(ratios):.3f}" if ratios else "-",
            f"{statistics.median(widths):.1%}" if widths else "unbounded",
            f"{statistics.median(b['pairs'] for b in items):.0f}",
        ])  # fmt: skip
    return rows, flags


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--aa", type=int, default=10, help="A/A invocations (default 10)")
    parser.add_argument("--slow", type=int, default=3, help="slowed invocations (default 3)")
    parser.add_argument(
        "--extra", type=float, default=1.5, help="extra convolution batches (default 1.5)"
    )
    parser.add_argument("--budget", type=float, default=15, help="minutes per invocation")
    parser.add_argument(
        "--full", action="store_true", help="include the full run per side (default: times only)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "ab-check")
    args, rest = parser.parse_known_args(argv)
    rest = [a for a in rest if a != "--"]
    ab_args = ["--budget", str(args.budget), *([] if args.full else ["--times-only"]), *rest]
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"visionbench ab {' '.join(ab_args)}: {args.aa} A/A, {args.slow} slowed by "
          f"{args.extra} extra convolution batches in training; results in {args.out}")  # fmt: skip
    cases = {
        "A/A": run_case("aa", args.aa, None, ab_args, args.out),
        f"+{args.extra}": run_case("slow", args.slow, args.extra, ab_args, args.out),
    }
    rows, flags = [], Counter()
    for label, results in cases.items():
        r, f = table(label, results)
        rows += r
        flags += f
    headers = ["case", "benchmark", "runs", "regr", "incon", "unch", "impr", "failed",
               "σ_d", "ratio", "CI width", "pairs"]  # fmt: skip
    print(tabulate(rows, headers=headers))
    for label, results in cases.items():
        done = [d for d in results if d]
        if not done:
            continue
        minutes = [d["seconds"] / 60 for d in done]
        any_regression = sum(any(b["verdict"] == "regression" for b in d["benchmarks"])
                             for d in done)  # fmt: skip
        undecided = [b["verdict"] == "inconclusive" for d in done for b in d["benchmarks"]]
        print(
            f"{label}: {len(done)} invocation(s), {any_regression} with a regression; "
            f"inconclusive {sum(undecided)}/{len(undecided)} comparisons; "
            f"{min(minutes):.1f}-{max(minutes):.1f} min each, "
            f"{statistics.median(d['pairs'] for d in done):.0f} pairs (median)"
        )
    slow = [d for d in cases[f"+{args.extra}"] if d]
    trains = [b for d in slow for b in d["benchmarks"] if "train_step" in b["name"]]
    if trains:
        caught = sum(b["verdict"] == "regression" for b in trains)
        print(f"detection: {caught}/{len(trains)} train-step comparisons flagged")
    bad = (
        flags["A/A:train"] + flags["A/A:infer"] + flags["A/A:other"] + flags[f"+{args.extra}:infer"]
    )
    return 1 if bad or any(d is None for r in cases.values() for d in r) else 0


if __name__ == "__main__":
    sys.exit(main())
