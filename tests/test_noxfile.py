"""noxfile helpers: the report of `nox -s bench` reads the storage the benches saved to."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import load_noxfile

noxfile = load_noxfile()


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


@pytest.mark.parametrize("name", ["tests", "tests_oldest", "bench", "gate", "report", "ab"])
def test_sessions_run_the_shared_virtualenvs_programs_by_path(name, monkeypatch, tmp_path):
    """A bare "python" or "visionbench" is looked up on nox's own PATH (its own
    interpreter, which has no pytest when nox comes from pipx or a virtualenv)."""
    monkeypatch.setattr(noxfile, "shared_env", lambda session: {})
    monkeypatch.setattr(noxfile, "OLDEST", tmp_path / "oldest")
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


def test_tests_and_bench_say_which_pytest_and_torch_they_run_first(monkeypatch, tmp_path):
    monkeypatch.setattr(noxfile, "shared_env", lambda session: {})
    monkeypatch.setattr(noxfile, "OLDEST", tmp_path / "oldest")
    for name in ("tests", "bench"):
        session = RecordingSession()
        getattr(noxfile, name).func(session)
        _, flag, script = session.commands[0]
        assert flag == "-c" and script == noxfile.VERSIONS
    out = subprocess.run(
        [sys.executable, "-c", noxfile.VERSIONS], capture_output=True, text=True, check=True
    ).stdout
    import pytest_benchmark

    assert f"pytest {pytest.__version__}: " in out
    assert f"pytest-benchmark {pytest_benchmark.__version__}: " in out
    assert f"python {sys.version.split()[0]}: {sys.executable}" in out
    assert "torch " in out


def test_the_oldest_run_takes_pyprojects_lower_bounds_and_only_the_deps_tests(
    monkeypatch, tmp_path
):
    monkeypatch.setattr(noxfile, "shared_env", lambda session: {})
    monkeypatch.setattr(noxfile, "OLDEST", tmp_path / "oldest")
    pins = noxfile.lower_bounds()
    assert [p.split("==")[0] for p in pins] == list(noxfile.RANGE_TESTED)
    import nox.project

    deps = nox.project.load_toml(noxfile.ROOT / "pyproject.toml")["project"]
    for pin in pins:
        name, version = pin.split("==")
        assert f"{name}>={version}" in deps["dependencies"]
    session = RecordingSession(["-x"])
    noxfile.tests_oldest.func(session)
    install, _, pytest_run = session.commands
    assert install[-len(pins) :] == tuple(pins) and "--target" in install
    assert pytest_run[1:] == ("-m", "pytest", "-m", "deps", "-x")
    # a second run finds them installed
    session = RecordingSession()
    noxfile.tests_oldest.func(session)
    assert len(session.commands) == 2
