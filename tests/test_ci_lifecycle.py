"""The CI workflow's whole life on the CPU: `visionbench ci pr` and `visionbench ci main`
as the GPU workflow calls them, with the environment GitHub Actions sets, against a
local bare repository standing for GitHub. In order, each step asserted on its exit
code, what the benchmark-history branch holds and what the summary says:

  a. a pull request before main ever ran          f. a runner of another fingerprint
  b. the first push to main, as a matrix of two    g. two pushes to main at once
     shards (and a shard missing, refused)         h. a job stopped mid-bench (SIGTERM)
  c. a pull request that changes nothing, sharded  i. a pull request's job cannot push
  d. a pull request that slows the train step
  e. main moved on after the pull request branched

Some steps share a job: g's pushes are main moving on for e, and d's slowdown comes to a
runner of another fingerprint (f), where the A/B lane is the only gate. b and c run as
the workflow's matrix does (`VISIONBENCH_SHARDS` = 2): `ci shard` on two runners at once,
their runs handed on as the artifacts are, then `ci main|pr --shard-runs` merges them and
pushes or gates the merged run; the unsharded runs of g and h land beside it, and c's is
gated against it. The project is a copy of this repository (src, benches, fixtures,
conftest); the benches are two in two modules (so that each shard has one: the small
CNN's training step and the gradient-zeroing reference's, `--vb-dry-run`: a few images,
a few steps), the A/B lane times the first alone, and the A/B
lane's tolerance in the copy is 50%: the slowdown planted in d, CPU spun in each
convolution, makes the step about 3x slower however loaded the machine is, while an
unchanged dry-run step of a few milliseconds, beside other work on two cores, moves by far
more than the 5% a real bench is held to. Nothing asserts a time, so the test runs among
the others, beside the dry runs (not `quiet`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPOSITORY = "acme/vision"
HISTORY = "benchmark-history"
BENCHES = "benches/bench_model_size.py benches/bench_grad_zeroing.py"  # a shard each
BENCH = ["-k", "train_step and (small_cnn or set_to_none)", "--vb-profile", "quick", "--vb-dry-run"]
TRAIN_STEP = "bench_train_step[cpu-mnist5k-small_cnn]"
ZEROING_STEP = "bench_train_step[cpu-mnist5k-set_to_none]"
#: The A/B lane kept short: 5 blocks are the fewest whose signed-rank test reaches
#: p < 0.05; a step about 3x slower is decided there.
AB = [
    "--ab-selection",
    "benches/bench_model_size.py",
    "--ab-budget",
    "5",
    "--ab-args=--max-blocks 5 --rounds 20 --alpha 0.05 --seed 3",
]
TOLERANCE = "\n[tool.visionbench.gate.tolerance]\nab_time = 0.5\n"
SLOWDOWN = """

import time as _time  # test: in training, every convolution spins 6 ms of this thread's CPU
import torch.nn as _nn  # more (about 3x the dry run's step). CPU, not a sleep: a loaded
#   machine stretches the spin as it stretches the rest of the step, so the ratio holds
#   whatever runs beside it (a sleep's ratio fell towards 1 as load slowed the step)

_forward = _nn.Conv2d.forward


def _slower(self, x):
    if self.training:
        start = _time.thread_time()
        while _time.thread_time() - start < 0.006:
            pass
    return _forward(self, x)


