"""What every command shares at its edges: exit codes, bad input, progress.

Exit codes of `visionbench gate` and `visionbench ab`: 0 nothing regressed
(inconclusive comparisons are said loudly but pass), 1 a regression, a failed
benchmark or lost coverage, 2 bad input (an unreadable or unknown run,
mismatched machines, bad settings, a revision that is not a commit).
"""

from __future__ import annotations

import sys

EXIT_PASS, EXIT_REGRESSION, EXIT_BAD_INPUT = 0, 1, 2
EXIT_INTERRUPTED = 130  # Ctrl-C, as a shell reports it


class BadInput(Exception):
    """Anything that makes the comparison meaningless: exit 2."""


def say(message: str) -> None:
    """Progress and warnings, on stderr (the tables go to stdout)."""
    print(message, file=sys.stderr, flush=True)
