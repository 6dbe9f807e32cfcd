"""The GitHub workflows: valid against GitHub's workflow schema (check-jsonschema's
vendored copy, offline), main's history kept on a branch, not in the Actions cache, and
every `visionbench` command they run accepted by the CLI's parser."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from visionbench import cli

pytest.importorskip("check_jsonschema", reason="check-jsonschema is a dev dependency")
from ruamel.yaml import YAML  # check-jsonschema's own YAML reader

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def steps(name: str) -> list[dict]:
    workflow = YAML(typ="safe").load((ROOT / ".github" / "workflows" / name).read_text())
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


def test_the_workflows_validate_against_githubs_schema():
    assert WORKFLOWS
    done = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows",
         *map(str, WORKFLOWS)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_mains_history_lives_on_the_branch_not_in_the_cache():
    all_steps = steps("gpu-bench.yml")
    assert not [s for s in all_steps if "actions/cache" in s.get("uses", "")]
    runs = {s.get("name", ""): s.get("run", "") for s in all_steps}
    push = runs["Append the run to the benchmark-history branch"]
    assert "history-branch push latest" in push
    pull = next(s for s in all_steps if s.get("id") == "history")
    assert "history-branch pull" in pull["run"] and "--like latest" in pull["run"]
    gate = next(r for n, r in runs.items() if n.startswith("Gate against main"))
    assert "steps.history.outputs.folder" in gate and "steps.history.outputs.candidate" in gate
    summary = runs["Summary of the pull request"]
    assert "reports/ab.md" in summary and "steps.site.outputs.artifact-url" in summary
    comment = next(s for s in all_steps if s.get("name") == "Comment on the pull request")
    assert comment["continue-on-error"] is True


def visionbench_commands(text: str) -> list[list[str]]:
    """The `visionbench` command lines of a step, with shell variables and ${{ }}
    expressions as placeholders (an expression that may give options: those options)."""

    def expression(m: re.Match) -> str:
        option = re.search(r"'(--[^']*)'", m.group(0))
        return option.group(1) if option else "X"

    text = re.sub(r"\$\{\{[^}]*\}\}", expression, text.replace("\\\n", " "))
    text = re.sub(r"\"?\$\{?\w+\}?\"?", "1", text)
    out = []
    for line in text.splitlines():
        if "bin/visionbench " in line:
            out.append(shlex.split(line.split("bin/visionbench ", 1)[1]))
        for session in ("site", "gate"):  # nox sessions that pass their arguments on
            if f"nox -s {session} -- " in line:
                out.append([session, *shlex.split(line.split(f"nox -s {session} -- ", 1)[1])])
    return out


@pytest.mark.parametrize("workflow", [p.name for p in WORKFLOWS])
def test_every_visionbench_command_of_a_workflow_parses(workflow):
    parser = cli.parser()
    commands = [argv for step in steps(workflow) for argv in visionbench_commands(
        step.get("run", ""))]  # fmt: skip
    for argv in commands:
        _, extra = parser.parse_known_args(argv)
        assert not extra, argv
    if workflow == "gpu-bench.yml":
        assert {argv[0] for argv in commands} >= {"history-branch", "site", "gate", "pr-summary"}
