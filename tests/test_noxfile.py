"""noxfile helpers: the report of `nox -s bench` reads the storage the benches saved to."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import ClassVar

import pytest
from helpers import load_noxfile

noxfile = load_noxfile()
REAL_BESIDE = noxfile.Beside  # before the autouse fixture below replaces it


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

    def error(self, message):
        raise RuntimeError(message)


class RecordedBeside:
    """noxfile.Beside, recorded instead of started: (args, env) of each, and the exit
    code and output `wait` gives back."""

    started: ClassVar[list[tuple[list[str], dict]]] = []
    code, output = 0, "21 passed\n"

    def __init__(self, args, env):
        RecordedBeside.started.append((args, env))
        self.killed = False

    def wait(self, kill=False):
        self.killed = kill
        return RecordedBeside.code, RecordedBeside.output


@pytest.fixture(autouse=True)
def no_background_runs(monkeypatch):
    RecordedBeside.started = []
    RecordedBeside.code = 0
    monkeypatch.setattr(noxfile, "Beside", RecordedBeside)


@pytest.mark.parametrize("name", ["tests", "tests_oldest", "bench", "gate", "report", "ab"])
def test_sessions_run_the_shared_virtualenvs_programs_by_path(name, monkeypatch, tmp_path):
    """A bare "python" or "visionbench" is looked up on nox's own PATH (its own
    interpreter, which has no pytest when nox comes from pipx or a virtualenv)."""
    monkeypatch.setattr(noxfile, "shared_env", lambda session: {})
    monkeypatch.setattr(noxfile, "OLDEST", tmp_path / "oldest")
    session = RecordingSession()
    getattr(noxfile, name).func(session)
    assert session.commands
    for program, *_ in session.commands + [args for args, _ in RecordedBeside.started]:
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
    assert pytest_run[1:] == ("-m", "pytest", "-p", "no:cacheprovider", "-m", "deps", "-x")
    # a second run finds them installed
    session = RecordingSession()
    noxfile.tests_oldest.func(session)
    assert len(session.commands) == 2


def test_tests_runs_the_oldest_deps_tests_beside_the_suite_and_fails_with_them(
    monkeypatch, tmp_path
):
    """`nox -s tests`: the oldest releases installed first, their `deps` run started in the
    background (with the oldest first on PYTHONPATH and the session's arguments), the suite
    run, then the oldest run's exit code decides too (5, no test selected, passes)."""
    monkeypatch.setattr(noxfile, "shared_env", lambda session: {})
    monkeypatch.setattr(noxfile, "OLDEST", tmp_path / "oldest")
    session = RecordingSession(["-k", "saving"])
    noxfile.tests.func(session)
    ((args, env),) = RecordedBeside.started
    assert args[1:] == [*noxfile.OLDEST_ARGS, "-k", "saving"]
    assert env["PYTHONPATH"].split(os.pathsep)[0] == str(tmp_path / "oldest")
    install = next(c for c in session.commands if "--target" in c)
    suite = next(c for c in session.commands if c[1:4] == ("-m", "pytest", "tests"))
    assert session.commands.index(install) < session.commands.index(suite)
    RecordedBeside.code = 5
    noxfile.tests.func(RecordingSession())
    RecordedBeside.code = 1
    with pytest.raises(RuntimeError, match="under the oldest accepted releases"):
        noxfile.tests.func(RecordingSession())


def test_a_failing_suite_stops_the_oldest_run_beside_it(monkeypatch, tmp_path):
    monkeypatch.setattr(noxfile, "shared_env", lambda session: {})
    monkeypatch.setattr(noxfile, "OLDEST", tmp_path / "oldest")
    waited = []
    monkeypatch.setattr(
        RecordedBeside, "wait", lambda self, kill=False: waited.append(kill) or (0, "")
    )

    class FailingSession(RecordingSession):
        def run(self, *args, **kwargs):
            super().run(*args, **kwargs)
            if args[1:4] == ("-m", "pytest", "tests"):
                raise RuntimeError("the suite failed")

    with pytest.raises(RuntimeError, match="the suite failed"):
        noxfile.tests.func(FailingSession())
    assert waited == [True]


def test_the_background_run_is_niced_and_its_output_kept(tmp_path):
    """The real Beside: a child at a higher niceness than this process, its output read
    back after it ends."""
    script = "import os; print('niceness', os.nice(0))"
    code, text = REAL_BESIDE([sys.executable, "-c", script], {}).wait()
    assert code == 0
    assert text.strip() == f"niceness {min(os.nice(0) + noxfile.BESIDE_NICENESS, 19)}"