_nn.Conv2d.forward = _slower
"""


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def commit(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(
        repo,
        "-c",
        "user.name=dev",
        "-c",
        "user.email=dev@example.invalid",
        "commit",
        "-q",
        "-m",
        message,
    )
    return git(repo, "rev-parse", "HEAD")


class GitHub:
    """The remote (a bare repository), a developer's clone, and runners' workspaces."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.remote = root / "github.git"
        git(root, "init", "-q", "--bare", "-b", "main", str(self.remote))
        self.dev = root / "dev"
        self.dev.mkdir()
        for name in ("src", "benches", "fixtures"):
            shutil.copytree(
                ROOT / name, self.dev / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
            )
        for name in ("conftest.py", ".gitignore"):
            shutil.copy(ROOT / name, self.dev / name)
        text = (ROOT / "pyproject.toml").read_text() + TOLERANCE
        (self.dev / "pyproject.toml").write_text(text)
        git(self.dev, "init", "-q", "-b", "main")
        git(self.dev, "remote", "add", "origin", str(self.remote))
        self.jobs = 0

    def change(self, branch: str, start: str, name: str, text: str, append: bool = False) -> str:
        """A commit on `branch` (made from `start`), pushed; its id."""
        git(self.dev, "checkout", "-q", "-B", branch, start)
        path = self.dev / name
        path.write_text((path.read_text() if append else "") + text)
        sha = commit(self.dev, f"{branch}: {name}")
        git(self.dev, "push", "-q", "--force", "origin", f"{branch}:{branch}")
        return sha

    def tip(self) -> str | None:
        out = subprocess.run(
            ["git", "-C", str(self.remote), "rev-parse", "--verify", "-q", HISTORY],
            capture_output=True,
            text=True,
        )
        return out.stdout.strip() or None

    def history(self) -> dict[str, list[str]]:
        """The branch's run files by folder (in order), {} before it exists."""
        if self.tip() is None:
            return {}
        folders: dict[str, list[str]] = {}
        for path in git(self.remote, "ls-tree", "-r", "--name-only", HISTORY).split():
            folder, name = path.split("/")
            folders.setdefault(folder, []).append(name)
        return {f: sorted(n) for f, n in folders.items()}

    def workspace(self, runner: str, sha: str) -> Path:
        """actions/checkout on a self-hosted runner: its workspace kept from job to job,
        fetched and checked out at `sha` with the whole history (fetch-depth: 0); not
        cleaned here, so that the command itself must leave nothing a next job reads."""
        ws = self.root / runner
        if not ws.exists():
            git(self.root, "clone", "-q", str(self.remote), str(ws))
        git(ws, "fetch", "-q", "--prune", "origin", "+refs/heads/*:refs/remotes/origin/*")
        git(ws, "checkout", "-q", "--force", "--detach", sha)
        return ws

    def job(
        self,
        runner: str,
        sha: str,
        event: str,
        command: str,
        *extra: str,
        ref: str = "refs/heads/main",
        head_ref: str = "",
    ) -> Job:
        """Start `visionbench ci COMMAND` as the workflow's step does."""
        self.jobs += 1
        ws = self.workspace(runner, sha)
        data: dict = {"repository": {"full_name": REPOSITORY, "default_branch": "main"}}
        if event == "pull_request":
            data["pull_request"] = {
                "head": {"sha": sha, "ref": head_ref, "repo": {"full_name": REPOSITORY}},
                "base": {"ref": "main"},
            }
        files = self.root / f"job{self.jobs}"
        files.mkdir()
        (files / "event.json").write_text(json.dumps(data))
        env = {
            **os.environ,
            "PYTHONPATH": str(ws / "src"),
            "GIT_CONFIG_GLOBAL": str(files / "no-gitconfig"),  # a runner: no git identity
            "GIT_CONFIG_NOSYSTEM": "1",
            "GITHUB_ACTIONS": "true",
            "GITHUB_EVENT_NAME": event,
            "GITHUB_EVENT_PATH": str(files / "event.json"),
            "GITHUB_SHA": sha if event == "push" else "f" * 40,  # a PR's: the merge commit
            "GITHUB_REF": ref,
            "GITHUB_BASE_REF": "main" if event == "pull_request" else "",
            "GITHUB_HEAD_REF": head_ref,
            "GITHUB_REPOSITORY": REPOSITORY,
            "GITHUB_SERVER_URL": "https://github.example.invalid",
            "GITHUB_RUN_ID": str(self.jobs),
            "GITHUB_STEP_SUMMARY": str(files / "step-summary.md"),
            "GITHUB_OUTPUT": str(files / "output"),
        }
        for var in (
            "GIT_AUTHOR_NAME",
            "GIT_AUTHOR_EMAIL",
            "GIT_COMMITTER_NAME",
            "GIT_COMMITTER_EMAIL",
            "CUDA_VISIBLE_DEVICES",
        ):
            env.pop(var, None)
        argv = [
            sys.executable,
            "-m",
            "visionbench.cli",
            "ci",
            command,
            "--device",
            "cpu",
            "--benches",
            BENCHES,
            *extra,
        ]
        log = open(files / "log.txt", "w")  # noqa: SIM115 (closed by Job.wait)
        proc = subprocess.Popen(argv, cwd=ws, env=env, stdout=log, stderr=subprocess.STDOUT)
        return Job(proc, ws, files, log)


