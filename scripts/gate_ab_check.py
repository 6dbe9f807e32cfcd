"""Check the A/B gate on this machine: A/A invocations, real slowdowns injected, calibration.

    SEL="-k model_size --vb-profile quick"
    python scripts/gate_ab_check.py --calibrate --budget 5 -- $SEL
    python scripts/gate_ab_check.py --aa 3 --budget 12 -- $SEL
    python scripts/gate_ab_check.py --slow 2 --extra 1.5 --budget 12 -- $SEL
    python scripts/gate_ab_check.py --slow 3 --extra 0.5 --budget 12 -- $SEL
    python scripts/gate_ab_check.py --slow 1 --extra 0.5 --lane instructions --budget 10 -- $SEL
    python scripts/gate_ab_check.py --eval 1 --extra 1.5 --budget 12 -- $SEL

Each invocation is `visionbench ab --baseline HEAD` run from a temporary clean
worktree of HEAD (your own uncommitted changes play no part), with one
storage under --out for all of them (the calibration, saved runs):

- --calibrate: `visionbench ab --calibrate` (the baseline against itself for
  --budget minutes); its table: per benchmark the spread of a round-pair, of
  a block, and the smallest change provable in 5, 15 and 30 minutes. Later
  invocations plan their blocks with it.
- --aa N: the candidate tree is HEAD itself; every "regression" is false.
- --slow N: the candidate's conftest.py gets a patch: in training mode every
  Conv2d repeats its forward, without autograd, on --extra batches more (1.5:
  the batch and half of it again; measured +16..33% on model-size train steps,
  0.5: +6..16%): real compute, slowed by contention like the rest. Every
  train step should come out "regression", inference never.
- --eval N: the same patch in eval mode only: inference should regress, no
  train step.

With --full the invocations also compare accuracy and memory: a run of HEAD
is saved into the storage first (untimed), so that each invocation reuses it
as the baseline's and only the candidate trains inside its budget.
It prints per case and benchmark the verdicts, the ratio, the spreads (a
block's, a round-pair's), the blocks and the smallest provable change, then
every invocation's verdicts, duration and minutes by phase. Each invocation's
JSON and log stay under --out. Extra arguments go to `visionbench ab`. Exit 1
if an A/A flagged a regression, a slowed train-mode candidate flagged an
inference bench, or the eval-mode one a train step; else 0.
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

from visionbench import cli  # noqa: E402
from visionbench.ab import worktree  # noqa: E402

PATCHED = "conftest.py"
PATCH = '''

# -- gate_ab_check: an injected slowdown (only in a temporary candidate tree) --------------
def _inject_slowdown(extra: float, training: bool) -> None:
    """Convolutions in training mode (or in eval mode) repeat their forward on `extra`
    batches more, without autograd."""
    import torch
    import torch.nn as nn

    forward = nn.Conv2d.forward

    def slower(self, x):
        out = forward(self, x)
        if self.training == training and extra > 0:
            n = x.shape[0]
            copies = [x] * int(extra) + [x[: round((extra % 1) * n)]]
            with torch.no_grad():
                forward(self, torch.cat([c for c in copies if len(c)]))
        return out

    nn.Conv2d.forward = slower


_inject_slowdown({extra!r}, training={training!r})
'''
CASES = {"aa": None, "slow": True, "eval": False}  # the patch's mode: training, eval, none


def env_of() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}


def invoke(tree: Path, args: list[str], out: Path, log: Path) -> tuple[int, float, str]:
    """`visionbench ab` from `tree` (this checkout's visionbench); (exit, seconds, stdout)."""
    cmd = [sys.executable, "-m", "visionbench.cli", "ab", *args]
    start = time.monotonic()
    with open(log, "w", encoding="utf-8") as fh:
        proc = subprocess.Popen(cmd, cwd=tree, env=env_of(), stdout=subprocess.PIPE,
                                stderr=fh, text=True)  # fmt: skip
        try:
            stdout, _ = proc.communicate()
        except BaseException:  # Ctrl-C, SIGTERM: let it remove its own worktree first
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=120)
            raise
    with open(log, "a", encoding="utf-8") as fh:
        fh.write(stdout)
    return proc.returncode, time.monotonic() - start, stdout


