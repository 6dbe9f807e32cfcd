"""The gate packages stand on their own: nothing in it imports the command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
GATE = sorted(
    f"{p.parent.name}.{p.stem}"
    for package in ("gate", "ab")
    for p in (SRC / "visionbench" / package).glob("*.py")
    if p.stem != "__init__"
)

# Each module imported in turn in a fresh interpreter: the first that pulls in the CLI is named.
CHECK = """
import importlib, sys
for name in sys.argv[1:]:
    importlib.import_module("visionbench." + name)
    if "visionbench.cli" in sys.modules:
        sys.exit("visionbench." + name + " imports visionbench.cli")
"""


def test_no_gate_module_imports_the_cli():
    assert "ab.command" in GATE and "gate.run_gate" in GATE
    proc = subprocess.run(
        [sys.executable, "-c", CHECK, *GATE],
        env={"PYTHONPATH": str(SRC)},
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
