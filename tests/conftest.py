"""The test suite's hooks: the profiles' dry runs start when collection ends and run
beside the other tests; the tests that check them run last (tests/dry_runs.py)."""

from __future__ import annotations

import dry_runs
import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The dry runs' tests last (stable order otherwise): they wait for the runs."""
    items.sort(key=lambda item: item.get_closest_marker("dry_run") is not None)


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