class Job:
    def __init__(self, proc: subprocess.Popen, ws: Path, files: Path, log) -> None:
        self.proc, self.ws, self.files, self._log = proc, ws, files, log

    def wait(self, timeout: float = 900) -> Job:
        self.proc.wait(timeout=timeout)
        self._log.close()
        return self

    @property
    def code(self) -> int:
        return self.proc.returncode

    @property
    def log(self) -> str:
        return (self.files / "log.txt").read_text(errors="replace")

    @property
    def summary(self) -> str:
        """The job summary, which must hold exactly one summary."""
        text = (self.files / "step-summary.md").read_text()
        assert text.count("<!-- visionbench:pr-summary -->") == 1, text
        assert text.strip() == (self.ws / "reports/ci/summary.md").read_text().strip()
        return text

    def outputs(self) -> dict[str, str]:
        lines = (self.files / "output").read_text().splitlines()
        return dict(line.split("=", 1) for line in lines)

    def check(self, code: int) -> Job:
        assert self.code == code, self.log[-6000:]
        return self


def pr(hub: GitHub, sha: str, *extra: str, head_ref: str = "feature", threads: str = "1") -> Job:
    before = hub.tip()
    job = hub.job(
        "runner-a",
        sha,
        "pull_request",
        "pr",
        *extra,
        *AB,
        "--",
        *BENCH,
        "--vb-threads",
        threads,
        ref="refs/pull/1/merge",
        head_ref=head_ref,
    ).wait()
    assert hub.tip() == before, "a pull request's job wrote the history branch"
    return job


def main(hub: GitHub, sha: str, runner: str = "runner-a", threads: str = "1") -> Job:
    return hub.job(
        runner, sha, "push", "main", "--site-reports", "0", "--", *BENCH, "--vb-threads", threads
    )


def shards(hub: GitHub, sha: str, event: str, **where: str) -> Path:
    """The matrix's two `shard` jobs at once, on two runners; the folder their runs are in
    as the final job downloads them: one folder per artifact."""
    jobs = [
        hub.job(runner, sha, event, "shard", "--shard", f"{i}/2", "--", *BENCH,
                "--vb-threads", "1", **where)
        for i, runner in ((1, "runner-a"), (2, "runner-b"))
    ]  # fmt: skip
    folder = hub.root / f"artifacts-{hub.jobs}"
    for i, job in enumerate(jobs):
        job.wait().check(0)
        assert f"**shard {i + 1}/2 saved: 1 benchmark for the job that merges" in job.summary
        shutil.copytree(job.ws / "reports/ci/run", folder / f"gpu-bench-shard-{sha}-{i}")
    return folder


