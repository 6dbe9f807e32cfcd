"""Trade-offs: the Pareto front of a sweep (model size, resolution), where no variant is
"best" but some are never worth picking.

Pure: points with a time (lower is better), an accuracy (higher) and optionally a
memory (lower). A point dominates another when it is at least as good on every
objective and better on one. The front is decided on time and accuracy, the two a
user trades; memory is the third objective only where it changes the front: a
variant dominated on time and accuracy whose memory is lower than that of every
variant dominating it stays on the front "by its memory" (it is the pick when
memory is the limit), and is named apart. Points are compared on their estimates;
the noise of each accuracy is the report's to show (the Pareto plot draws it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Point:
    name: str
    time: float  # lower is better (seconds, or a ratio to a reference)
    accuracy: float  # higher is better
    memory: float | None = None  # lower is better (bytes); None: not measured


@dataclass(frozen=True)
class Front:
    front: list[Point]  # on the time/accuracy front, fastest first
    by_memory: list[Point] = field(default_factory=list)  # kept on the front by memory alone
    dominated_by: dict[str, list[str]] = field(default_factory=dict)  # name -> front names

    def on_front(self, name: str) -> bool:
        return any(p.name == name for p in self.front)


def dominates(p: Point, q: Point, memory: bool = False) -> bool:
    """p is at least as good as q on every objective and better on one."""
    mine = [-p.time, p.accuracy] + ([-p.memory] if memory and p.memory is not None else [])
    theirs = [-q.time, q.accuracy] + ([-q.memory] if memory and q.memory is not None else [])
    if len(mine) != len(theirs):
        return False
    return all(a >= b for a, b in zip(mine, theirs, strict=True)) and mine != theirs


def pareto(points: Sequence[Point]) -> Front:
    """The time/accuracy front (fastest first), the variants memory alone keeps on it,
    and for every other variant the front variants that dominate it."""
    front = sorted(
        (p for p in points if not any(dominates(q, p) for q in points)),
        key=lambda p: (p.time, -p.accuracy),
    )
    with_memory = all(p.memory is not None for p in points)
    rest = [p for p in points if p not in front]
    by_memory = [
        p for p in rest if with_memory and not any(dominates(q, p, memory=True) for q in points)
    ]
    dominated_by = {p.name: [q.name for q in front if dominates(q, p)] for p in rest}
    return Front(front, sorted(by_memory, key=lambda p: p.time), dominated_by)
