"""The durable history of main: a `benchmark-history` branch of saved runs.

The Actions cache evicts an entry after 7 idle days; a branch keeps main's runs
as long as the repository (github-action-benchmark keeps its data on a branch
the same way). The branch holds pytest-benchmark's run files, one folder per
machine fingerprint (`series.folder_name`: the fingerprint in words and its key),
numbered in the order they were appended:

    AMD-EPYC-2-threads-torch-2.14.1-quick-0f25d781/0001_<commit>_<time>.json
    NVIDIA-H100-80GB-HBM3-1-driver-580.65.06-CUDA-13.0-torch-2.14.1-standard-5a1c02e4/
        0001_<commit>_<time>.json
        0002_<commit>_<time>.json

so a checkout of it is a storage that `visionbench gate --storage FOLDER`,
`visionbench history` and `visionbench site` read as they are.

`push` appends runs without touching the working tree or the index: it fetches
the branch, writes the new files into a commit on top of its tip through a
temporary index (git's plumbing), and pushes. A push rejected because another
job pushed first is retried from a fresh fetch (the other job's runs kept, the
numbers taken again), up to `retries` times; nothing is ever force-pushed. A run
already on the branch (the same bytes in its folder) is not added twice. A run's
folder is the one whose newest run has the same fingerprint (`measure.machines`),
or a new one. `pull` copies the branch into a folder, replacing it whole.
"""

from __future__ import annotations

import io
import os
import random
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from visionbench.history.series import folder_name, machine_label
from visionbench.measure import results
from visionbench.measure.machines import machine_differences
from visionbench.measure.results import ResultsError, Run

DEFAULT_BRANCH = "benchmark-history"


class BranchError(Exception):
    """git failed, or the branch holds something it should not; the message says what."""


def git(repo: Path, *args: str, env: dict[str, str] | None = None, binary: bool = False):
    """Run git in `repo`; raise BranchError with git's own message when it fails."""
    done = subprocess.run(
        ["git", "-C", str(repo), *args],
        capture_output=True,
        text=not binary,
        env={**os.environ, "LC_ALL": "C", **(env or {})},
        check=False,
    )
    if done.returncode != 0:
        err = done.stderr if isinstance(done.stderr, str) else done.stderr.decode(errors="replace")
        raise BranchError(f"git {' '.join(args[:3])} failed in {repo}: {err.strip()}")
    return done.stdout


def fetch(repo: Path, remote: str, branch: str) -> str | None:
    """The tip of `branch` on `remote`, fetched into `refs/remotes/<remote>/<branch>`;
    None when the remote has no such branch yet."""
    if not git(repo, "ls-remote", "--heads", remote, f"refs/heads/{branch}").strip():
        return None
    tracking = f"refs/remotes/{remote}/{branch}"
    refspec = f"+refs/heads/{branch}:{tracking}"
    git(repo, "fetch", "--quiet", "--no-write-fetch-head", remote, refspec)
    return git(repo, "rev-parse", tracking).strip()


@dataclass(frozen=True)
class Entry:
    """A run file on the branch."""

    path: PurePosixPath
    blob: str


def entries(repo: Path, tip: str | None) -> list[Entry]:
    if tip is None:
        return []
    out = []
    for line in git(repo, "ls-tree", "-r", tip).splitlines():
        meta, _, path = line.partition("\t")
        out.append(Entry(PurePosixPath(path), meta.split()[2]))
    return out


def _number(path: PurePosixPath) -> int | None:
    m = results.RUN_FILE.match(path.name)
    return int(m.group(1)) if m else None


def _newest_run(repo: Path, files: Sequence[Entry], scratch: Path) -> Run | None:
    """The newest readable run of a folder on the branch (via `results.load`)."""
    for entry in sorted(files, key=lambda e: _number(e.path) or 0, reverse=True):
        copy = scratch / f"{entry.blob}.json"
        copy.write_bytes(git(repo, "cat-file", "blob", entry.blob, binary=True))
        try:
            return results.load(copy)
        except ResultsError:
            continue  # a damaged file: the one before it tells the fingerprint
    return None


@dataclass(frozen=True)
class Placed:
    """Where a run went on the branch (`added` False: it was there already)."""

    source: Path
    path: str
    added: bool


def _place(
    repo: Path, tip: str | None, runs: Sequence[Run], scratch: Path, env: dict[str, str]
) -> list[Placed]:
    """Stage each run into the temporary index (`env`): its fingerprint's folder, the
    next number there; a run whose bytes are in that folder already is left out."""
    existing = entries(repo, tip)
    folders: dict[str, list[Entry]] = {}
    for e in existing:
        if len(e.path.parts) == 2 and _number(e.path) is not None:
            folders.setdefault(e.path.parts[0], []).append(e)
    newest = {name: _newest_run(repo, files, scratch) for name, files in folders.items()}
    placed = []
    for run in runs:
        folder = next(
            (n for n, r in newest.items() if r is not None and not machine_differences(r, run)),
            None,
        )
        if folder is None:
            folder = folder_name(run)
            while folder in folders:  # the same words and key, another fingerprint
                folder += "-2"
            folders[folder], newest[folder] = [], run
        blob = git(repo, "hash-object", "-w", str(run.path)).strip()
        same = next((e for e in folders[folder] if e.blob == blob), None)
        if same is not None:
            placed.append(Placed(run.path, str(same.path), False))
            continue
        number = 1 + max((_number(e.path) or 0 for e in folders[folder]), default=0)
        match = results.RUN_FILE.match(run.path.name)
        name = f"{number:04d}_{match.group(2) if match else run.path.stem}.json"
        path = PurePosixPath(folder, name)
        git(repo, "update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", env=env)
        folders[folder].append(Entry(path, blob))
        placed.append(Placed(run.path, str(path), True))
    return placed


