"""The A/B gate's clock: the invocation's minutes, by phase.

`--budget` bounds the whole invocation, so every phase runs inside one clock
and the output says how the minutes went: set-up (the worktree, the zygote),
timing blocks, instructions, trainings (the full runs), and the rest.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

PHASES = ("set-up", "timing blocks", "instructions", "trainings")


class Minutes:
    """Where the invocation's time went, by phase."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock  # seconds
        self.start = clock()
        self.spent = dict.fromkeys(PHASES, 0.0)

    def elapsed(self) -> float:
        return self.clock() - self.start

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        began = self.clock()
        try:
            yield
        finally:
            self.spent[name] += self.clock() - began

    def record(self) -> dict[str, float]:
        other = self.elapsed() - sum(self.spent.values())
        return {k: round(v / 60, 2) for k, v in {**self.spent, "other": other}.items()} | {
            "total": round(self.elapsed() / 60, 2)
        }

    def line(self, budget_s: float) -> str:
        parts = ", ".join(f"{k} {v:.1f}" for k, v in self.record().items() if k != "total")
        return f"minutes: {parts}; {self.elapsed() / 60:.1f} of {budget_s / 60:.1f} in all"
