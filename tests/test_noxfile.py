"""noxfile helpers: the report of `nox -s bench` reads the storage the benches saved to."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("nox", reason="nox is a development dependency")
spec = importlib.util.spec_from_file_location(
    "visionbench_noxfile", Path(__file__).parents[1] / "noxfile.py"
)
noxfile = importlib.util.module_from_spec(spec)
spec.loader.exec_module(noxfile)


@pytest.mark.parametrize(
    ("posargs", "expected"),
    [
        (["-k", "resolution"], []),
        (["--benchmark-storage=file://.aa"], ["--storage", "file://.aa"]),
        (["-q", "--benchmark-storage", "runs"], ["--storage", "runs"]),
        (["--benchmark-storage"], []),
    ],
)
def test_the_report_follows_the_benches_storage(posargs, expected):
    assert noxfile.storage_of(posargs) == expected
