"""The timing lane: blocks of round-interleaved pairs, timed by workers of one zygote.

Per block and benchmark the zygote (`visionbench.ab.zygote`) forks a fresh
pair of workers, one per side: each imports visionbench, conftest and the
benches from its own side's tree, builds that benchmark's unit alone (its node
id collected) in timing-only mode and warms it up. The coordinator then asks
for round-pairs: each pair is one call of the candidate's unit and one of the
baseline's, a few milliseconds apart, in a random order with as many AB as BA,
and gives log(candidate / baseline). Only one side runs at a time (the other
waits on its pipe, asleep): on a GPU the sides alternate, never overlap. A
pair never serves a second benchmark: what one benchmark did to a worker
(the CPU it was charged, its allocator, its caches) would otherwise reach the
next one's rounds on one side only (`TimingLane.block`).

Whatever slows the machine during a pair slows both members; what stays
between two processes (their layout, the state of their allocators) does not
change within a block, so the block is the sample: a block's figure per
benchmark is the median log-ratio of its round-pairs, and the test runs
across blocks (`stats.sequential.run_looks`: Wilcoxon signed-rank, Hodges–Lehmann
interval, Holm, alpha spent over looks). A decided benchmark leaves the later
blocks, which then build and time only the others.
"""

from __future__ import annotations

import math
import random
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from visionbench.ab import defaults as settings
from visionbench.ab.gpu import clocks
from visionbench.ab.processes import (
    BASELINE_FAILED,
    PYTEST_BAD_INPUT,
    Pinned,
    Side,
    Worker,
    WorkerLost,
    Zygote,
    tail,
    worker_args,
)
from visionbench.ab.worktree import AbError
from visionbench.stats.paired import balanced_orders

SIDES = ("A", "B")  # A: the candidate, B: the baseline (an order "AB": candidate first)


def rounds_for(unit_s: float | None, override: int | None = None) -> int:
    """Round-pairs of one benchmark in a block: about `ROUNDS_SECONDS` of its pairs,
    between `MIN_ROUNDS` and `MAX_ROUNDS` (`override`: --rounds)."""
    if override is not None:
        return override
    if not unit_s or unit_s <= 0:
        return settings.MIN_ROUNDS
    wanted = round(settings.ROUNDS_SECONDS / (2 * unit_s))
    return max(settings.MIN_ROUNDS, min(settings.MAX_ROUNDS, wanted))


@dataclass
class Ready:
    """What a side's worker built: its units (warm-up seconds), and what it could not."""

    units: dict[str, float | None]
    failed: dict[str, str]
    skipped: dict[str, str]
    not_timed: dict[str, str]
    cuda_devices: list[str]
    threads: int

    @property
    def collected(self) -> set[str]:
        return {*self.units, *self.failed, *self.skipped, *self.not_timed}


