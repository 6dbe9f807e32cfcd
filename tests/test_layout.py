"""The package shows its kinds by folder: a module added at the top of
`src/visionbench/` (where measurement, training, techniques, the gate and the report
once lay side by side) fails here until it finds its folder."""

from __future__ import annotations

from pathlib import Path

import visionbench

PACKAGE = Path(visionbench.__file__).parent
#: The folders of the package, one per kind, and the modules of no kind.
KINDS = {"stats", "core", "measure", "training", "profiles", "techniques", "data", "models",
         "selection", "data_parallel", "gate", "ab", "report", "history", "ci", "tune"}  # fmt: skip
TOP_MODULES = {"__init__.py", "cli.py"}


def test_the_top_of_the_package_holds_only_the_cli():
    modules = {p.name for p in PACKAGE.glob("*.py")}
    assert modules == TOP_MODULES


def test_every_folder_is_a_package_of_its_kind():
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert folders == KINDS
    for folder in folders:
        init = PACKAGE / folder / "__init__.py"
        assert init.is_file(), f"{folder}/ is not a package"


def test_no_module_beside_a_script_shadows_the_standard_library():
    """ab/'s probe runs as a script (`python ab/probe.py`), so ab/ is first on its
    sys.path: a module there named like one of the standard library's is imported in its
    place by everything the probe imports (an `ab/bisect.py` broke `import random`)."""
    import sys

    scripts = {p.parent for p in PACKAGE.rglob("*.py") if "__main__" in p.read_text()}
    shadowing = sorted(
        str(p.relative_to(PACKAGE))
        for folder in scripts
        for p in folder.glob("*.py")
        if p.stem in sys.stdlib_module_names
    )
    assert shadowing == []
