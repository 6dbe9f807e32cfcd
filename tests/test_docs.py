"""The docs build strictly (`mkdocs build --strict`, as a reader's build would): a broken
link or anchor, a page left out of the nav, or a placeholder that names nothing in the
code fails here. The README stays a front door, and CI runs the command it gives."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from helpers import DOCS, ROOT, load_docs_facts
from mkdocs.exceptions import PluginError

README_MAX_LINES = 250  # the front door: what it answers, how to run it, where to read on


def build(root: Path, site: Path) -> subprocess.CompletedProcess:
    """`mkdocs build --strict` of the docs at `root` into `site`."""
    cmd = [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
           str(root / "mkdocs.yml"), "--site-dir", str(site)]  # fmt: skip
    return subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=300)


def test_the_docs_build_strictly_with_the_codes_values(tmp_path):
    proc = build(ROOT, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    facts = load_docs_facts().sources()
    home = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert "The two commands" in home  # the README is the home page
    assert 'href="measuring.html"' in home  # with its docs/ links made the site's
    gates = (tmp_path / "gates.html").read_text(encoding="utf-8")
    ab_time = f"{facts['gate']['tolerance']['ab_time'] * 100:g}%"
    assert f"<code>tolerance.ab_time</code></td>\n<td>{ab_time}</td>" in gates
    for page in tmp_path.glob("*.html"):
        text = page.read_text(encoding="utf-8")
        left = [m for m in re.findall(r"\{\{[^}]*\}\}", text) if "gate.tolerance.time" not in m]
        assert left == [], f"{page.name}: placeholders left unfilled: {left}"


def test_a_broken_link_a_missing_anchor_and_a_page_outside_the_nav_fail(tmp_path):
    """The check itself: a copy of the docs with each fault fails the strict build,
    naming each."""
    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copytree(DOCS, copy / "docs")
    for name in ("mkdocs.yml", "README.md"):
        shutil.copy(ROOT / name, copy / name)
    profiles = copy / "docs" / "profiles.md"
    profiles.write_text(
        profiles.read_text(encoding="utf-8")
        + "\nSee [the gone page](gone.md) and [no such part](gates.md#no-such-part).\n",
        encoding="utf-8",
    )
    (copy / "docs" / "orphan.md").write_text("# Not in the nav\n", encoding="utf-8")
    proc = build(copy, tmp_path / "site")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert "gone.md" in out
    assert "no-such-part" in out
    assert "orphan.md" in out


def fill(markdown: str) -> str:
    facts = load_docs_facts()
    return facts.fill(markdown, facts.sources)


def test_a_placeholder_is_the_codes_value_in_its_format():
    facts = load_docs_facts().sources()
    tolerance = facts["gate"]["tolerance"]
    assert fill("{{ pct gate.tolerance.time }}") == f"{tolerance['time'] * 100:g}%"
    assert fill("{{ pt gate.tolerance.accuracy }}") == f"{tolerance['accuracy'] * 100:g} pt"
    assert fill("{{ ab.MAX_BLOCKS }} blocks") == f"{facts['ab'].MAX_BLOCKS} blocks"
    sizes = facts["profiles"]["quick"].resolution.sizes
    assert fill("{{ range profiles.quick.resolution.sizes }}") == f"{min(sizes)}–{max(sizes)}"
    assert fill("{{ path modules.runner }}") == "src/visionbench/measure/runner.py"
    assert (ROOT / fill("{{ path modules.gate_config }}")).is_file()
    # Left as they are: GitHub Actions' expressions, and a placeholder written as text.
    assert fill("${{ github.ref }}") == "${{ github.ref }}"
    assert fill(r"`\{{ pct gate.tolerance.time }}`") == "`{{ pct gate.tolerance.time }}`"


@pytest.mark.parametrize(
    ("placeholder", "error"),
    [
        ("{{ gate.tolerance.tiem }}", "gate.tolerance has no key 'tiem'"),
        ("{{ gaet.alpha }}", "no source 'gaet'"),
        ("{{ ab.NO_SUCH }}", "ab has no attribute 'NO_SUCH'"),
        ("{{ percent gate.alpha }}", "unknown format 'percent'"),
    ],
)
def test_a_placeholder_that_names_nothing_fails_the_page(placeholder, error):
    facts = load_docs_facts()
    page = SimpleNamespace(file=SimpleNamespace(src_uri="gates.md"))
    with pytest.raises(PluginError, match=re.escape(error)) as caught:
        facts.on_page_markdown(f"The tolerance: {placeholder}.", page=page)
    assert "gates.md" in str(caught.value)


def test_the_readme_is_a_front_door_without_placeholders():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md: {len(lines)} lines"
    assert not [line for line in lines if "{{" in line], "GitHub shows the README unfilled"


def test_ci_runs_the_readmes_test_command():
    """`.ci/run`'s last nox call (its nox by a path of its own) runs exactly the test
    command the README gives a user."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    (given,) = re.findall(r"^nox (-s \S+)\s+# run the test suite", readme, re.MULTILINE)
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    calls = re.findall(r'^[^#\n]*\bnox"? (-s .*)$', script, re.MULTILINE)
    assert calls, ".ci/run runs no nox session"
    assert calls[-1].strip() == given
