"""What each switch of the winner is worth: the Shapley game over its switches.

The players are the switches the winner moves from the baseline (at most MAX_PLAYERS
of them: the rest keep the winner's value in every coalition); coalition S is the
baseline with S's switches set as the winner has them; its value is -log of its time to
the target, so the values add up to the log of the winner's speed-up over the baseline
and each is read as a factor ("channels_last: 1.30×"). Torch-free: the tests play it
on a synthetic objective.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from visionbench.stats import shapley
from visionbench.tune.output import Worth
from visionbench.tune.search import Config, Search

MAX_PLAYERS = 5  # 2^5 = 32 coalitions at most


def players(search: Search) -> list[str]:
    return list(search.winner.moved(search.switches))[:MAX_PLAYERS]


def coalition_config(search: Search, members: frozenset) -> Config:
    """The winner with every player outside `members` back at its reference value."""
    ref = {s.name: s.values[0] for s in search.switches}
    config = search.winner
    for name in players(search):
        if name not in members:
            config = config.with_(name, ref[name])
    return config


def designed_set(search: Search) -> list[Config]:
    """Every coalition's configuration, smallest coalition (the baseline) first."""
    return [coalition_config(search, c) for c in shapley.coalitions(players(search))]


def worth(search: Search) -> tuple[list[Worth], int, int]:
    """Each player's Shapley factor, its speed-up alone (from the baseline) and added
    last (to the rest of the winner); and how many of the coalitions were estimated, of
    how many."""
    names = players(search)
    known = {}
    for c in shapley.coalitions(names):
        trial = search.trials.get(coalition_config(search, c))
        if trial is not None and trial.reached:
            known[c] = -math.log(trial.time_s)  # type: ignore[arg-type]
    if not names or not known:
        return [], 0, 0
    values, estimated = shapley.complete(names, known)
    phi = shapley.shapley(names, values)
    everyone = frozenset(names)
    winner = search.winner.as_dict()

    def measured(a: frozenset, b: frozenset) -> float | None:
        """exp(v(a) - v(b)) when both were measured."""
        return math.exp(known[a] - known[b]) if a in known and b in known else None

    out = [
        Worth(
            n,
            winner[n],
            math.exp(phi[n]),
            measured(frozenset({n}), frozenset()),
            measured(everyone, everyone - {n}),
        )
        for n in names
    ]
    return out, len(estimated), len(values)


def total(rows: Sequence[Worth]) -> float:
    """The product of the Shapley factors: the winner's speed-up over the baseline."""
    return math.prod(w.shapley for w in rows)