@dataclass
class Block:
    """One block: per benchmark the log-ratios of its round-pairs, and what failed."""

    index: int
    logs: dict[str, list[float]] = field(default_factory=dict)
    seconds: dict[str, dict[str, list[float]]] = field(
        default_factory=lambda: {"baseline": {}, "candidate": {}}
    )
    orders: dict[str, list[str]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # the baseline's: BASELINE_FAILED...
    ready: dict[str, Ready] = field(default_factory=dict)  # by side name
    setup_s: float = 0.0  # forks until both sides were ready, summed over its pairs
    rounds_s: float = 0.0  # the round-pairs, summed over its pairs
    collect_s: float = 0.0  # of setup_s: the first block's collecting pair (once)
    gpu: dict[str, Any] = field(default_factory=dict)  # NVML clocks before and after

    def figures(self) -> dict[str, float]:
        """The block's figure per benchmark: the median log-ratio of its round-pairs."""
        return {n: statistics.median(d) for n, d in self.logs.items() if d}


class TimingLane:
    """Blocks of round-pairs between a candidate and a baseline worker."""

    def __init__(
        self,
        zygote: Zygote,
        candidate: Side,
        baseline: Side,
        args: Sequence[str],
        pinned: Pinned,
        workdir: Path,
        *,
        rng: random.Random,
        rounds: int | None = None,
        timeout_s: float = 900.0,
    ) -> None:
        self.zygote, self.args, self.pinned, self.workdir = zygote, list(args), pinned, workdir
        self.sides = {"A": candidate, "B": baseline}
        self.rng, self.rounds, self.timeout_s = rng, rounds, timeout_s
        # two workers building at once would share one GPU: one after the other there
        self.parallel_build = not zygote.hello.get("gpus")

    def spec(self, key: str, tag: str, nodes: Sequence[str] | None) -> dict[str, Any]:
        side = self.sides[key]
        tag = f"{tag}-{side.name}"
        args = worker_args(side.root, self.args, self.workdir / "tmp" / tag, nodes)
        return {
            "mode": "time",
            "side": side.name,
            "root": str(side.root),
            "args": args,
            "threads": self.pinned.threads,
            "warmup": None,
            "max_unit_s": settings.MAX_UNIT_SECONDS["time"],
            "cwd": str(self.pinned.cwd),
            "log": str(self.workdir / f"{tag}.log"),
        }

    def _ready(self, key: str, worker: Worker) -> Ready:
        """The worker's report once it has built its units; AbError when its pytest
        could not run the selection at all (bad arguments, nothing collected)."""
        report = worker.receive(self.timeout_s)[1]
        if report["exit"] in PYTEST_BAD_INPUT:
            side = self.sides[key]
            raise AbError(
                f"pytest of the {side.name} ({side.label}) exited {report['exit']} without "
                f"results; its arguments: {' '.join(self.args) or '(none)'}\n{tail(worker.log)}"
            )
        return Ready(
            report["units"],
            report["failed"],
            report["skipped"],
            report["not_timed"],
            report["cuda_devices"],
            report["threads"],
        )

    def pair(
        self, tag: str, nodes: Sequence[str] | None, workers: dict[str, Worker]
    ) -> dict[str, Ready]:
        """A worker per side forked into `workers` (the caller quits them), built at once
        except on a GPU (one after the other there); what each built."""
        ready: dict[str, Ready] = {}
        for key in SIDES:
            workers[key] = self.zygote.fork(self.spec(key, tag, nodes))
            if not self.parallel_build:
                ready[key] = self._ready(key, workers[key])
        for key in SIDES:
            if key not in ready:
                ready[key] = self._ready(key, workers[key])
        return ready

    def block(self, index: int, active: Sequence[str] | None) -> Block:
        """One block over the `active` benchmarks (None: every one the arguments select,
        which a first pair of workers builds to learn what there is, and quits).

        Each benchmark gets a fresh pair of workers of its own, in a shuffled order: a
        worker that ran another benchmark would carry what that did into this one's
        rounds. Under contention the side whose other benchmark was slower had been
        charged more CPU and was preempted more in its next benchmark's rounds (an
        unchanged train step read 1.09x, a "regression", beside a slowed inference)."""
        block = Block(index)
        names = list(active or [])
        if active is None:
            began, workers = time.monotonic(), {}
            try:
                ready = self.pair(f"block{index:03d}-all", None, workers)
            finally:
                for w in workers.values():
                    w.quit()
            block.collect_s = time.monotonic() - began
            block.setup_s += block.collect_s
            block.ready = {self.sides[k].name: r for k, r in ready.items()}
            names = [n for n in ready["A"].units if n in ready["B"].units]
        self.rng.shuffle(names)
        for i, name in enumerate(names):
            self.one_benchmark(block, f"block{index:03d}-{i:03d}", name)
        return block

    def one_benchmark(self, block: Block, tag: str, name: str) -> None:
        """`name`'s round-pairs in `block`, between a fresh pair of workers that build it
        alone (its node id collected, nothing else)."""
        began, workers = time.monotonic(), {}
        try:
            ready = self.pair(tag, [name], workers)
            block.setup_s += time.monotonic() - began
            missing = [k for k in SIDES if name not in ready[k].units]
            if missing:  # built before, not this time: why
                why = ready[missing[0]].failed.get(name) or ready[missing[0]].skipped.get(name)
                block.errors[name] = self._why(missing[0], why or "not built")
                return
            cuda = bool(ready["A"].cuda_devices or ready["B"].cuda_devices)
            if cuda:
                block.gpu.setdefault("before", clocks())
            begun = time.monotonic()
            self.round_pairs(block, workers, [name], ready)
            block.rounds_s += time.monotonic() - begun
            if cuda:
                block.gpu["after"] = clocks()
        finally:
            for w in workers.values():
                w.quit()

    def round_pairs(
        self, block: Block, workers: dict[str, Worker], names: list[str], ready: dict[str, Ready]
    ) -> None:
        """The round-pairs of `names` between `workers`: round by round, each benchmark
        once per round in a shuffled order, each pair's order from its benchmark's
        balanced orders."""
        counts = {}
        for n in names:
            unit_s = max(ready["A"].units[n] or 0.0, ready["B"].units[n] or 0.0)
            counts[n] = rounds_for(unit_s, self.rounds)
            block.orders[n] = balanced_orders(counts[n], self.rng)
            block.logs[n] = []
            block.seconds["candidate"][n], block.seconds["baseline"][n] = [], []
        for r in range(max(counts.values(), default=0)):
            this_round = [n for n in names if r < counts[n] and n not in block.errors]
            self.rng.shuffle(this_round)
            for n in this_round:
                seconds = {}
                for key in block.orders[n][r]:
                    try:
                        answer = workers[key].ask(("run", n), self.timeout_s)
                    except WorkerLost as exc:
                        self._lost(block, names, key, str(exc))
                        return
                    if answer[0] != "done":
                        block.errors[n] = self._why(key, answer[1])
                        break
                    seconds[key] = answer[1]
                if len(seconds) == 2 and min(seconds.values()) > 0:
                    block.logs[n].append(math.log(seconds["A"] / seconds["B"]))
                    block.seconds["candidate"][n].append(seconds["A"])
                    block.seconds["baseline"][n].append(seconds["B"])

    def _why(self, key: str, message: str) -> str:
        return message if key == "A" else f"{BASELINE_FAILED}{message}"

    def _lost(self, block: Block, names: list[str], key: str, why: str) -> None:
        """A worker died mid-block: every benchmark it had left fails in this block."""
        for n in names:
            if len(block.logs[n]) < len(block.orders[n]):
                block.errors.setdefault(n, self._why(key, why))