def save_baseline(storage: Path, pytest_args: list[str], out: Path) -> None:
    """A run of HEAD saved into `storage` (made in a clean worktree, so of HEAD's commit)."""
    commit = worktree.resolve_rev(ROOT, "HEAD")
    with worktree.baseline_worktree(ROOT, commit) as tree:
        args = [a for a in pytest_args if not a.startswith("--benchmark")]
        named = any(not a.startswith("-") and (tree / a.split("::")[0]).exists() for a in args)
        cmd = [sys.executable, "-m", "pytest", *([] if named else ["benches"]), *args,
               f"--benchmark-storage=file://{storage}", "--benchmark-save=baseline",
               "--benchmark-save-data", "-q", "-p", "no:cacheprovider"]  # fmt: skip
        print(f"saving a run of HEAD ({commit[:12]}) as the invocations' baseline...", flush=True)
        with open(out / "baseline-run.log", "w", encoding="utf-8") as fh:
            subprocess.run(cmd, cwd=tree, env=env_of(), stdout=fh, stderr=subprocess.STDOUT)


def run_case(case: str, count: int, extra: float, ab_args: list[str], out: Path) -> list:
    """`count` invocations of one case; the JSON of each (None where it gave none)."""
    results = []
    commit = worktree.resolve_rev(ROOT, "HEAD")
    for i in range(count):
        path = out / f"{case}-{i + 1:02d}.json"
        with worktree.baseline_worktree(ROOT, commit) as tree:
            if CASES[case] is not None:
                with open(tree / PATCHED, "a", encoding="utf-8") as fh:
                    fh.write(PATCH.format(extra=extra, training=CASES[case]))
            args = ["--baseline", "HEAD", "--json", str(path),
                    "--summary", str(path.with_suffix(".md")), *ab_args]  # fmt: skip
            code, seconds, _ = invoke(tree, args, path, path.with_suffix(".log"))
        print(f"{case} {i + 1}/{count}: exit {code} in {seconds / 60:.1f} min", flush=True)
        if code == 2 or not path.is_file():
            print(f"  bad input or no results: see {path.with_suffix('.log')}", file=sys.stderr)
            results.append(None)
            continue
        results.append(json.loads(path.read_text()))
    return results


def kind(name: str) -> str:
    return "train" if "train_step" in name else "infer" if "inference" in name else "other"


def provable_of(bench: dict) -> float | None:
    """The smallest change an invocation could prove: the timing lane's, from its blocks
    (None: none with so few); the instruction lane's is its tolerance."""
    return bench.get("provable") if bench["metric"] == "time" else bench.get("tolerance")


def _median(values: list, fmt: str) -> str:
    values = [v for v in values if v is not None]
    return format(statistics.median(values), fmt) if values else "-"


def table(case: str, results: list) -> tuple[list[list], Counter]:
    """Rows per benchmark of one case, and the regressions by kind (for the exit code)."""
    by_bench: dict[str, list[dict]] = {}
    for data in filter(None, results):
        for b in data["benchmarks"]:
            if b["metric"] in ("time", "instructions"):
                by_bench.setdefault(b["name"], []).append(b)
    rows, flags = [], Counter()
    for name, items in by_bench.items():
        verdicts = Counter(b["verdict"] for b in items)
        if verdicts["regression"]:
            flags[f"{case}:{kind(name)}"] += verdicts["regression"]
        rows.append([
            case, name.split("::")[-1], items[0]["metric"], len(items), verdicts["regression"],
            verdicts["inconclusive"], verdicts["unchanged"], verdicts["improvement"],
            verdicts["failed"] + verdicts["baseline failed"],
            _median([b.get("ratio") for b in items], ".3f"),
            _median([b.get("sigma_block") for b in items], ".3f"),
            _median([b.get("sigma_round_pair") for b in items], ".3f"),
            _median([b.get("blocks") for b in items], ".0f"),
            _median([provable_of(b) for b in items], ".1%"),
        ])  # fmt: skip
    return rows, flags


