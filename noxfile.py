"""nox sessions: tests, bench, gate, report, site, tune, lint.

torch with its CUDA libraries is about 6 GB; nox would give every session a
virtualenv of its own and install it once per session. The sessions that need
torch therefore share one virtualenv, `.nox/shared`, created on first use and
refreshed only when pyproject.toml changes. It sees the interpreter's own
site-packages, so a torch already installed there (and satisfying
pyproject.toml) is used rather than copied again into every clone; anything
missing or too old is installed into the virtualenv. VISIONBENCH_ISOLATED=1
makes a virtualenv that sees nothing of the interpreter's packages. Both
`tests` and `bench` say first which python, pytest, pytest-benchmark and torch
they run, and from where.

    nox -s tests                          # the test suite, and beside it its `deps` tests on
                                          #   the oldest pytest and pytest-benchmark accepted
    nox -s tests_oldest                   # only those
    nox -s bench                          # every benchmark, saved to .benchmarks/
    nox -s bench -- -k resolution --vb-profile standard
    nox -s gate -- --baseline baseline    # candidate: the latest saved run
    nox -s ab -- --baseline main -k model_size   # the working tree against main, measured now
    nox -s report                         # reports/ from the saved runs
    nox -s site                           # reports/site/: every saved run, as a web site
    nox -s tune -- --budget 10            # the fastest training switches to a target, here
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from pathlib import Path

import nox

nox.options.sessions = ["tests"]
nox.needs_version = ">=2024.4.15"

ROOT = Path(__file__).parent
SHARED = ROOT / ".nox" / "shared"
BIN = SHARED / ("Scripts" if sys.platform == "win32" else "bin")
OLDEST = ROOT / ".nox" / "oldest"  # the oldest accepted pytest and pytest-benchmark
#: The packages whose oldest accepted release `tests` also runs under (their lower bounds
#: in pyproject.toml): the project leans on their options, saving and hooks.
RANGE_TESTED = ("pytest", "pytest-benchmark")
#: Arguments of `nox -s bench` to pytest, written once in visionbench.measure (which loads
#: nothing beyond the standard library, so nox's own interpreter reads it from src/).
sys.path.insert(0, str(ROOT / "src"))
from visionbench.measure import BENCH_ARGS  # noqa: E402

VERSIONS = """\
import importlib.metadata as md, sys
print(f"python {sys.version.split()[0]}: {sys.executable}")
for name in ("pytest", "pytest-benchmark", "torch"):
    try:
        dist = md.distribution(name)
    except md.PackageNotFoundError:
        print(f"{name}: not installed")
        continue
    where = str(dist.locate_file(""))
    print(f"{name} {dist.version}: {where}")
"""


def shared_env(session: nox.Session) -> dict[str, str]:
    """Create or refresh the shared virtualenv; return the environment for it."""
    stamp = SHARED / ".visionbench-stamp"
    want = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    python = BIN / "python"
    isolated = os.environ.get("VISIONBENCH_ISOLATED", "") not in ("", "0")
    if python.exists() and sees_system_site(SHARED) == isolated:
        session.log(f"recreating {SHARED}: VISIONBENCH_ISOLATED={int(isolated)} asks for it")
        shutil.rmtree(SHARED)
    if not python.exists():
        session.log(f"creating the shared virtualenv {SHARED}")
        site = [] if isolated else ["--system-site-packages"]
        session.run(sys.executable, "-m", "venv", *site, str(SHARED), external=True)
    if not stamp.exists() or stamp.read_text() != want:
        session.log("installing visionbench and what it needs (torch, if missing: ~2 minutes)")
        # Byte-compiled at install (pip's default), not on first import: where Python may
        # not write bytecode (PYTHONDONTWRITEBYTECODE, read-only installs) every process,
        # each DDP rank and test subprocess, would compile torch from source again (~8 s
        # an import here), far more than the ~20 s compiling costs once.
        session.run(
            str(python), "-m", "pip", "install", "--quiet", "-e", f"{ROOT}[dev]", external=True
        )
        stamp.write_text(want)
    env = {"VIRTUAL_ENV": str(SHARED), "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    return env


def sees_system_site(venv: Path) -> bool:
    """Whether the virtualenv at `venv` sees its interpreter's site-packages."""
    cfg = venv / "pyvenv.cfg"
    if not cfg.is_file():
        return False
    for line in cfg.read_text().splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "include-system-site-packages":
            return value.strip().lower() == "true"
    return False


def run(session: nox.Session, program: str, *args: str, **kwargs) -> None:
    """Run `program` of the shared virtualenv (its `python`, `visionbench`) by its path.

    With `venv_backend="none"` nox looks a bare program name up on its *own*
    PATH, not on the one passed in `env`: "python" would be the interpreter
    that runs nox (a pipx or virtualenv nox has no pytest, a system one may
    have an old visionbench). The path leaves no such choice.
    """
    env = shared_env(session)
    session.run(str(BIN / program), *args, env={**env, **kwargs.pop("env", {})}, external=True,
                **kwargs)  # fmt: skip


