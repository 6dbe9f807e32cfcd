"""The search of `visionbench tune`: greedy forward selection over the switches.

Start from the baseline (every switch at its reference value); each round tries every
switch not yet moved, at each of its other values, on top of the current best, and
keeps the fastest to the target if it beats the current best by more than
`min_gain`; stop when no move helps, every switch has moved, or the budget is spent.

Why greedy and not Optuna (TPE with a pruner) or successive halving: the space is a
handful of switches with two or three values each (at most a few hundred
combinations), every trial is a real training of seconds to minutes, and a budget of
minutes affords a few dozen trials. Greedy needs about k(k+1)/2 of them for k
switches, evaluates every switch alone first (what each is worth from the baseline)
and then on top of the ones kept (what it is worth with them), which is the material
the Shapley values need; a sampler would spread the same trials over combinations
that share little. What greedy can miss, a pair of switches that pays only together
while each alone loses, the Shapley fill-in (`visionbench.tune.command`) evaluates
and the confirmation reports. Successive halving does not fit a time to target: a
trial cut at a rung has no time to compare. Instead a trial is pruned once its
training time passes `prune` times the best time so far: it cannot win the round.

Pure: the objective is a callable, so the tests search a synthetic one whose best
combination is known.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Value = Any  # a switch's value: a string or an int
Log = Callable[[str], None]

PRUNE = 1.5  # a trial slower than this times the best so far is stopped: it cannot win


@dataclass(frozen=True)
class Switch:
    """One training switch: its name (the technique registry's) and its values, the
    first its reference (the baseline's)."""

    name: str
    values: tuple[Value, ...]

    def __post_init__(self) -> None:
        if len(self.values) < 2:
            raise ValueError(f"switch {self.name!r} needs a reference and another value")


class Config(tuple):
    """A configuration: (switch, value) pairs in the switches' order, hashable."""

    @classmethod
    def of(cls, switches: Sequence[Switch], values: Mapping[str, Value]) -> Config:
        return cls((s.name, values.get(s.name, s.values[0])) for s in switches)

    def as_dict(self) -> dict[str, Value]:
        return dict(self)

    def with_(self, name: str, value: Value) -> Config:
        return Config((n, value if n == name else v) for n, v in self)

    def moved(self, switches: Sequence[Switch]) -> dict[str, Value]:
        """The switches set away from their reference value."""
        ref = {s.name: s.values[0] for s in switches}
        return {n: v for n, v in self if v != ref[n]}

    def label(self, switches: Sequence[Switch]) -> str:
        moved = self.moved(switches)
        return "baseline" if not moved else " ".join(f"{n}={v}" for n, v in moved.items())


class Infeasible(Exception):
    """A configuration that cannot run (augmentation without device-resident data, a
    precision the device lacks...): the message says why."""


@dataclass
class Trial:
    """One configuration trained once (the search's seed)."""

    config: Config
    time_s: float | None  # seconds of training to the target; None: not reached
    accuracy: float | None = None  # test accuracy when it stopped (target reached, or end)
    epochs: int | None = None  # epochs trained
    note: str = ""  # why there is no time: "pruned at 3.1 s", "not reached", "infeasible: ..."
    purpose: str = "search"  # "search" or "shapley" (the designed set's fill-in)
    pruned: bool = False  # cut at its bound before reaching the target
    spent_s: float = 0.0  # seconds of training it ran (a cut trial's: its time is longer)

    @property
    def reached(self) -> bool:
        return self.time_s is not None and math.isfinite(self.time_s)


Objective = Callable[[Config, float | None], Trial]  # (config, prune bound in s) -> trial


@dataclass
class Search:
    switches: list[Switch]
    trials: dict[Config, Trial] = field(default_factory=dict)
    path: list[Config] = field(default_factory=list)  # the kept configurations, in order
    stopped: str = ""  # why the search ended

    @property
    def baseline(self) -> Config:
        return Config.of(self.switches, {})

    @property
    def winner(self) -> Config:
        return self.path[-1]

    def ranked(self) -> list[Trial]:
        """Trials that reached the target, fastest first."""
        return sorted((t for t in self.trials.values() if t.reached), key=lambda t: t.time_s)

    def runners_up(self, k: int) -> list[Config]:
        """The k fastest other configurations than the winner."""
        return [t.config for t in self.ranked() if t.config != self.winner][:k]


def evaluate(
    objective: Objective, config: Config, bound: float | None, search: Search, purpose: str
) -> Trial:
    known = search.trials.get(config)
    rerun = known is not None and known.pruned and (bound is None or bound > known.spent_s * PRUNE)
    if known is not None and not rerun:
        return known  # a trial cut at a bound is run again under a much looser one
    try:
        trial = objective(config, bound)
    except Infeasible as exc:
        trial = Trial(config, None, note=f"infeasible: {exc}")
    trial.purpose = purpose
    search.trials[config] = trial
    return trial


def candidates(search: Search, current: Config) -> Iterable[Config]:
    moved = current.moved(search.switches)
    for s in search.switches:
        if s.name not in moved:
            for v in s.values[1:]:
                yield current.with_(s.name, v)


def greedy(
    switches: Sequence[Switch],
    objective: Objective,
    *,
    out_of_time: Callable[[], bool] = lambda: False,
    min_gain: float = 0.0,
    prune: float = PRUNE,
    time_left: Callable[[], float | None] = lambda: None,
) -> Search:
    """Greedy forward selection (the module docstring) from the baseline. A trial is
    bounded by `prune` times the best time so far and by `time_left()` (seconds of the
    search's budget left; None: no limit), whichever is less."""
    search = Search(list(switches))

    def bound() -> float | None:
        best = min((t.time_s for t in search.ranked()), default=None)
        limits = [
            x for x in (best * prune if best is not None else None, time_left()) if x is not None
        ]
        return min(limits, default=None)

    # The baseline is trained after the first round's candidates, bounded as they are:
    # a slow baseline (PNGs decoded every epoch) is cut once it cannot be the fastest,
    # and its time is then known to be longer than what it spent (censored).
    search.path.append(search.baseline)
    current: Trial | None = None
    while True:
        tried = []
        for config in candidates(search, search.path[-1]):
            if out_of_time():
                break
            tried.append(evaluate(objective, config, bound(), search, "search"))
        if current is None:
            current = evaluate(objective, search.baseline, bound(), search, "search")
        reached = [t for t in tried if t.reached]
        if not tried:
            search.stopped = (
                "the search's share of the budget was spent"
                if out_of_time()
                else "every switch has moved"
            )
            return search
        best = min(reached, key=lambda t: t.time_s, default=None)  # type: ignore[arg-type,return-value]
        if best is None or not beats(best, current, min_gain):
            search.stopped = (
                "the search's share of the budget was spent"
                if out_of_time()
                else "no move beat the current best"
            )
            return search
        current = best
        search.path.append(best.config)


def beats(a: Trial, b: Trial, min_gain: float) -> bool:
    """Whether reached trial `a` should replace `b`: faster than b's time by more than
    min_gain; or `b` has no time (never reached the target, or cut at a bound: a
    configuration known to reach it is the better recommendation)."""
    assert a.time_s is not None
    if b.reached:
        return a.time_s < b.time_s * (1 - min_gain)  # type: ignore[operator]
    return True
