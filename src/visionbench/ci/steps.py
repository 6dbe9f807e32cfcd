"""A CI job's steps as processes: one at a time, each logged with its command line (in a
collapsible group on GitHub), and stopped cleanly.

A cancelled job gets SIGINT or SIGTERM (GitHub sends SIGINT, then SIGTERM, then kills).
Either is turned into `Stopped` in the job's process: the running step is asked to stop
(the same signal; the A/B gate removes its worktree and its workers), waited for, then
killed if it lingers; the job then pushes nothing and says where it stopped. Steps run
without GITHUB_STEP_SUMMARY and GITHUB_OUTPUT: the job writes its summary once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

STOP_WAIT_S = 60  # how long a stopped step may take to clean up before it is killed
SAME_SIGNAL_S = 3  # a signal sent to the whole process group reached the step too: its wait


class Stopped(BaseException):
    """The job was asked to stop (a BaseException: no `except Exception` swallows it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum

    @property
    def code(self) -> int:
        return 128 + self.signum


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Steps:
    """Runs the steps; as a context manager, turns SIGINT and SIGTERM into `Stopped`."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self.env = {
            k: v for k, v in os.environ.items() if k not in ("GITHUB_STEP_SUMMARY", "GITHUB_OUTPUT")
        }
        self.current = ""  # the step running now, for the summary of a stopped job
        self.grouped = os.environ.get("GITHUB_ACTIONS") == "true"
        self._previous: dict[int, object] = {}
        self.stopped: int | None = None

    def __enter__(self) -> Steps:
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous[signum] = signal.signal(signum, self._stop)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        if self.stopped is None:  # the first signal stops the job; later ones (GitHub's
            self.stopped = signum  # SIGTERM after its SIGINT) do not cut the clean-up short
            raise Stopped(signum)

    def run(self, title: str, argv: Sequence[str]) -> int:
        """Run one step; its exit code. Raises Stopped when the job is stopped meanwhile."""
        self.current = title
        if self.grouped:  # GitHub reads its commands from the log's standard output
            print(f"::group::{title}", flush=True)
        else:
            say(f"-- {title}")
        say("$ " + " ".join(str(a) for a in argv))
        start = time.monotonic()
        proc = subprocess.Popen([str(a) for a in argv], cwd=self.cwd, env=self.env)
        try:
            code = proc.wait()
        except Stopped as stop:
            say(f"{stop}: stopping {title}...")
            _stop_child(proc, stop.signum)
            raise
        finally:
            if self.grouped:
                print("::endgroup::", flush=True)
        say(f"{title}: exit {code} after {time.monotonic() - start:.0f} s")
        return code


def _stop_child(proc: subprocess.Popen, signum: int) -> None:
    """The step stopped: by the signal its process group got with the job's, else by the
    job's own, killed when it lingers. Never signalled twice while it cleans up."""
    for signal_it, wait in ((False, SAME_SIGNAL_S), (True, STOP_WAIT_S)):
        if signal_it:
            proc.send_signal(signum)
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
    proc.kill()
    proc.wait()
