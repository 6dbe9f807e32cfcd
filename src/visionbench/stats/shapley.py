"""What each switch is worth: Shapley values over a set of switches.

The players are the switches in which a recommended configuration differs from its
baseline; a coalition S is the baseline with the switches of S set as the winner has
them, and its value v(S) is what that configuration gains (`visionbench tune`: the log
of its speed-up to the target over the baseline). Switch i's Shapley value is its
marginal gain averaged over every order in which the switches could be added:

    phi_i = sum over S without i of |S|! (n - |S| - 1)! / n! * (v(S + i) - v(S))

so the values add up to v(all) - v(none) (efficiency), a switch that changes nothing
in any coalition gets 0, and an interaction (a gain that needs two switches together)
is split between the two. Exact: 2^n coalitions, fine for the handful of switches a
recipe has.

A coalition that was not (or could not be) evaluated is filled in by `complete`: a
least-squares fit of main effects and pairwise interactions to the coalitions that
were, and the caller says which values were so estimated.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Hashable, Mapping, Sequence

import numpy as np

Coalition = frozenset


def coalitions(players: Sequence[Hashable]) -> list[frozenset]:
    """Every subset of `players`, smallest first."""
    return [
        frozenset(c) for k in range(len(players) + 1) for c in itertools.combinations(players, k)
    ]


def shapley(players: Sequence[Hashable], value: Mapping[frozenset, float]) -> dict[Hashable, float]:
    """Exact Shapley values of `players` under `value` (one entry per coalition)."""
    if len(set(players)) != len(players):
        raise ValueError(f"players must be distinct, got {list(players)}")
    missing = [set(c) for c in coalitions(players) if c not in value]
    if missing:
        raise ValueError(f"no value for coalition {missing[0] or '{}'} (complete() fills gaps)")
    n = len(players)
    out = {}
    for p in players:
        others = [q for q in players if q != p]
        total = 0.0
        for s in coalitions(others):
            weight = math.factorial(len(s)) * math.factorial(n - len(s) - 1) / math.factorial(n)
            total += weight * (value[s | {p}] - value[s])
        out[p] = total
    return out


def _features(players: Sequence[Hashable], s: frozenset, pairs: bool) -> list[float]:
    x = [1.0] + [float(p in s) for p in players]
    if pairs:
        x += [float(a in s and b in s) for a, b in itertools.combinations(players, 2)]
    return x


def complete(
    players: Sequence[Hashable], known: Mapping[frozenset, float]
) -> tuple[dict[frozenset, float], set[frozenset]]:
    """Every coalition's value: the known ones as given, the others estimated by least
    squares over the known ones (main effects and pairwise interactions when there are
    enough of them to fit, else main effects alone). Returns (values, estimated)."""
    everything = coalitions(players)
    known = {c: float(v) for c, v in known.items() if c in set(everything) and math.isfinite(v)}
    missing = [c for c in everything if c not in known]
    if not missing:
        return dict(known), set()
    if not known:
        raise ValueError("no coalition has a value: nothing to estimate the others from")
    n = len(players)
    pairs = len(known) >= 1 + n + n * (n - 1) // 2
    rows = list(known)
    a = np.array([_features(players, c, pairs) for c in rows])
    b = np.array([known[c] for c in rows])
    coef, *_ = np.linalg.lstsq(a, b, rcond=None)
    out = dict(known)
    for c in missing:
        out[c] = float(np.array(_features(players, c, pairs)) @ coef)
    return out, set(missing)
