"""The GitHub workflows: valid against GitHub's workflow schema (check-jsonschema's
vendored copy, offline); the GPU workflow's shape (a job per event with its own
permissions, forks never on the self-hosted runner, steps that run after a failure but
not after a cancellation, main's runs queued rather than dropped, artifacts named by the
tested commit, the locked environment and a readiness step before `visionbench ci`);
every `visionbench` command they run accepted by the CLI's parser; the lock covering
pyproject.toml; and scripts/ci_env.sh making and keeping a virtualenv from a lock."""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from visionbench import cli

pytest.importorskip("check_jsonschema", reason="check-jsonschema is a dev dependency")
from ruamel.yaml import YAML  # check-jsonschema's own YAML reader

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
LOCK = ROOT / "requirements" / "gpu-runner.txt"


def workflow(name: str) -> dict:
    return YAML(typ="safe").load((ROOT / ".github" / "workflows" / name).read_text())


def steps(name: str) -> list[dict]:
    return [step for job in workflow(name)["jobs"].values() for step in job["steps"]]


def test_the_workflows_validate_against_githubs_schema():
    assert WORKFLOWS
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.github-workflows",
            *map(str, WORKFLOWS),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_each_event_has_its_own_job_and_only_mains_may_write():
    gpu = workflow("gpu-bench.yml")
    assert gpu["permissions"] == {}
    jobs = gpu["jobs"]
    assert jobs["pull-request"]["permissions"] == {"contents": "read", "pull-requests": "write"}
    assert jobs["main"]["permissions"] == {"contents": "write"}
    assert jobs["fork"]["permissions"] == {"contents": "read"}
    assert set(jobs["pages"]["permissions"]) == {"pages", "id-token"}
    same = "github.event.pull_request.head.repo.full_name == github.repository"
    assert same in jobs["pull-request"]["if"] and same.replace("==", "!=") in jobs["fork"]["if"]
    assert jobs["fork"]["runs-on"] == "ubuntu-latest"  # a fork's code: never self-hosted
    assert jobs["main"]["if"].endswith("github.event_name == 'push' }}")
    assert jobs["shard"]["permissions"] == {"contents": "read"}  # its run: an artifact
    assert same in jobs["matrix"]["if"] and jobs["matrix"]["runs-on"] == "ubuntu-latest"
    for job in ("shard", "pull-request", "main"):  # no matrix (a fork's PR): none of them
        assert "matrix" in jobs[job]["needs"]
    for name in ("gpu-bench.yml", "gpu-check.yml", "ab-cpu.yml", "tests.yml"):
        for job in workflow(name)["jobs"].values():
            perms = job.get("permissions", workflow(name).get("permissions"))
            assert perms is not None, f"{name}: a job without permissions gets the defaults"


def test_mains_runs_queue_and_a_pull_requests_newer_push_cancels_its_last():
    jobs = workflow("gpu-bench.yml")["jobs"]
    assert "concurrency" not in jobs["main"] and "concurrency" not in workflow("gpu-bench.yml")
    pr = jobs["pull-request"]["concurrency"]
    assert pr["cancel-in-progress"] is True and "pull_request.number" in pr["group"]


def test_no_step_runs_after_a_cancellation():
    for path in WORKFLOWS:
        for step in steps(path.name):
            assert "always()" not in str(step.get("if", "")), (path.name, step)
    uploads = [s for s in steps("gpu-bench.yml") if "upload-artifact" in s.get("uses", "")]
    assert uploads and all("!cancelled()" in s["if"] for s in uploads)


def test_artifacts_are_named_by_the_tested_commit():
    jobs = workflow("gpu-bench.yml")["jobs"]
    names = {
        job: [
            s["with"]["name"] for s in jobs[job]["steps"] if "upload-artifact" in s.get("uses", "")
        ]
        for job in ("pull-request", "main")
    }
    assert names["pull-request"] == ["gpu-bench-pr-${{ github.event.pull_request.head.sha }}"]
    assert names["main"] == ["gpu-bench-main-${{ github.sha }}"]
    checkout = jobs["pull-request"]["steps"][0]
    assert checkout["with"]["ref"] == "${{ github.event.pull_request.head.sha }}"
    assert checkout["with"]["fetch-depth"] == 0
    assert "ab-cpu-${{ github.event.pull_request.head.sha }}" in str(steps("ab-cpu.yml"))


