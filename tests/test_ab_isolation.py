"""The timing lane keeps benchmarks apart: within a block each benchmark is timed by a
fresh pair of workers of its own, so that what another benchmark did to a worker (the
CPU it was charged, its allocator) never reaches one side's rounds alone.

A fake zygote stands in for the real one: no process, no timing.
"""

from __future__ import annotations

import random
from pathlib import Path

from visionbench.ab.processes import Pinned, Side
from visionbench.ab.timing import TimingLane

NAMES = ("benches/bench_x.py::bench_train", "benches/bench_x.py::bench_infer",
         "benches/bench_x.py::bench_load")  # fmt: skip


class FakeWorker:
    """Builds what its spec's node ids name (every benchmark when it names none)."""

    def __init__(self, pid: int, spec: dict, root: Path) -> None:
        self.side, self.pid, self.log = spec["side"], pid, Path(spec["log"])
        prefix = f"{root / spec['side']}/"
        nodes = [a.removeprefix(prefix) for a in spec["args"] if a.startswith(prefix)]
        self.built = [n for n in NAMES if n in nodes] or list(NAMES)
        self.asked: list[str] = []
        self.quit_called = False

    def receive(self, timeout: float) -> tuple:
        units = dict.fromkeys(self.built, 0.01)
        report = {"exit": 0, "units": units, "failed": {}, "skipped": {}, "not_timed": {},
                  "cuda_devices": [], "threads": 1}  # fmt: skip
        return ("ready", report)

    def ask(self, request: tuple, timeout: float) -> tuple:
        assert not self.quit_called, "asked after it was told to quit"
        self.asked.append(request[1])
        return ("done", 0.01)

    def quit(self) -> None:
        self.quit_called = True


class FakeZygote:
    def __init__(self, root: Path) -> None:
        self.root, self.workers, self.hello = root, [], {"gpus": []}

    def fork(self, spec: dict) -> FakeWorker:
        worker = FakeWorker(1000 + len(self.workers), spec, self.root)
        self.workers.append(worker)
        return worker


def lane(tmp_path: Path) -> tuple[TimingLane, FakeZygote]:
    for side in ("candidate", "baseline"):
        (tmp_path / side / "benches").mkdir(parents=True)
        (tmp_path / side / "benches" / "bench_x.py").write_text("")
    zygote = FakeZygote(tmp_path)
    pinned = Pinned(1, tmp_path, {}, "on", ())
    lane = TimingLane(zygote, Side("candidate", tmp_path / "candidate", "work tree"),
                      Side("baseline", tmp_path / "baseline", "HEAD"), ["benches"], pinned,
                      tmp_path, rng=random.Random(1), rounds=4)  # fmt: skip
    return lane, zygote


def test_each_benchmark_of_a_block_gets_a_fresh_worker_pair_of_its_own(tmp_path):
    lane_, zygote = lane(tmp_path)
    block = lane_.block(0, None)
    assert sorted(block.logs) == sorted(NAMES) and all(len(d) == 4 for d in block.logs.values())
    collecting, timing = zygote.workers[:2], zygote.workers[2:]
    assert all(w.asked == [] and w.built == list(NAMES) for w in collecting)  # named them
    assert len(timing) == 2 * len(NAMES)  # then a pair per benchmark, none shared
    for name in NAMES:
        pair = [w for w in timing if name in w.asked]
        assert sorted(w.side for w in pair) == ["baseline", "candidate"]
        assert all(set(w.asked) == {name} and w.built == [name] for w in pair)
    assert all(w.quit_called for w in zygote.workers)


def test_a_later_block_forks_no_collecting_pair(tmp_path):
    lane_, zygote = lane(tmp_path)
    block = lane_.block(1, list(NAMES[:2]))
    assert sorted(block.logs) == sorted(NAMES[:2])
    assert len(zygote.workers) == 4 and all(len(set(w.asked)) == 1 for w in zygote.workers)


def test_the_collecting_pair_is_counted_apart_for_planning(tmp_path):
    """The first block's extra pair is not what later blocks repeat: its seconds are
    kept apart, so the blocks planned from the first one are not too few."""
    first = lane(tmp_path)[0].block(0, None)
    assert 0 < first.collect_s <= first.setup_s
    assert lane(tmp_path / "later")[0].block(1, list(NAMES)).collect_s == 0
