"""The sides of `visionbench ab`: each a tree, a Python and environment variables.

What slows a team's training is as often a new torch or a variable
(`ONEDNN_MAX_CPU_ISA`, `OMP_NUM_THREADS`) as their commit. A side is a tree
(`--baseline REV`; `--candidate REV`, or the working tree), a Python
(`--baseline-python/--candidate-python PATH`: an interpreter or a virtualenv;
default the one running) and variables (`--baseline-env/--candidate-env
KEY=VALUE`, repeatable, set on top of the caller's). Sides that differ in Python
or variables get a zygote each (`processes.Zygotes`).

Before anything starts, each side's Python other than this one, or with
variables, is asked what it is (`ab.probe`): one that is not Python, or cannot
import what every bench needs (`REQUIRED`), is bad input (exit 2) naming the
option and the import that failed; a library only some benches need (torchvision
beside a torch it was not built for) is a named limitation, its benches skipped
on that side. The output then says, side by side, what differs: the
fingerprint's fields, the packages' versions, the variables (`differences`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tabulate import tabulate

from visionbench.ab.budget import Minutes
from visionbench.ab.processes import RUN_MARK_ENV, Side
from visionbench.ab.worktree import AbError, baseline_worktree, describe_tree, resolve_rev
from visionbench.core.exits import say

SIDES = ("baseline", "candidate")
#: Without these no bench runs on a side: a Python lacking one is bad input.
REQUIRED = ("torch", "numpy", "PIL.Image", "scipy.stats", "tabulate", "psutil", "pytest",
            "pytest_benchmark.plugin")  # fmt: skip
#: What only some benches need (`core.optional`): a side lacking it skips those, named.
OPTIONAL = ("torchvision",)
#: Variables a side may not set: the gate sets them for every process of a side.
RESERVED = {
    "PYTHONPATH": "each side's tree goes first on it",
    RUN_MARK_ENV: "it marks the invocation's processes",
}
KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
PROBE = Path(__file__).with_name("probe.py")
PROBE_TIMEOUT_S = 300.0  # importing torch and the rest on a loaded 2-core machine: seconds
#: Fingerprint fields of a run rather than of an environment: not compared between sides.
RUN_FIELDS = ("profile", "threads", "world_size", "backend", "nodes", "dry_run", "cpu_count")
CELL = 80  # characters of a table cell


def add_arguments(parser: Any) -> None:
    """`visionbench ab`'s options that define the sides beyond --baseline REV."""
    parser.add_argument(
        "--candidate",
        metavar="REV",
        help="a commit, branch or tag for the candidate, checked out in a worktree of its own "
        "(default: the working tree, uncommitted changes included)",
    )
    for side in SIDES:
        parser.add_argument(
            f"--{side}-python",
            metavar="PATH",
            help=f"the {side}'s Python: an interpreter or a virtualenv (default: this one); "
            "with another Python or variables each side gets its own zygote",
        )
        parser.add_argument(
            f"--{side}-env",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help=f"an environment variable of the {side}'s processes (repeatable)",
        )


def python_of(option: str, value: str | None) -> str:
    """The interpreter `value` names (a virtualenv: its bin/python), as an absolute path
    left unresolved (a venv's python is a symlink that only its own path makes a venv)."""
    if value is None:
        return sys.executable
    path = Path(value).expanduser()
    if path.is_dir():
        found = [
            p for p in (path / "bin" / "python", path / "Scripts" / "python.exe") if p.exists()
        ]
        if not found:
            raise AbError(f"{option} {value}: a folder, but no virtualenv (no bin/python in it)")
        path = found[0]
    if not path.exists():
        raise AbError(f"{option} {value}: no such interpreter or virtualenv")
    if not os.access(path, os.X_OK):
        raise AbError(f"{option} {value}: not executable, so not a Python interpreter")
    return os.path.abspath(path)


