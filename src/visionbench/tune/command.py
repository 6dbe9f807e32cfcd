"""`visionbench tune`: the fastest combination of the training switches to a target
accuracy, for one model and dataset on this machine, within a budget in minutes.

    visionbench tune --budget 5                        # quick's small CNN on mnist5k
    visionbench tune --data imagefolder:~/shoes --model resnet18 --target 0.9 --budget 30

Three phases share the budget (wall time, set-up included):

1. search (until SEARCH_SHARE of it): greedy forward selection from the recipe
   ladder's baseline, one seed per trial (`visionbench.tune.search` says why greedy);
2. the designed set (until SHAPLEY_SHARE): the baseline with every subset of the
   winner's switches, so that each switch's Shapley value is measured rather than
   estimated (what is still missing is estimated: `stats.shapley.complete`);
3. confirmation (the rest): the baseline, the winner and the runners-up trained from
   fresh seeds (not the search's: no winner's curse), round by round, and compared
   seed by seed as the report compares times to a target (`stats.seeds`).

Bad input (an unknown switch, model or dataset, a target no configuration reached in
the budget): a message that names it, exit 2.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from visionbench.core.exits import BadInput

SEARCH_SHARE = 0.55  # of the budget: the search's trials start before this
SHAPLEY_SHARE = 0.7  # the designed set's trials start before this; confirmation after
SEARCH_SEED = 0  # the seed of every search trial; confirmation uses seeds 1, 2, ...
DEFAULT_BUDGET_MIN = 5.0
DEFAULT_SEEDS = 5  # confirmation seeds per configuration (budget permitting)
DEFAULT_TOP = 2  # the winner and its runner-up are confirmed against each other
CONFIDENCE = 0.95
MIN_GAIN = 0.05  # a move must cut the time to target by this much to be kept: the
#   search trains one seed, and seed-to-seed spread on a busy CPU is ~5-10%


def add_parser(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser(
        "tune",
        help="find the fastest combination of training switches to a target accuracy",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    t.add_argument("--profile", help="quick, standard or paper (default: as nox -s bench)")
    t.add_argument(
        "--model",
        help="a registry name, or NAME=MODULE:FACTORY (default: the profile's recipe model)",
    )
    t.add_argument("--data", default="mnist5k", help="a --vb-data spec (default mnist5k)")
    t.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    t.add_argument(
        "--target",
        type=float,
        help="test accuracy to reach, 0..1 (default: the profile's target_accuracy)",
    )
    t.add_argument(
        "--budget",
        type=float,
        default=DEFAULT_BUDGET_MIN,
        metavar="MINUTES",
        help=f"wall time of the whole search (default {DEFAULT_BUDGET_MIN:g})",
    )
    t.add_argument(
        "--switches",
        help="comma-separated: data_loading, augmentation, "
        "lr_schedule, precision, memory_format, compile, batch_size (default: all "
        "but compile)",
    )
    t.add_argument(
        "--seeds",
        type=int,
        default=DEFAULT_SEEDS,
        help=f"confirmation seeds (default {DEFAULT_SEEDS})",
    )
    t.add_argument(
        "--top",
        type=int,
        default=DEFAULT_TOP,
        help=f"confirm the winner against the next top-1 (default {DEFAULT_TOP})",
    )
    t.add_argument(
        "--out",
        type=Path,
        help="the trials as a pytest-benchmark JSON (default reports/tune/<time>.json)",
    )
    t.add_argument(
        "--threads",
        type=int,
        help="torch's intra-op CPU threads (default: torch's own, one per core); 1 on a "
        "machine others share",
    )
    t.add_argument(
        "--workdir", type=Path, help="where the data's PNG folders go (default: a temporary folder)"
    )
    t.set_defaults(func=cmd_tune)


def check_args(args: argparse.Namespace) -> None:
    if not args.budget > 0:
        raise BadInput(f"--budget must be a positive number of minutes, not {args.budget}")
    if args.target is not None and not 0 < args.target <= 1:
        raise BadInput(f"--target is a test accuracy between 0 and 1, not {args.target}")
    if args.seeds < 2:
        raise BadInput(f"--seeds must be at least 2 (a paired interval), not {args.seeds}")
    if args.top < 2:
        raise BadInput(f"--top must be at least 2 (the winner and a runner-up), not {args.top}")
    if args.threads is not None and args.threads < 1:
        raise BadInput(f"--threads must be at least 1, not {args.threads}")
    if args.device not in ("auto", "cpu", "cuda"):
        raise BadInput(f"--device: unknown device {args.device!r}; choose auto, cpu or cuda")


def cmd_tune(args: argparse.Namespace) -> int:
    check_args(args)
    from visionbench.tune import space

    try:
        names = space.parse_switches(args.switches)
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    from visionbench.tune.run import tune

    if args.workdir is not None:
        return tune(args, names)
    with tempfile.TemporaryDirectory(prefix="visionbench-tune-") as tmp:
        args.workdir = Path(tmp)
        return tune(args, names)


class Clock:
    """The budget: elapsed wall time against shares of it."""

    def __init__(self, minutes: float, now: Callable[[], float] = time.monotonic) -> None:
        self.total_s = minutes * 60
        self.now = now
        self.start = now()

    def elapsed(self) -> float:
        return self.now() - self.start

    def past(self, share: float) -> bool:
        return self.elapsed() >= share * self.total_s


def speedup_interval(
    winner: list[float | None], other: list[float | None], confidence: float = CONFIDENCE
) -> tuple[int, int, float | None, float | None, float | None]:
    """(pairs, censored, other/winner speed-up, low, high) over the seeds both reached the
    target in: the geometric mean of the per-seed ratios with the t-interval of their logs
    (`stats.seeds.paired_interval`, as the report's time-to-target evidence)."""
    from visionbench.stats.seeds import paired_interval

    pairs = [(w, o) for w, o in zip(winner, other, strict=False) if w and o]
    censored = sum(1 for w, o in zip(winner, other, strict=False) if not (w and o))
    if not pairs:
        return 0, censored, None, None, None
    logs = [math.log(o / w) for w, o in pairs]
    mean, low, high = paired_interval(logs, confidence)
    return (
        len(pairs),
        censored,
        math.exp(mean),
        math.exp(low) if low is not None else None,
        math.exp(high) if high is not None else None,
    )


def recommend(winner: Any, runners_up: Sequence[tuple[Any, Any]]) -> tuple[Any, float]:
    """The recommendation after confirmation, and its time over the winner's: the
    search's winner, unless the fresh seeds found runners-up significantly faster (each
    runner-up with its `output.Contrast` against the winner: its time over the winner's),
    then the fastest of those."""
    faster = [(c.speedup, config) for config, c in runners_up
              if c.significant and c.speedup is not None and c.speedup < 1]  # fmt: skip
    if not faster:
        return winner, 1.0
    ratio, config = min(faster, key=lambda pair: pair[0])
    return config, ratio
