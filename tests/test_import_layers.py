"""The layers of src/visionbench hold: import-linter's contracts in pyproject.toml
([tool.importlinter]: each package imports only from the layers below it, the statistics
import no torch, the gates no plotting), checked here so that `nox -s tests` fails on an
import that runs up the layers."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
CONFIG = ROOT / "pyproject.toml"
LINT = "from importlinter.cli import lint_imports_command; lint_imports_command()"


def test_the_import_contracts_are_kept(capsys):
    code = lint_imports(config_filename=str(CONFIG), no_cache=True, no_logo=True)
    out = capsys.readouterr().out
    assert code == 0, out[-4000:]
    assert "3 kept, 0 broken" in out


def test_an_import_up_the_layers_breaks_them(tmp_path):
    """The check is live: the statistics importing the gate, the bottom the top."""
    shutil.copytree(SRC / "visionbench", tmp_path / "visionbench")
    with open(tmp_path / "visionbench" / "stats" / "paired.py", "a", encoding="utf-8") as fh:
        fh.write("\nfrom visionbench.gate import runs  # noqa\n")
    proc = subprocess.run(
        [sys.executable, "-c", LINT, "--config", str(CONFIG), "--no-cache"],
        env={"PYTHONPATH": str(tmp_path), "PATH": ""},
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "visionbench.stats is not allowed to import visionbench.gate" in proc.stdout
    assert "visionbench.stats.paired -> visionbench.gate.runs" in proc.stdout


# Each gate's module imported in a fresh interpreter: what it loaded besides. The contracts
# see visionbench's own imports; this sees a library that pulls in another.
LOADED = """
import importlib, sys
importlib.import_module(sys.argv[1])
print(" ".join(n for n in ("matplotlib", "plotly", "sklearn", "captum", "visionbench.cli",
                           "visionbench.report") if n in sys.modules))
"""


def test_the_gates_load_no_plotting_no_report_and_no_command_line():
    for module in ("visionbench.gate.run_gate", "visionbench.ab.command"):
        proc = subprocess.run(
            [sys.executable, "-c", LOADED, module],
            env={"PYTHONPATH": str(SRC)},
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert proc.stdout.strip() == "", f"{module} loads {proc.stdout.strip()}"