def say_versions(session: nox.Session, env: dict[str, str] | None = None) -> None:
    """Which python, pytest, pytest-benchmark and torch the session runs, and from where:
    a shared virtualenv that sees the interpreter's site-packages may take its pytest
    from there, another than CI's (VISIONBENCH_ISOLATED=1) would."""
    shared_env(session)
    isolated = not sees_system_site(SHARED)
    session.log(
        f"shared virtualenv {SHARED}: "
        + ("isolated" if isolated else "sees the interpreter's site-packages (not isolated)")
    )
    run(session, "python", "-c", VERSIONS, env=env or {})


def lower_bounds(names: tuple[str, ...] = RANGE_TESTED) -> list[str]:
    """`NAME==VERSION` of each package's lower bound in pyproject.toml's dependencies."""
    from packaging.requirements import Requirement

    found = {}
    for text in nox.project.load_toml(ROOT / "pyproject.toml")["project"]["dependencies"]:
        req = Requirement(text)
        floor = [s.version for s in req.specifier if s.operator == ">="]
        if req.name in names and floor:
            found[req.name] = f"{req.name}=={floor[0]}"
    missing = [n for n in names if n not in found]
    if missing:
        raise ValueError(f"pyproject.toml gives no lower bound (>=) for {', '.join(missing)}")
    return [found[n] for n in names]


