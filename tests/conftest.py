"""The test suite's hooks: the profiles' dry runs start when collection ends and run
beside the other tests; the tests that check them run last (tests/dry_runs.py).

`nox -s tests` runs the suite in two passes: every test but the `quiet` ones over
pytest-xdist's workers (`-n auto --dist loadscope`: a module's tests, and so its
module-scoped fixtures, stay on one worker), with the dry runs started by the xdist
controller beside them; then the `quiet` tests alone, in one process, on a machine
nothing else runs on (`--quiet-tests`)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import dry_runs
import pytest

QUIET = ("run", "skip", "only")
BASE = pytest.StashKey[Path]()  # an xdist controller's directory of dry runs
#: Set where this process's pass left out every test selected (`--quiet-tests`): the
#: other pass runs them, so "no tests ran" is not a failure here.
SPLIT_EMPTIED = pytest.StashKey[bool]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--quiet-tests", choices=QUIET, default="run",
        help="the `quiet` tests (real timings judged by the A/B gate): run them last (run, "
        "the default), leave them out (skip: the pass over pytest-xdist's workers), or run "
        "only them (only: the pass after it, alone on the machine)",
    )  # fmt: skip


def order(item: pytest.Item) -> int:
    """0: most tests; 1: the dry runs' tests, which wait for the runs; 2: the `quiet`
    tests, which judge real timings with the A/B gate: after the dry runs have ended.
    On two cores, two full-speed dry runs beside the gate's workers biased a benchmark
    the candidate did not change (measured: the train step of an eval-only slowdown
    read 1.01-1.09x under two busy loops, 0.985-0.989x on a quiet machine)."""
    if item.get_closest_marker("quiet") is not None:
        return 2
    return 1 if item.get_closest_marker("dry_run") is not None else 0


@pytest.hookimpl(tryfirst=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto` in the suite: one worker per core the process may run on (the benches'
    rule, one per device, is fixtures/shards.py's)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def xdist_controller(config: pytest.Config) -> bool:
    return not hasattr(config, "workerinput") and bool(getattr(config.option, "numprocesses", 0))


@pytest.hookimpl(tryfirst=True)  # before the root conftest.py's, which reads the plugin
def pytest_configure(config: pytest.Config) -> None:
    # The suite is no bench session: the benches' plugin that gives each xdist worker a
    # device and a shard of its own (fixtures/shards.py: `each` scheduling) would send
    # every test to every worker.
    shards = config.pluginmanager.get_plugin("fixtures.shards")
    if shards is not None:
        config.pluginmanager.unregister(shards)
    if hasattr(config, "workerinput"):
        # An xdist worker's variables would reach the pytest processes the tests start
        # (benches, dry runs, the A/B lane's workers), and pytest-benchmark disables
        # itself where it sees PYTEST_XDIST_WORKER: they run as if alone.
        for name in [n for n in os.environ if n.startswith("PYTEST_XDIST_")]:
            del os.environ[name]
    if xdist_controller(config):  # before the workers start: they inherit the variable
        config.stash[BASE] = Path(tempfile.mkdtemp(prefix="visionbench-dry-"))
        os.environ[dry_runs.DIR_ENV] = str(config.stash[BASE])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    items.sort(key=order)  # stable: the order within each class is kept
    wanted = config.getoption("quiet_tests")
    if wanted == "run":
        return
    keep = [i for i in items if (order(i) == 2) == (wanted == "only")]
    if len(keep) < len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in keep])
        config.stash[SPLIT_EMPTIED] = not keep
        items[:] = keep


def pytest_collection_finish(session: pytest.Session) -> None:
    config = session.config
    if config.option.collectonly or hasattr(config, "workerinput"):
        return  # an xdist worker: its controller starts the dry runs
    start_dry_runs(config, dry_runs.selected(session.items))


def start_dry_runs(config: pytest.Config, names: list[str]) -> None:
    if names and dry_runs.STARTED not in config.stash:
        from helpers import load_noxfile

        args = load_noxfile().BENCH_ARGS
        base = config.stash.get(BASE, None)
        config.stash[dry_runs.STARTED] = {n: dry_runs.start(n, args, base) for n in names}


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node, ids: list[str]) -> None:
    """An xdist worker collected `ids`: the controller starts the dry runs they check
    (once), before any test is sent to a worker."""
    if not node.config.option.collectonly:
        start_dry_runs(node.config, dry_runs.selected_ids(ids))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if hasattr(session.config, "workerinput"):
        emptied = session.config.stash.get(SPLIT_EMPTIED, False)
        session.config.workeroutput["split_emptied"] = emptied
    elif exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED and session.config.stash.get(
        SPLIT_EMPTIED, False
    ):
        session.exitstatus = pytest.ExitCode.OK  # the other pass runs what was selected


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    if getattr(node, "workeroutput", {}).get("split_emptied"):
        node.config.stash[SPLIT_EMPTIED] = True


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    lines = dry_runs.timings(config.stash.get(dry_runs.STARTED, {}))
    if lines:
        terminalreporter.section("dry runs")
        for line in lines:
            terminalreporter.write_line(line)
    if config.stash.get(SPLIT_EMPTIED, False):
        wanted = config.getoption("quiet_tests")
        terminalreporter.write_line(
            f"--quiet-tests={wanted}: every selected test is left to the other pass"
        )


def pytest_unconfigure(config: pytest.Config) -> None:
    dry_runs.stop(config.stash.get(dry_runs.STARTED, {}), config.stash.get(BASE, None))