def variables_of(option: str, values: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """KEY=VALUE arguments as pairs, in order (a repeated key: its last value)."""
    out: dict[str, str] = {}
    for text in values:
        key, sep, value = text.partition("=")
        if not sep or not KEY.match(key):
            raise AbError(
                f"{option} {text!r} is not KEY=VALUE (a variable name of letters, digits "
                "and _, then =, then its value)"
            )
        if key in RESERVED:
            raise AbError(f"{option} {text!r}: {key} is the gate's to set ({RESERVED[key]})")
        out[key] = value
    return tuple(out.items())


@dataclass(frozen=True)
class Environment:
    """What a side's Python is, from its probe."""

    python: str  # the interpreter's path, as given
    version: str  # Python's
    packages: dict[str, str]  # installed distributions: name -> version
    fingerprint: dict[str, Any]  # `measure.fingerprint` as its torch sees it
    failed: dict[str, str]  # preloaded modules that do not import there: why

    @property
    def limitations(self) -> dict[str, str]:
        """Libraries this side lacks that only some benches need: name -> why."""
        return {n: why for n, why in self.failed.items() if n not in REQUIRED}


def defined(args: Any) -> dict[str, tuple[str, tuple[tuple[str, str], ...]]]:
    """Each side's (python, variables) from the options; AbError on bad input."""
    return {
        side: (
            python_of(f"--{side}-python", getattr(args, f"{side}_python", None)),
            variables_of(f"--{side}-env", getattr(args, f"{side}_env", None) or []),
        )
        for side in SIDES
    }


def probe(sides: Mapping[str, tuple[str, tuple[tuple[str, str], ...]]]) -> dict[str, Environment]:
    """Each side's environment, probed at once (one probe for sides alike); AbError naming
    the option of one that is not Python or lacks a REQUIRED import. Every probe has
    ended when this returns or raises."""
    src = str(Path(__file__).resolve().parents[2])
    procs: dict[tuple, subprocess.Popen] = {}
    # this Python with no variables last: a bad side is refused without waiting for it
    chosen = sorted(dict.fromkeys(sides.values()), key=lambda e: e == (sys.executable, ()))
    answers = {}
    try:
        for python, env in chosen:
            try:
                procs[(python, env)] = subprocess.Popen(
                    [python, str(PROBE), src, *REQUIRED, *OPTIONAL],
                    env={**os.environ, **dict(env)},
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            except OSError as exc:
                side = next(s for s, e in sides.items() if e == (python, env))
                raise AbError(
                    f"--{side}-python {python}: not a Python interpreter ({exc})"
                ) from None
        for key, proc in procs.items():
            side = next(s for s, e in sides.items() if e == key)
            answers[side] = _environment(
                f"--{side}-python", key[0], proc, *proc.communicate(timeout=PROBE_TIMEOUT_S)
            )
    except subprocess.TimeoutExpired:
        raise AbError(
            f"a side's Python did not say what it is within {PROBE_TIMEOUT_S:.0f} s"
        ) from None
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
            proc.wait()
    by_key = {sides[side]: env for side, env in answers.items()}
    return {side: by_key[key] for side, key in sides.items()}


def _environment(
    option: str, python: str, proc: subprocess.Popen, stdout: str, stderr: str
) -> Environment:
    code = proc.returncode
    lines = stdout.strip().splitlines()
    try:
        data = json.loads(lines[-1]) if code == 0 and lines else None
    except ValueError:
        data = None
    if not isinstance(data, dict):
        said = " ".join((stderr.strip() or stdout.strip() or "nothing").split())[-300:]
        raise AbError(f"{option} {python}: not a Python interpreter this gate can run (it exited "
                      f"{code}, saying: {said})")  # fmt: skip
    for name in REQUIRED:
        if name in data["failed"]:
            raise AbError(
                f"{option} {python}: cannot import {name} ({data['failed'][name]}); install "
                "the project's dependencies there (pyproject.toml's, with its torch)"
            )
    return Environment(
        python, data["python"], data["packages"], data["fingerprint"], data["failed"]
    )


def opened(
    stack: contextlib.ExitStack, repo: Path, args: Any, minutes: Minutes
) -> tuple[Side, Side, dict[str, Environment], str]:
    """Both sides from the options: (baseline, candidate, their probed environments, the
    baseline's commit). Bad input (a REV, a Python, a variable) is refused before any
    worktree or process starts; the worktrees close with `stack`."""
    commit = resolve_rev(repo, args.baseline)
    cand_commit = resolve_rev(repo, args.candidate, "--candidate") if args.candidate else None
    chosen = defined(args)
    environments = {}
    if any(d != (sys.executable, ()) for d in chosen.values()):
        say("asking each side's Python what it is...")
        with minutes.phase("set-up"):
            environments = probe(chosen)
    with minutes.phase("set-up"):
        tree = stack.enter_context(baseline_worktree(repo, commit))
        cand_tree = repo
        if cand_commit is not None:
            cand_tree = stack.enter_context(baseline_worktree(repo, cand_commit, "candidate"))
    label = f"{args.candidate} ({cand_commit[:12]})" if cand_commit else describe_tree(repo)
    baseline = Side("baseline", tree, f"{args.baseline} ({commit[:12]})", *chosen["baseline"])
    candidate = Side("candidate", cand_tree, label, *chosen["candidate"])
    if rows := differences(baseline, candidate, environments):
        say("what differs between the sides besides the tree:")
        say(tabulate(rows, headers=["", "baseline", "candidate"]))
    for line in limitation_notes(environments):
        say(line)
    return baseline, candidate, environments, commit


def _names(names: Sequence[str]) -> str:
    return _cell(f"{len(names)}: {', '.join(names)}") if names else "-"


def _cell(value: Any) -> str:
    text = "(unset)" if value is None else str(value)
    return text if len(text) <= CELL else text[: CELL - 1] + "…"


def differences(
    baseline: Side, candidate: Side, envs: Mapping[str, Environment]
) -> list[list[str]]:
    """Side by side, what differs between the sides besides the tree: the Python, the
    fingerprint's fields, the packages' versions, the variables, the libraries one
    side cannot import. Rows of [what, baseline, candidate]."""
    rows: list[list[str]] = []
    b, c = envs.get("baseline"), envs.get("candidate")
    if baseline.python != candidate.python:
        rows.append(["python", baseline.python, candidate.python])
    if b is not None and c is not None:
        if b.version != c.version:
            rows.append(["python version", b.version, c.version])
        fields = [k for k in {**b.fingerprint, **c.fingerprint} if k not in RUN_FIELDS]
        shown = set()
        for k in fields:
            if b.fingerprint.get(k) != c.fingerprint.get(k):
                rows.append([k, _cell(b.fingerprint.get(k)), _cell(c.fingerprint.get(k))])
                shown.add(k)
        for name in sorted(b.packages.keys() & c.packages.keys()):
            if b.packages[name] != c.packages[name] and name not in shown:
                rows.append([f"package {name}", b.packages[name], c.packages[name]])
        only_b = sorted(b.packages.keys() - c.packages.keys())
        only_c = sorted(c.packages.keys() - b.packages.keys())
        if only_b or only_c:  # a venv's dev tools: listed in one row, not one each
            rows.append(["packages of one side only", _names(only_b), _names(only_c)])
        for name in sorted(b.limitations.keys() | c.limitations.keys()):
            rows.append([f"imports {name}", _cell(b.limitations.get(name, "yes")),
                         _cell(c.limitations.get(name, "yes"))])  # fmt: skip
    vb, vc = dict(baseline.env), dict(candidate.env)
    for key in sorted(vb.keys() | vc.keys()):
        if vb.get(key) != vc.get(key):
            caller = os.environ.get(key)
            rows.append([f"${key}", _cell(vb.get(key, caller)), _cell(vc.get(key, caller))])
    return rows


def limitation_notes(envs: Mapping[str, Environment]) -> list[str]:
    """One line per library a side cannot import: what is skipped there."""
    return [
        f"the {side}'s Python cannot import {name} ({why[:160]}): its benches that need "
        f"{name} are skipped there, not compared (named below where selected)"
        for side, env in envs.items()
        for name, why in env.limitations.items()
    ]


def to_json(baseline: Side, candidate: Side, envs: Mapping[str, Environment]) -> dict[str, Any]:
    def one(side: Side) -> dict[str, Any]:
        env = envs.get(side.name)
        return {
            "python": side.python,
            "env": dict(side.env),
            **(
                {
                    "python_version": env.version,
                    "fingerprint": env.fingerprint,
                    "cannot_import": env.failed,
                }
                if env is not None
                else {}
            ),
        }

    return {
        "zygotes": 1 if baseline.environment == candidate.environment else 2,
        "baseline": one(baseline),
        "candidate": one(candidate),
        "differences": differences(baseline, candidate, envs),
    }