HEADERS = ["case", "benchmark", "metric", "runs", "regr", "incon", "unch", "impr", "failed",
           "ratio", "sd block", "sd round-pair", "blocks", "provable"]  # fmt: skip


def invocation_lines(case: str, results: list) -> list[str]:
    lines = []
    for i, d in enumerate(results, 1):
        if d is None:
            lines.append(f"{case} {i}: no results")
            continue
        verdicts = Counter(
            f"{kind(b['name'])} {b['verdict']}"
            for b in d["benchmarks"]
            if b["metric"] in ("time", "instructions")
        )
        minutes = ", ".join(f"{k} {v:.1f}" for k, v in d.get("minutes", {}).items())
        lines.append(
            f"{case} {i}: exit {d['exit_code']}, {d.get('blocks', 0)} blocks; "
            f"{', '.join(f'{n} {v}' for v, n in sorted(verdicts.items()))}; minutes: {minutes}"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calibrate", action="store_true", help="calibrate first (A/A)")
    parser.add_argument("--aa", type=int, default=0, help="A/A invocations")
    parser.add_argument("--slow", type=int, default=0, help="train-mode slowed invocations")
    parser.add_argument("--eval", type=int, default=0, help="eval-mode slowed invocations")
    parser.add_argument(
        "--extra", type=float, default=1.5, help="extra convolution batches (default 1.5)"
    )
    parser.add_argument("--budget", type=float, default=12, help="minutes per invocation")
    parser.add_argument("--lane", choices=("time", "instructions"), default="time")
    parser.add_argument(
        "--full", action="store_true", help="with accuracy and memory (default: times only)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "ab-check")
    args, rest = parser.parse_known_args(argv)
    rest = [a for a in rest if a != "--"]
    args.out.mkdir(parents=True, exist_ok=True)
    storage = (args.out / "storage").resolve()
    _, pytest_args = cli.parser().parse_known_args(["ab", "--baseline", "HEAD", *rest])
    common = ["--lane", args.lane, "--storage", str(storage), *rest]
    if args.calibrate:
        commit = worktree.resolve_rev(ROOT, "HEAD")
        with worktree.baseline_worktree(ROOT, commit) as tree:
            calibrate = ["--baseline", "HEAD", "--calibrate", "--budget", str(args.budget), *common]
            code, seconds, stdout = invoke(tree, calibrate, args.out / "calibration.json",
                                           args.out / "calibration.log")  # fmt: skip
        print(stdout)
        print(f"calibration: exit {code} in {seconds / 60:.1f} min")
    ab_args = ["--budget", str(args.budget), *([] if args.full else ["--times-only"]), *common]
    if args.full and (args.aa or args.slow or args.eval):
        save_baseline(storage, pytest_args, args.out)
    cases = {
        "aa": run_case("aa", args.aa, args.extra, ab_args, args.out),
        "slow": run_case("slow", args.slow, args.extra, ab_args, args.out),
        "eval": run_case("eval", args.eval, args.extra, ab_args, args.out),
    }
    rows, flags = [], Counter()
    for case, results in cases.items():
        r, f = table(case, results)
        rows += r
        flags += f
    if rows:
        print(tabulate(rows, headers=HEADERS))
        print()
    for case, results in cases.items():
        for line in invocation_lines(case, results):
            print(line)
    bad = sum(flags[f"aa:{k}"] for k in ("train", "infer", "other"))
    bad += flags["slow:infer"] + flags["eval:train"]
    return 1 if bad or any(d is None for r in cases.values() for d in r) else 0


if __name__ == "__main__":
    sys.exit(main())
