"""What a CI job is: the event, the tested commit, the branches, the repository and
where to write, read from what GitHub Actions sets, each overridable by an option so
that GitLab, Buildkite or a shell calls the same command.

    option             GitHub Actions                         e.g. GitLab CI
    --event            GITHUB_EVENT_NAME                      push or pull_request
    --sha              the event's pull_request.head.sha,     CI_COMMIT_SHA
                       else GITHUB_SHA
    --ref              GITHUB_REF (refs/heads/main)           refs/heads/$CI_COMMIT_BRANCH
    --base-ref         GITHUB_BASE_REF                        CI_MERGE_REQUEST_TARGET_BRANCH_NAME
    --head-ref         GITHUB_HEAD_REF                        CI_MERGE_REQUEST_SOURCE_BRANCH_NAME
    --repository       GITHUB_REPOSITORY (owner/name)         CI_PROJECT_PATH
    --head-repository  the event's pull_request.head.repo     CI_MERGE_REQUEST_SOURCE_PROJECT_PATH
    --main-branch      the event's repository.default_branch  CI_DEFAULT_BRANCH (else main)
    --step-summary     GITHUB_STEP_SUMMARY                    (the summary.md in --out)
    --outputs          GITHUB_OUTPUT

The event's JSON is GITHUB_EVENT_PATH (`--event-path`). Nothing here imports more than
the standard library: a fork's pull request is named without installing anything.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Events: what `ci pr` and `ci main` accept.
PULL_REQUEST, PUSH = "pull_request", "push"


class CiError(Exception):
    """The job cannot be done as asked (bad input, a runner not ready): exit 2."""


@dataclass(frozen=True)
class Context:
    event: str
    sha: str | None  # the tested commit (a pull request's head, not GitHub's merge commit)
    ref: str | None
    base_ref: str | None
    head_ref: str | None
    repository: str | None
    head_repository: str | None
    main_branch: str
    step_summary: Path | None
    outputs: Path | None
    run_url: str | None  # the job's page, where its artifacts are listed

    @property
    def fork(self) -> bool:
        """A pull request from another repository: its code never runs on this runner."""
        return bool(
            self.event == PULL_REQUEST
            and self.head_repository
            and self.repository
            and self.head_repository.lower() != self.repository.lower()
        )

    @property
    def on_main(self) -> bool:
        return self.event == PUSH and self.ref == f"refs/heads/{self.main_branch}"

    def output(self, **values: str) -> None:
        """Step outputs (GITHUB_OUTPUT), when the job has them."""
        if self.outputs is None:
            return
        with open(self.outputs, "a", encoding="utf-8") as fh:
            for key, value in values.items():
                fh.write(f"{key}={value}\n")


def _event(path: str | None) -> dict[str, Any]:
    if not path:
        return {}
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CiError(f"cannot read the event {path} (GITHUB_EVENT_PATH): {exc}") from None
    return data if isinstance(data, dict) else {}


def _dig(data: Mapping[str, Any], *keys: str) -> str | None:
    value: Any = data
    for key in keys:
        value = value.get(key) if isinstance(value, Mapping) else None
    return str(value) if value not in (None, "") else None


def from_environment(options: Any, env: Mapping[str, str] = os.environ) -> Context:
    """The job's context: each option given wins over the environment."""

    def pick(option: str, *names: str) -> str | None:
        given = getattr(options, option, None)
        if given not in (None, ""):
            return str(given)
        return next((env[n] for n in names if env.get(n)), None)

    event = _event(pick("event_path", "GITHUB_EVENT_PATH"))
    name = pick("event", "GITHUB_EVENT_NAME")
    if not name:
        raise CiError("which event is this job for? give --event (push or pull_request)")
    pr_head = _dig(event, "pull_request", "head", "sha") if name == PULL_REQUEST else None
    server, repo, run_id = (
        env.get(k) for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")
    )
    summary, outputs = pick("step_summary", "GITHUB_STEP_SUMMARY"), pick("outputs", "GITHUB_OUTPUT")
    return Context(
        event=name,
        sha=getattr(options, "sha", None) or pr_head or env.get("GITHUB_SHA") or None,
        ref=pick("ref", "GITHUB_REF"),
        base_ref=pick("base_ref", "GITHUB_BASE_REF"),
        head_ref=pick("head_ref", "GITHUB_HEAD_REF"),
        repository=pick("repository", "GITHUB_REPOSITORY"),
        head_repository=getattr(options, "head_repository", None)
        or _dig(event, "pull_request", "head", "repo", "full_name"),
        main_branch=getattr(options, "main_branch", None)
        or _dig(event, "repository", "default_branch")
        or "main",
        step_summary=Path(summary) if summary else None,
        outputs=Path(outputs) if outputs else None,
        run_url=f"{server}/{repo}/actions/runs/{run_id}" if server and repo and run_id else None,
    )