def test_gpu_jobs_set_up_the_locked_environment_and_check_readiness_first():
    for name, job in [
        ("gpu-bench.yml", "pull-request"),
        ("gpu-bench.yml", "main"),
        ("gpu-bench.yml", "shard"),
        ("gpu-check.yml", "gpu-check"),
    ]:
        runs = [s.get("uses", "") + s.get("run", "") for s in workflow(name)["jobs"][job]["steps"]]
        order = [
            next(i for i, r in enumerate(runs) if marker in r)
            for marker in (
                "actions/checkout",
                "actions/setup-python",
                "scripts/ci_env.sh",
                "visionbench.ci ready --device cuda",
            )
        ]
        assert order == sorted(order), (name, job, runs)
        assert not any("pip install" in r for r in runs), "install from the lock only"
    main_runs = [s.get("run", "") for s in workflow("gpu-bench.yml")["jobs"]["main"]["steps"]]
    assert any("python -m visionbench.ci main" in r for r in main_runs)


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
        for prefix, first in (
            ("bin/visionbench ", []),
            ("-m visionbench.cli ", []),
            ("-m visionbench.ci ", ["ci"]),
        ):
            if prefix in line:
                out.append([*first, *shlex.split(line.split(prefix, 1)[1])])
        for session in ("site", "gate", "ab"):  # nox sessions that pass their arguments on
            if f"nox -s {session} -- " in line:
                out.append([session, *shlex.split(line.split(f"nox -s {session} -- ", 1)[1])])
    return out


@pytest.mark.parametrize("workflow_file", [p.name for p in WORKFLOWS])
def test_every_visionbench_command_of_a_workflow_parses(workflow_file):
    parser = cli.parser()
    commands = [
        argv for step in steps(workflow_file) for argv in visionbench_commands(step.get("run", ""))
    ]
    for argv in commands:
        args, extra = parser.parse_known_args(argv)
        assert not extra or args.command == "ab", argv
    if workflow_file == "gpu-bench.yml":
        assert {tuple(argv[:2]) for argv in commands} == {
            ("ci", "ready"),
            ("ci", "pr"),
            ("ci", "main"),
            ("ci", "matrix"),
            ("ci", "shard"),
        }


def test_the_final_jobs_merge_the_shards_the_matrix_uploaded():
    """With VISIONBENCH_SHARDS > 1, `ci pr|main` get `--shard-runs`, the folder into which
    the artifacts the `shard` jobs uploaded (their runs, named by the tested commit) were
    downloaded; with 1, neither the shards nor the download."""
    jobs = workflow("gpu-bench.yml")["jobs"]
    shard = jobs["shard"]
    assert shard["if"] == "needs.matrix.outputs.count != '1'"
    assert shard["strategy"]["matrix"]["shard"] == "${{ fromJSON(needs.matrix.outputs.shards) }}"
    assert shard["strategy"]["fail-fast"] is False
    (upload,) = [s for s in shard["steps"] if "upload-artifact" in s.get("uses", "")]
    assert upload["with"]["path"] == "reports/ci/run/"
    prefix = upload["with"]["name"].split("${{ strategy.job-index }}")[0]
    for job, sha in (("pull-request", "github.event.pull_request.head.sha"),
                     ("main", "github.sha")):  # fmt: skip
        assert sha in prefix
        (download,) = [s for s in jobs[job]["steps"] if "download-artifact" in s.get("uses", "")]
        assert download["if"] == shard["if"]
        assert download["with"]["pattern"] == f"gpu-bench-shard-${{{{ {sha} }}}}-*"
        (command,) = [
            argv
            for s in jobs[job]["steps"]
            for argv in visionbench_commands(s.get("run", ""))
            if argv[1] != "ready"
        ]
        assert command[2:4] == ["--shard-runs", download["with"]["path"]], command