def oldest_env(session: nox.Session) -> dict[str, str]:
    """The oldest accepted pytest and pytest-benchmark (with what they need) installed
    into .nox/oldest, put before the shared virtualenv's on PYTHONPATH: every other
    package, torch included, stays the shared virtualenv's."""
    pins = lower_bounds()
    stamp = OLDEST / ".visionbench-stamp"
    if not stamp.exists() or stamp.read_text() != " ".join(pins):
        shutil.rmtree(OLDEST, ignore_errors=True)
        session.log(f"installing {', '.join(pins)} into {OLDEST}")
        run(session, "python", "-m", "pip", "install", "--quiet", "--target", str(OLDEST), *pins)
        OLDEST.mkdir(parents=True, exist_ok=True)
        stamp.write_text(" ".join(pins))
    path = os.pathsep.join(p for p in (str(OLDEST), os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHONPATH": path}


#: The `deps` tests under the oldest releases: no path given, so pyproject.toml's
#: testpaths; exit 5 (none of the chosen tests is marked `deps`) is a pass.
OLDEST_ARGS = ("-m", "pytest", "-p", "no:cacheprovider", "-m", "deps")
OLDEST_OK = (0, 5)
#: The niceness of the oldest run beside the suite: it takes the cores the suite leaves idle
#: (the suite waits on its dry runs' single threads) rather than slowing the suite.
BESIDE_NICENESS = 10


def run_oldest(session: nox.Session) -> None:
    """The tests marked `deps` (pytest's and pytest-benchmark's own behaviour: options,
    usage errors, saving, pedantic rounds) under the oldest releases pyproject.toml accepts."""
    env = oldest_env(session)
    say_versions(session, env)
    run(session, "python", *OLDEST_ARGS, *session.posargs, env=env, success_codes=OLDEST_OK)


def _niced() -> None:
    os.nice(BESIDE_NICENESS)


class Beside:
    """A command run in the background, niced, while the session runs the suite; its
    output is kept in a temporary file and printed when it is waited for."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        import subprocess
        import tempfile

        self.args = args
        self.out = tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace")  # noqa: SIM115 (closed by wait)
        self.proc = subprocess.Popen(
            args, cwd=ROOT, env={**os.environ, **env}, stdout=self.out,
            stderr=subprocess.STDOUT, preexec_fn=_niced if hasattr(os, "nice") else None,
        )  # fmt: skip

    def wait(self, kill: bool = False) -> tuple[int, str]:
        """(its exit code, its output); `kill`: stop it first (the suite failed)."""
        if kill and self.proc.poll() is None:
            self.proc.kill()
        code = self.proc.wait()
        self.out.seek(0)
        text = self.out.read()
        self.out.close()
        return code, text


#: The suite's first pass: every test but the `quiet` ones, over one pytest-xdist worker per
#: core, a module to a worker (its module-scoped fixtures built once), in the order
#: tests/conftest.py sorts them (the checks of the dry runs, which its controller starts
#: beside them, last). One process left a core idle once the dry runs had ended.
PARALLEL = ("-n", "auto", "--dist", "loadscope", "--no-loadscope-reorder", "--quiet-tests=skip")
#: Its second: the `quiet` tests, which judge real timings, alone on the machine.
ALONE = ("--quiet-tests=only",)


@nox.session(venv_backend="none")
def tests(session: nox.Session) -> None:
    """The test suite (unit, property and smoke tests, every profile's dry run; CPU only)
    with the newest pytest and pytest-benchmark, in two passes (PARALLEL, then ALONE),
    and beside them its `deps` tests with the oldest (niced: on the cores the suite
    leaves idle)."""
    say_versions(session)
    env = {**shared_env(session), **oldest_env(session)}
    say_versions(session, env)
    oldest = [str(BIN / "python"), *OLDEST_ARGS, *session.posargs]
    session.log(f"beside the suite, under the oldest accepted releases: {' '.join(oldest)}")
    beside = Beside(oldest, env)
    failed = True
    try:
        run(session, "python", "-m", "pytest", "tests", *PARALLEL, *session.posargs)
        run(session, "python", "-m", "pytest", "tests", *ALONE, *session.posargs)
        failed = False
    finally:
        code, text = beside.wait(kill=failed)  # a failed suite is raised after this
    session.log(f"the `deps` tests under the oldest accepted releases (exit {code}):")
    print(text, end="", flush=True)
    if code not in OLDEST_OK:
        session.error(f"the `deps` tests failed under the oldest accepted releases (exit {code})")


@nox.session(venv_backend="none")
def tests_oldest(session: nox.Session) -> None:
    """Only the `deps` tests, under the oldest pytest and pytest-benchmark accepted."""
    run_oldest(session)


@nox.session(venv_backend="none")
def bench(session: nox.Session) -> None:
    """Every benchmark in benches/, saved with raw data to .benchmarks/, then a
    summary table and a report (reports/<run>/) of the saved run.

    The profile defaults to `quick` without a GPU and `standard` with one;
    extra arguments go to pytest (`nox -s bench -- -k resolution`). `--vb-device all`
    runs one pytest-xdist worker per visible GPU (`-n auto`, unless `-n` is given), each
    on its own slice of the benches, and saves their runs merged into one.
    """
    say_versions(session)
    workers = ["-n", "auto"] if per_device(session.posargs) else []
    run(session, "python", "-m", "pytest", "benches", *BENCH_ARGS, *workers, *session.posargs)
    if "--benchmark-disable" not in session.posargs:
        run(session, "visionbench", "report", "latest", *storage_of(session.posargs))


def per_device(args: list[str]) -> bool:
    """`--vb-device all` without pytest-xdist's `-n`: one worker per device."""
    every = any(
        a == "--vb-device=all" or (a == "--vb-device" and args[i + 1 : i + 2] == ["all"])
        for i, a in enumerate(args)
    )
    numbered = any(a == "-n" or a.startswith(("-n", "--numprocesses")) for a in args)
    return every and not numbered


def storage_of(args: list[str]) -> list[str]:
    """`--storage DIR` for visionbench when pytest was given `--benchmark-storage`."""
    for i, arg in enumerate(args):
        if arg.startswith("--benchmark-storage="):
            return ["--storage", arg.partition("=")[2]]
        if arg == "--benchmark-storage" and i + 1 < len(args):
            return ["--storage", args[i + 1]]
    return []


@nox.session(venv_backend="none")
def gate(session: nox.Session) -> None:
    """Gate the latest saved run against a baseline (exit 1 on a regression).

    `nox -s gate -- --baseline 0003`; the baseline defaults to the newest run
    saved as `baseline` (`nox -s bench -- --benchmark-save=baseline`). Other
    `visionbench gate` options pass through (`--allow-missing`, `--summary FILE`).
    """
    args = list(session.posargs)
    if not any(a == "--baseline" or a.startswith("--baseline=") for a in args):
        args += ["--baseline", "baseline"]
    if not any(a == "--candidate" or a.startswith("--candidate=") for a in args):
        args += ["--candidate", "latest"]
    run(session, "visionbench", "gate", *args)


@nox.session(venv_backend="none")
def ab(session: nox.Session) -> None:
    """The working tree against a baseline revision, measured on this machine now: in
    blocks of round-interleaved pairs (`--lane time`) or by instruction counts (`--lane
    instructions`), then accuracy and memory (exit 1 on a regression, 2 on bad input).

    `nox -s ab -- --baseline main -k model_size --budget 15`: REV is checked out in a
    temporary worktree; other arguments go to pytest on both sides (`visionbench ab -h`).
    """
    run(session, "visionbench", "ab", *session.posargs)


@nox.session(venv_backend="none")
def report(session: nox.Session) -> None:
    """reports/<run>/report.md with plots for the latest run (or `-- RUN`), then the history."""
    run(session, "visionbench", "report", *(session.posargs or ["latest"]))
    run(session, "visionbench", "history")


@nox.session(venv_backend="none")
def site(session: nox.Session) -> None:
    """reports/site/: a static HTML site of every saved run (open reports/site/index.html).

    `nox -s site -- --storage .benchmarks-main --out DIR`: other `visionbench site` options.
    """
    run(session, "visionbench", "site", *session.posargs)


@nox.session(venv_backend="none")
def tune(session: nox.Session) -> None:
    """The fastest combination of the training switches to a target accuracy on this
    machine, confirmed over seeds, with what each switch is worth (`visionbench tune`).

    `nox -s tune -- --budget 10 --data imagefolder:~/data/shoes --model resnet18`.
    """
    run(session, "visionbench", "tune", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and format check."""
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