def test_the_workflow_from_the_first_pull_request_to_a_cancelled_push(tmp_path):
    hub = GitHub(tmp_path)
    m1 = commit(hub.dev, "the project")
    git(hub.dev, "push", "-q", "origin", "main")
    feature = hub.change("feature", m1, "NOTES.md", "a change that touches no bench\n")

    # a. a pull request before main ever ran: green, gated on the A/B lane only
    job = pr(hub, feature).check(0)
    assert hub.history() == {}
    assert "no baseline yet: gated on the A/B lane only" in job.summary
    assert "A/B gate passed" in job.summary
    assert f"merge base with origin/main: {m1[:12]}" in job.summary

    # b. the first push to main, as a matrix of two shards: each shard job saves its run;
    # the final job with one of them is refused (a shard missing: nothing pushed), with both
    # merges them and pushes the merged run: the branch made, one run in its testbed's
    # folder, a site with the merged run's report
    runs = shards(hub, m1, "push")
    shutil.copytree(runs / f"gpu-bench-shard-{m1}-0", hub.root / "one-shard" / "0")
    job = hub.job("runner-a", m1, "push", "main", "--shard-runs", str(hub.root / "one-shard"))
    assert job.wait().check(2) and hub.tip() is None
    assert "**could not run: the shards' runs cannot be merged: shards 2/2 are missing" in (
        job.summary
    )
    job = hub.job("runner-a", m1, "push", "main", "--shard-runs", str(runs), "--site-reports", "1")
    job.wait().check(0)
    (folder,) = hub.history()
    assert hub.history()[folder] == [f"0001_merged_{m1[:8]}.json"]
    assert "torch" in folder and "quick" in folder and "dry-run" in folder
    assert f"the first run of the history: {HISTORY} starts with it, in {folder}" in job.summary
    assert "| benchmarks | 2 saved as 0001_merged_" in job.summary
    assert "merged from 2 shard runs (shards 1/2, 2/2, split by count)" in job.summary
    assert "::group::benchmarks" not in job.log  # merged: no bench ran in the final job
    merged = json.loads(git(hub.remote, "show", f"{HISTORY}:{folder}/0001_merged_{m1[:8]}.json"))
    assert {b["name"] for b in merged["benchmarks"]} == {TRAIN_STEP, ZEROING_STEP}
    where = merged["machine_info"]["visionbench"]["shards"]
    assert [place["shards"] for place in where] == [[1], [2]]
    assert job.outputs()["site"].endswith("reports/ci/site")
    assert (job.ws / "reports/ci/site/index.html").is_file()
    assert list((job.ws / "reports/ci/site").rglob(f"0001_merged_{m1[:8]}*/report.md"))
    m1_run = hub.history()[folder][0].removesuffix(".json")

    # g. two pushes to main at once, on two runners: both runs land (and main has moved
    # on from where the feature branched: e below)
    m2 = hub.change("main", m1, "CHANGES.md", "two\n")
    m3 = hub.change("main", m2, "CHANGES.md", "three\n", append=True)
    for job in [main(hub, m2, "runner-a"), main(hub, m3, "runner-b")]:
        job.wait().check(0)
    names = hub.history()[folder]
    assert [n[:4] for n in names] == ["0001", "0002", "0003"]
    assert {n.split("_")[1][:8] for n in names[1:]} == {m2[:8], m3[:8]}

    # c. a pull request that changes nothing, sharded, passes: its merged run gated against
    # the merged run of b; e. main moved on after it branched: it is gated against its
    # merge base's run (m1's), not main's newest, and says which
    runs = shards(hub, feature, "pull_request", ref="refs/pull/1/merge", head_ref="feature")
    job = pr(hub, feature, "--shard-runs", str(runs)).check(0)
    assert "**passed: nothing regressed**" in job.summary
    assert f"| testbed | {folder} |" in job.summary
    assert f"| baseline | {m1_run}: the run of the merge base {m1[:12]} |" in job.summary
    assert f"| benchmarks | 2 saved as 0001_merged_{feature[:8]}, merged from 2" in job.summary
    assert "gate passed" in job.summary and "A/B gate passed" in job.summary
    assert (job.ws / f"reports/ci/report/0001_merged_{feature[:8]}/report.md").is_file()

    # d. a pull request that slows the train step: exit 1 from the A/B lane, the benchmark
    # named; f. on a runner whose fingerprint differs from every saved run (two torch
    # threads here, as another torch or driver would): said loudly, only the A/B lane gated
    slow = hub.change("slow", m1, "conftest.py", SLOWDOWN, append=True)
    job = pr(hub, slow, head_ref="slow", threads="2").check(1)
    assert f"**FAILED: the A/B lane found regressions in {TRAIN_STEP}" in job.summary
    assert "A/B gate FAILED: 1 regression" in job.summary
    ab = json.loads((job.ws / "reports/ci/ab.json").read_text())
    verdicts = {b["name"].split("::")[-1]: b["verdict"] for b in ab["benchmarks"]}
    assert verdicts == {TRAIN_STEP: "regression"}
    assert "this runner's fingerprint differs from every saved run" in job.summary
    assert f"the nearest testbed, {folder}, differs in threads 1 → 2" in job.summary
    assert "ONLY THE A/B LANE GATED this pull request" in job.summary
    assert "::warning::this runner's fingerprint differs" in job.log
    assert "| history gate (accuracy, memory, failures) | not run: no saved run" in job.summary
    (tmp_path / "pr-summary.md").write_text(job.summary)  # the docs' example

    # h. a job stopped mid-bench (SIGTERM, as a cancellation sends): nothing pushed, and
    # the next job in the same workspace runs clean
    m4 = hub.change("main", m3, "CHANGES.md", "four\n", append=True)
    before = hub.tip()
    job = main(hub, m4)
    assert wait_for(lambda: "::group::benchmarks" in job.log), job.log
    time.sleep(3)  # inside pytest, collecting or benchmarking
    job.proc.send_signal(signal.SIGTERM)
    job.wait(timeout=120).check(128 + signal.SIGTERM)
    assert hub.tip() == before and len(hub.history()[folder]) == 3
    assert "stopped (stopped by SIGTERM) during benchmarks: nothing pushed" in job.summary
    job = main(hub, m4).wait().check(0)
    names = hub.history()[folder]
    assert len(names) == 4 and names[-1].split("_")[1].startswith(m4[:8])
    assert len(list((job.ws / "reports/ci/run").rglob("*.json"))) == 1

    # i. a pull request's job cannot write the history: the command refuses outside main
    before = hub.tip()
    job = hub.job("runner-a", feature, "pull_request", "main", ref="refs/pull/1/merge").wait()
    assert job.check(2) and "only a push to main may" in job.log and hub.tip() == before
    job = hub.job("runner-a", feature, "push", "main", ref="refs/heads/feature").wait()
    assert job.check(2) and "only a push to main may" in job.summary and hub.tip() == before


def wait_for(condition, timeout: float = 120.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False
