"""The test suite's hooks: the profiles' dry runs start when collection ends and run
beside the other tests; the tests that check them run last (tests/dry_runs.py)."""

from __future__ import annotations

import dry_runs
import pytest


def order(item: pytest.Item) -> int:
    """0: most tests; 1: the dry runs' tests, which wait for the runs; 2: the `quiet`
    tests, which judge real timings with the A/B gate: after the dry runs have ended.
    On two cores, two full-speed dry runs beside the gate's workers biased a benchmark
    the candidate did not change (measured: the train step of an eval-only slowdown
    read 1.01-1.09x under two busy loops, 0.985-0.989x on a quiet machine)."""
    if item.get_closest_marker("quiet") is not None:
        return 2
    return 1 if item.get_closest_marker("dry_run") is not None else 0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=order)  # stable: the order within each class is kept


def pytest_collection_finish(session: pytest.Session) -> None:
    if session.config.option.collectonly:
        return
    names = dry_runs.selected(session.items)
    if names:
        from helpers import load_noxfile

        args = load_noxfile().BENCH_ARGS
        session.config.stash[dry_runs.STARTED] = {n: dry_runs.start(n, args) for n in names}


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    lines = dry_runs.timings(config.stash.get(dry_runs.STARTED, {}))
    if lines:
        terminalreporter.section("dry runs")
        for line in lines:
            terminalreporter.write_line(line)


def pytest_unconfigure(config: pytest.Config) -> None:
    dry_runs.stop(config.stash.get(dry_runs.STARTED, {}))