def test_the_lock_pins_every_dependency_pyproject_asks_for_with_hashes():
    """requirements/gpu-runner.txt (docs/gpu-runners.md: how it is made and refreshed)
    holds a version each requirement of pyproject.toml (and its dev extra) accepts."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    text = LOCK.read_text()
    pinned = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+) \\$", text, re.MULTILINE))
    assert len(re.findall(r"^[A-Za-z0-9_.-]+==\S+ \\\n    --hash=sha256:", text, re.M)) == len(
        pinned
    )
    canonical = {re.sub(r"[-_.]+", "-", k).lower(): v for k, v in pinned.items()}
    for line in wanted:
        req = Requirement(line)
        env = {"python_version": "3.11", "python_full_version": "3.11.0", "extra": "dev"}
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        version = canonical.get(re.sub(r"[-_.]+", "-", req.name).lower())
        assert version is not None, f"{req.name} is not in {LOCK.name}: refresh the lock"
        assert req.specifier.contains(version, prereleases=True), (line, version)
    assert canonical["torch"].split("+")[0] == canonical["torch"]  # PyPI's (CUDA) build
    assert "nvidia-cuda-runtime" in text.replace("_", "-")


def tiny_wheel(folder: Path) -> tuple[Path, str]:
    """A wheel of one empty module, built by hand (no network, no build backend)."""
    path = folder / "vbtiny-1.0-py3-none-any.whl"
    files = {
        "vbtiny.py": "",
        "vbtiny-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: vbtiny\nVersion: 1.0\n",
        "vbtiny-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: "
        "true\nTag: py3-none-any\n",
    }
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
        zf.writestr(
            "vbtiny-1.0.dist-info/RECORD",
            "".join(f"{n},,\n" for n in files) + "vbtiny-1.0.dist-info/RECORD,,\n",
        )
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def test_ci_env_makes_a_virtualenv_from_the_lock_once_and_puts_it_on_path(tmp_path):
    wheel, digest = tiny_wheel(tmp_path)
    lock = tmp_path / "lock.txt"
    lock.write_text(f"vbtiny @ {wheel.as_uri()} --hash=sha256:{digest}\n")
    env = {
        **os.environ,
        "VISIONBENCH_VENVS": str(tmp_path / "venvs"),
        "PYTHON": sys.executable,
        "GITHUB_PATH": str(tmp_path / "path"),
        "GITHUB_ENV": str(tmp_path / "env"),
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_NO_INDEX": "1",
    }

    def ci_env() -> subprocess.CompletedProcess:
        return subprocess.run(
            ["bash", str(ROOT / "scripts" / "ci_env.sh"), str(lock)],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    first = ci_env()
    assert first.returncode == 0, first.stderr
    venv = Path(first.stdout.strip())
    assert venv.parent == tmp_path / "venvs" and (venv / ".complete").is_file()
    python = venv / "bin" / "python"
    assert subprocess.run([python, "-c", "import vbtiny"], check=False).returncode == 0
    assert (tmp_path / "path").read_text() == f"{venv / 'bin'}\n"
    assert (tmp_path / "env").read_text() == f"PYTHONPATH={ROOT / 'src'}\n"
    stamp = (venv / ".complete").stat().st_mtime_ns
    second = ci_env()  # the same lock: the same virtualenv, not made again
    assert second.stdout.strip() == str(venv) and "holds" in second.stderr
    assert (venv / ".complete").stat().st_mtime_ns == stamp
    lock.write_text(lock.read_text() + "# changed\n")  # another lock: another virtualenv
    assert Path(ci_env().stdout.strip()) != venv
    lock.write_text(f"vbtiny @ {wheel.as_uri()} --hash=sha256:{'0' * 64}\n")
    refused = ci_env()  # a hash that does not match installs nothing
    assert refused.returncode != 0 and "HASH" in refused.stderr.upper()
