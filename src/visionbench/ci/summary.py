"""A CI job's one summary: its verdict, a table of what was checked and decided, loud
notes (a new testbed, a gate that could not run), and each gate's own markdown folded
below. Written once, at the end of the job, to `summary.md` in the job's folder and to
the job summary (GITHUB_STEP_SUMMARY); a pull request's comment is the same file, found
again by `MARKER` so that a new push edits it rather than adding one more. Only the
standard library: a fork's pull request is named without installing anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from visionbench.ci.context import Context
from visionbench.core.exits import EXIT_PASS
from visionbench.core.files import write_text_atomic

MARKER = "<!-- visionbench:pr-summary -->"


def headline_of(text: str | None) -> str | None:
    """A gate's verdict: the first bold line of its markdown (`**gate passed: ...**`)."""
    found = re.search(r"^\*\*(.+)\*\*\s*$", text or "", re.MULTILINE)
    return found.group(1) if found else None


def read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


@dataclass
class Summary:
    title: str
    verdict: str = "not finished"
    rows: list[tuple[str, str]] = field(default_factory=list)  # (what, result)
    notes: list[str] = field(default_factory=list)  # said loudly, above the table
    parts: list[tuple[str, str]] = field(default_factory=list)  # (title, markdown), folded

    def row(self, what: str, result: str) -> None:
        self.rows.append((what, result))

    def note(self, text: str) -> None:
        self.notes.append(text)

    def part(self, title: str, path: Path) -> str | None:
        """Fold a gate's markdown in; its headline, None when it wrote none."""
        text = read(path)
        if text is not None:
            self.parts.append((title, text.strip()))
        return headline_of(text)

    def markdown(self) -> str:
        def cell(text: str) -> str:
            return text.replace("|", "\\|").replace("\n", " ")

        lines = [MARKER, f"## {self.title}", "", f"**{self.verdict}**", ""]
        lines += [f"> **{n}**\n" for n in self.notes]
        lines += ["| | |", "|---|---|", *(f"| {w} | {cell(r)} |" for w, r in self.rows), ""]
        for title, text in self.parts:
            lines += [f"<details><summary>{title}</summary>", "", text, "", "</details>", ""]
        return "\n".join(lines)


def annotate(level: str, message: str) -> None:
    """A warning or error on the job's page (GitHub reads `::warning::` from the log)."""
    print(f"::{level}::{message}", flush=True)


def publish(ctx: Context, out: Path, summary: Summary) -> Path:
    """The summary, once: summary.md, the job summary, and the step outputs."""
    path = out / "summary.md"
    text = summary.markdown()
    write_text_atomic(path, text)
    if ctx.step_summary is not None:
        with open(ctx.step_summary, "a", encoding="utf-8") as fh:
            fh.write(text + "\n")
    site = out / "site" / "index.html"
    ctx.output(summary=str(path), site=str(site.parent) if site.is_file() else "")
    print(text)
    return path


def fork_notice(ctx: Context, out: Path) -> int:
    """A fork's pull request: named, not run (its code would run on this runner)."""
    out.mkdir(parents=True, exist_ok=True)
    s = Summary("visionbench on this pull request")
    s.verdict = f"not benchmarked: a pull request from the fork {ctx.head_repository}"
    s.note(
        f"A self-hosted runner never runs a fork's code: it would run with the runner's "
        f"access to this machine and could rewrite the baselines it is gated against. A "
        f"maintainer who has read the change can push it to a branch of {ctx.repository} "
        "and open the pull request from there."
    )
    s.row("pull request", f"from {ctx.head_repository} ({ctx.head_ref}) into {ctx.base_ref}")
    annotate("warning", s.verdict)
    publish(ctx, out, s)
    return EXIT_PASS
