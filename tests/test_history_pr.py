"""`visionbench pr-summary`: the A/B verdicts, the run gate and the site's link in one
markdown, for the job summary and the pull request's comment."""

from __future__ import annotations

from visionbench import cli
from visionbench.history.pr import MARKER

AB = "## visionbench A/B gate\n\n**A/B gate passed: 3 unchanged, 1 inconclusive**\n\n| t |\n"
GATE = "## visionbench gate\n\n**gate FAILED: 1 regression, 7 unchanged**\n\n| g |\n"


def test_the_summary_holds_both_verdicts_and_the_sites_link(tmp_path, monkeypatch, capsys):
    (tmp_path / "ab.md").write_text(AB)
    (tmp_path / "gate.md").write_text(GATE)
    step_summary = tmp_path / "step-summary.md"
    step_summary.write_text("earlier steps\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))
    out = tmp_path / "pr.md"
    args = ["pr-summary", "--ab", str(tmp_path / "ab.md"), "--gate", str(tmp_path / "gate.md"),
            "--site-url", "https://example.invalid/artifacts/7", "--out", str(out)]  # fmt: skip
    assert cli.main(args) == 0
    text = out.read_text()
    assert text.splitlines()[0] == MARKER  # the comment is found again by it
    assert "| A/B gate (time, paired, on this runner) | A/B gate passed: 3 unchanged, " in text
    assert "gate FAILED: 1 regression, 7 unchanged |" in text
    assert "[the history site](https://example.invalid/artifacts/7)" in text
    assert "| t |" in text and "| g |" in text  # the full tables, folded
    assert step_summary.read_text() == "earlier steps\n" + text + "\n"
    table = capsys.readouterr().out
    assert "check" in table and "A/B gate passed" in table


def test_a_missing_part_says_it_did_not_run(tmp_path, monkeypatch):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    (tmp_path / "ab.md").write_text(AB)
    out = tmp_path / "pr.md"
    args = ["pr-summary", "--ab", str(tmp_path / "ab.md"), "--gate", str(tmp_path / "no.md"),
            "--out", str(out)]  # fmt: skip
    assert cli.main(args) == 0
    text = out.read_text()
    assert f"not run (no {tmp_path / 'no.md'})" in text
    assert "not published in this run" in text
