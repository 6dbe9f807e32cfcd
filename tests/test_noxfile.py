"""noxfile helpers: the report of `nox -s bench` reads the storage the benches saved to."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
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


class RecordingSession:
    """What a nox session ran, without running it."""

    def __init__(self, posargs=()):
        self.posargs = list(posargs)
        self.commands: list[tuple[str, ...]] = []

    def run(self, *args, **kwargs):
        self.commands.append(tuple(args))

    def log(self, *args, **kwargs):
        pass


@pytest.mark.parametrize("name", ["tests", "bench", "gate", "report", "ab"])
def test_sessions_run_the_shared_virtualenvs_programs_by_path(name, monkeypatch):
    """A bare "python" or "visionbench" is looked up on nox's own PATH (its own
    interpreter, which has no pytest when nox comes from pipx or a virtualenv)."""
    monkeypatch.setattr(noxfile, "shared_env", lambda session: {})
    session = RecordingSession()
    getattr(noxfile, name).func(session)
    assert session.commands
    for program, *_ in session.commands:
        assert Path(program).parent == noxfile.BIN, program
        assert Path(program).name in {"python", "visionbench"}


def test_isolation_is_read_from_the_virtualenvs_config(tmp_path):
    (tmp_path / "pyvenv.cfg").write_text("home = /usr/bin\ninclude-system-site-packages = true\n")
    assert noxfile.sees_system_site(tmp_path)
    (tmp_path / "pyvenv.cfg").write_text("home = /usr/bin\ninclude-system-site-packages = false\n")
    assert not noxfile.sees_system_site(tmp_path)
    assert not noxfile.sees_system_site(tmp_path / "missing")


def test_nox_never_runs_a_python_found_on_its_own_path(tmp_path):
    """End to end: nox runs `tests` with a PATH whose `python` and `visionbench`
    are impostors; the session must still use the shared virtualenv's."""
    shared_python = noxfile.BIN / "python"
    stamp = noxfile.SHARED / ".visionbench-stamp"
    if not shared_python.exists() or not stamp.exists():
        pytest.skip("no shared virtualenv here (run through `nox -s tests`)")
    fake = tmp_path / "bin"
    fake.mkdir()
    for program in ("python", "python3", "visionbench"):
        (fake / program).write_text("#!/bin/sh\necho IMPOSTOR >&2\nexit 97\n")
        (fake / program).chmod(0o755)
    env = {**os.environ, "PATH": f"{fake}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("VIRTUAL_ENV", None)
    isolated = not noxfile.sees_system_site(noxfile.SHARED)
    env["VISIONBENCH_ISOLATED"] = "1" if isolated else "0"  # never rebuild it from here
    proc = subprocess.run(
        [sys.executable, "-m", "nox", "-f", str(noxfile.ROOT / "noxfile.py"), "-s", "tests",
         "--", "--collect-only", "-q", "-p", "no:cacheprovider", "tests/test_metrics.py"],
        cwd=noxfile.ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert "IMPOSTOR" not in out
    assert proc.returncode == 0, out[-3000:]
    assert str(shared_python) in out  # nox logs the command it ran