def _identity(repo: Path) -> dict[str, str]:
    """A committer for the branch's commits when git has none configured (CI)."""
    env = {}
    for key, var in (("user.name", "NAME"), ("user.email", "EMAIL")):
        configured = subprocess.run(
            ["git", "-C", str(repo), "config", key], capture_output=True, check=False
        ).returncode == 0  # fmt: skip
        if not configured:
            value = "visionbench" if var == "NAME" else "visionbench@localhost"
            env[f"GIT_AUTHOR_{var}"] = env[f"GIT_COMMITTER_{var}"] = value
    return env


def push(
    paths: Sequence[Path],
    repo: Path = Path("."),
    remote: str = "origin",
    branch: str = DEFAULT_BRANCH,
    retries: int = 5,
    say: Callable[[str], None] = print,
    before_push: Callable[[int], None] | None = None,
) -> list[Placed]:
    """Append run files to `branch` on `remote` (see the module docstring).

    `before_push(attempt)` runs just before each push (tests use it to push first
    from elsewhere). Raises ResultsError for an unreadable run (nothing pushed) and
    BranchError when git fails or every attempt was rejected."""
    runs = [results.load(p) for p in paths]  # all readable, or nothing is pushed
    if not runs:
        raise ResultsError("no run to append")
    for attempt in range(1, retries + 1):
        with tempfile.TemporaryDirectory(prefix="visionbench-history-") as tmp:
            scratch = Path(tmp)
            env = {"GIT_INDEX_FILE": str(scratch / "index"), **_identity(repo)}
            tip = fetch(repo, remote, branch)
            git(repo, "read-tree", *([tip] if tip else ["--empty"]), env=env)
            placed = _place(repo, tip, runs, scratch, env)
            if not any(p.added for p in placed):
                say(f"every run is on {remote}/{branch} already: nothing to push")
                return placed
            tree = git(repo, "write-tree", env=env).strip()
            labels = ", ".join(sorted({machine_label(r) for r in runs}))
            message = (
                f"visionbench: {sum(p.added for p in placed)} run(s) of "
                f"{', '.join(sorted({r.commit or '?' for r in runs}))} on {labels}"
            )
            parents = ["-p", tip] if tip else []
            commit = git(repo, "commit-tree", tree, *parents, "-m", message, env=env).strip()
            if before_push is not None:
                before_push(attempt)
            try:
                git(repo, "push", "--quiet", remote, f"{commit}:refs/heads/{branch}")
            except BranchError as exc:
                if attempt == retries:
                    raise BranchError(
                        f"could not push to {remote}/{branch} after {retries} attempts: {exc}"
                    ) from None
                wait = random.uniform(0.5, 1.5) * attempt
                say(f"push rejected (attempt {attempt}/{retries}); fetching again in {wait:.1f} s")
                time.sleep(wait)
                continue
            say(f"appended to {remote}/{branch} at {commit[:8]}")
            return placed
    raise AssertionError("unreachable")  # the loop returns or raises


def pull(
    into: Path,
    repo: Path = Path("."),
    remote: str = "origin",
    branch: str = DEFAULT_BRANCH,
) -> list[Path] | None:
    """Copy the branch's files into `into` (replaced whole, never half-written); the
    run files copied, or None when the remote has no such branch yet."""
    tip = fetch(repo, remote, branch)
    if tip is None:
        return None
    archive = git(repo, "archive", "--format=tar", tip, binary=True)
    into = Path(into)
    fresh = into.with_name(f".{into.name}.new-{os.getpid()}")
    shutil.rmtree(fresh, ignore_errors=True)
    copied = []
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in tar:
            rel = PurePosixPath(member.name)
            if not member.isfile() or rel.is_absolute() or ".." in rel.parts:
                continue
            target = fresh.joinpath(*rel.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(tar.extractfile(member).read())  # type: ignore[union-attr]
            if results.RUN_FILE.match(rel.name):
                copied.append(into.joinpath(*rel.parts))
    fresh.mkdir(parents=True, exist_ok=True)
    old = into.with_name(f".{into.name}.old-{os.getpid()}")
    if into.exists():
        os.replace(into, old)
    os.replace(fresh, into)
    shutil.rmtree(old, ignore_errors=True)
    return sorted(copied)


def matching_folder(storage: Path, run: Run) -> Path | None:
    """The folder of `storage` whose newest readable run has `run`'s fingerprint."""
    for folder in sorted(p for p in Path(storage).iterdir() if p.is_dir()):
        for path in reversed(results.run_files(folder)):
            try:
                newest = results.load(path)
            except ResultsError:
                continue
            if not machine_differences(newest, run):
                return folder
            break
    return None
