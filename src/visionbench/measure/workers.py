"""A paired ratio's rounds in processes of their own: the between-process samples.

`Runner.time` times a variant round by round with its reference in the bench's
process; with a profile's `Timing.processes` = k > 1 it then times the same
pairs in k - 1 more processes (`paired_elsewhere`), each a fresh process that
builds both units from a picklable recipe (`Units`), warms them up and times
`worker_rounds` pairs in a random, balanced order of its own. The log-ratios,
grouped by process, give the ratio's between-process variance
(`stats.between_process`).

Why forked from a forkserver and not from the bench's process: forking after torch
has run an OpenMP region hangs the child at its first parallel op (measured here:
a forked training step never returned; pytorch/pytorch#17199), and a spawned process
pays seconds of `import torch` per worker. multiprocessing's forkserver imports
torch once, runs nothing, and forks each worker from there (the A/B lane's zygote
pattern, `visionbench.ab.zygote`): about 3 s a worker on a shared 2-core AMD EPYC
under load 9, most of it the worker's own imports and unit building. As with every
forkserver, a script (not pytest) that times ratios in workers needs the
`if __name__ == "__main__":` guard: each worker imports the main module again.
Dry runs (`profiles.dry`) time every unit in one process: their timing has
`processes` = 1, and this path is tested apart (tests/test_between_process.py).
"""

from __future__ import annotations

import math
import multiprocessing
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from visionbench.measure.interleave import Interleaved, Pairing

#: Imported once by the forkserver before it forks any worker (imports only, nothing run);
#: the first recipe's module is added, so that workers do not import it each.
PRELOAD = ("torch", "visionbench.measure.workers")
#: Seconds one worker may take (build, warm-up, pairs) before it is killed.
WORKER_TIMEOUT_S = 600.0


class Units(Protocol):
    """A picklable recipe of a variant's and its reference's units, built in the worker:
    each returned callable runs one unit and ends with a device synchronisation."""

    def __call__(self) -> tuple[Callable[[], Any], Callable[[], Any]]: ...


@dataclass(frozen=True)
class ProcessRounds:
    """The pairs one process timed, and which process it was."""

    pid: int
    pairs: Interleaved


def worker_rounds(rounds: int, processes: int) -> int:
    """Pairs each extra process times: the bench's rounds split over the processes
    (at least 3, so that each process's pairs have a spread)."""
    return max(3, math.ceil(rounds / processes))


def time_pairs(
    variant: Callable[[], Any],
    reference: Callable[[], Any],
    *,
    rounds: int,
    warmup_rounds: int,
    seed: int,
    clock: Callable[[], float] = time.perf_counter,
) -> Interleaved:
    """`rounds` pairs of the two units in this process, as `Pairing` orders them
    (warm-up rounds first, reference first, not kept)."""
    pairing = Pairing(reference, rounds=rounds, warmup_rounds=warmup_rounds, seed=seed, clock=clock)
    times = []
    for _ in pairing.orders:
        pairing.setup()
        start = clock()
        variant()
        times.append(clock() - start)
        pairing.teardown()
    return Interleaved(
        tuple(times[warmup_rounds:]),
        tuple(pairing.ref_times[warmup_rounds:]),
        pairing.timed_orders,
    )


def _run(units: Units, rounds: int, warmup_rounds: int, seed: int) -> ProcessRounds:
    variant, reference = units()
    pairs = time_pairs(variant, reference, rounds=rounds, warmup_rounds=warmup_rounds, seed=seed)
    return ProcessRounds(os.getpid(), pairs)


def paired_elsewhere(
    units: Units, *, rounds: int, warmup_rounds: int, processes: int
) -> list[ProcessRounds]:
    """`processes` fresh processes (forked one after the other from the forkserver),
    each timing `rounds` pairs of `units` after `warmup_rounds`; worker j orders its
    pairs with seed j (the bench's own process has seed 0)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([*PRELOAD, type(units).__module__])
    out = []
    for seed in range(1, processes + 1):
        with context.Pool(1) as pool:  # leaving it ends the worker: one process per call
            result = pool.apply_async(_run, (units, rounds, warmup_rounds, seed))
            try:
                out.append(result.get(WORKER_TIMEOUT_S))
            except multiprocessing.TimeoutError:
                raise TimeoutError(
                    f"a ratio's worker process ran past {WORKER_TIMEOUT_S:.0f} s and was killed"
                ) from None
    return out
