"""The pull request's summary: the A/B verdicts, the run gate's, and the history site.

`visionbench pr-summary` puts together what the gates wrote (`reports/ab.md` from
`visionbench ab`, `reports/gate.md` from `visionbench gate`) with the link to the
history site, as one markdown for the job summary and the pull request's comment.
The comment is found again by `MARKER`, so a new push edits it, not adds one more.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

MARKER = "<!-- visionbench:pr-summary -->"


@dataclass(frozen=True)
class Part:
    title: str
    path: Path
    text: str | None  # None: the file is not there (the step did not run)

    def headline(self) -> str:
        """The part's verdict: its first bold line (`**gate passed: ...**`)."""
        if self.text is None:
            return f"not run (no {self.path})"
        found = re.search(r"^\*\*(.+)\*\*\s*$", self.text, re.MULTILINE)
        return found.group(1) if found else "see below"


def read_part(title: str, path: Path) -> Part:
    try:
        return Part(title, path, path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Part(title, path, None)


def markdown(parts: list[Part], site_url: str | None) -> str:
    site = (
        f"[the history site]({site_url}) (download, unzip, open `index.html`)"
        if site_url
        else "not published in this run"
    )
    lines = [
        MARKER,
        "## visionbench on this pull request",
        "",
        "| check | result |",
        "|---|---|",
        *(f"| {p.title} | {p.headline()} |" for p in parts),
        f"| history of main | {site} |",
        "",
    ]
    for p in parts:
        if p.text is not None:
            lines += [f"<details><summary>{p.title}</summary>", "", p.text.strip(), "",
                      "</details>", ""]  # fmt: skip
    return "\n".join(lines)
