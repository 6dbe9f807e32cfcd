"""The history site in a real browser: Playwright driving the system's Chromium (never a
browser download) opens the site from disk, as a person would from file://.

Skipped, with the reason, where Playwright or Chromium is missing; `.ci/run` installs
Debian's `chromium`. VISIONBENCH_CHROMIUM names another Chromium or Chrome binary.

By default the site is built from a fixture history (two machines, a corrupt run);
VISIONBENCH_SITE_STORAGE=DIR builds it from real saved runs instead (after two
`nox -s bench` runs: `VISIONBENCH_SITE_STORAGE=.benchmarks python -m pytest
tests/test_history_browser.py`), and the same checks read every run's values back
from every technique's page."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from history_helpers import TECHNIQUES, saved_history

from visionbench.history import series as hseries
from visionbench.history import site
from visionbench.report import sections

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency")

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


def chromium() -> str | None:
    named = os.environ.get("VISIONBENCH_CHROMIUM")
    if named:
        return named
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if found := shutil.which(name):
            return found
    return None


pytestmark = pytest.mark.skipif(
    chromium() is None,
    reason="no Chromium installed (apt-get install chromium; .ci/run does), or set "
    "VISIONBENCH_CHROMIUM",
)

TRACES = """() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(gd =>
  gd.data.filter(t => t.meta && t.meta.kind === 'series').map(t => ({
    meta: t.meta, x: Array.from(t.x), y: Array.from(t.y), custom: t.customdata})))"""

FIRST_POINT = """gd => {
  const t = gd.data.find(t => t.meta && t.meta.kind === 'series');
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, box = gd.getBoundingClientRect();
  return {x: box.left + xa._offset + xa.d2p(t.x[0]), y: box.top + ya._offset + ya.d2p(t.y[0]),
          href: t.customdata[0][4], commit: t.customdata[0][0], rounds: t.customdata[0][3]};
}"""


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("history")
    storage = os.environ.get("VISIONBENCH_SITE_STORAGE")
    if storage is None:
        storage = root / "storage"
        saved_history(storage)
    history = hseries.read_history(Path(storage), lambda _: None)
    site.write_site(history, root / "site", say=lambda _: None)
    return root / "site", history


@pytest.fixture
def browser_page():
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
        yield page, errors
        browser.close()


def stored(bench, metric: str) -> float | None:
    """A benchmark's figure as saved in its run file (None: none to draw; a ratio of two
    medians timed in blocks is the site's own arithmetic, not checked here)."""
    if bench is None or bench.error:
        return None
    if metric == "time":
        value = bench.stats.get("median")
    elif metric == "ratio_vs_ref" and not bench.extra_info.get("paired_rounds"):
        return None
    else:
        value = bench.extra_info.get(metric)
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def test_the_site_opens_from_disk_and_draws_the_stored_values(built, browser_page, tmp_path):
    out, history = built
    page, errors = browser_page
    page.goto((out / "index.html").as_uri())
    listed = page.locator("a[href^='technique-']").all_inner_texts()
    assert sorted(listed) == sorted(history.techniques())
    read = {r.path for r in history.runs}
    skipped = [p for p in hseries.storage_files(history.storage) if p not in read]
    for path in skipped:  # named on the page
        assert str(path) in page.inner_text("body")
    if "VISIONBENCH_SITE_STORAGE" not in os.environ:  # the fixture history
        assert set(listed) == set(TECHNIQUES) and len(history.machines) == 2
        assert [p.name for p in skipped] == ["0005_broken.json"]

    for technique in history.techniques():
        page.goto((out / "index.html").as_uri())
        page.click(f"a[href='{site.technique_file(technique)}']")
        page.wait_for_function(
            "() => { const g = document.querySelectorAll('.js-plotly-plot');"
            " return g.length > 0 && Array.from(g).every(d => d.data && d._fullLayout); }"
        )
        figures = page.evaluate(TRACES)
        page.screenshot(path=str(tmp_path / f"{technique}.png"), full_page=True)
        assert (tmp_path / f"{technique}.png").stat().st_size > 10_000
        for traces in figures:
            section, metric = traces[0]["meta"]["section"], traces[0]["meta"]["metric"]
            drawn = [(t["meta"]["benchmark"], t["meta"]["machine"]) for t in traces]
            assert len(drawn) == len(set(drawn))  # one line per variant and machine
            want = set()
            for machine in history.machines:
                values: dict[str, list[float]] = {}
                for run in machine.runs:  # commit order
                    for bench in sections.by_section(run).get(section, []):
                        value = stored(bench, metric)
                        if value is not None:
                            values.setdefault(bench.fullname, []).append(value)
                want |= {(name, machine.key) for name in values}
                for t in traces:
                    if t["meta"]["machine"] == machine.key and t["meta"]["benchmark"] in values:
                        assert t["y"] == values[t["meta"]["benchmark"]], t["meta"]
                        assert all(c[3] > 0 for c in t["custom"])  # rounds, for the hover
            assert want <= set(drawn), (section, metric)
            if metric != "ratio_vs_ref":
                assert want == set(drawn), (section, metric)
    assert errors == []


def test_a_click_on_a_point_opens_that_runs_report(built, browser_page):
    out, history = built
    page, errors = browser_page
    page.goto((out / site.technique_file(history.techniques()[0])).as_uri())
    graph = page.locator(".js-plotly-plot").first
    graph.wait_for()
    graph.scroll_into_view_if_needed()
    point = graph.evaluate(FIRST_POINT)
    page.mouse.move(point["x"], point["y"])
    hover = page.locator(".hoverlayer .hovertext").first
    hover.wait_for()
    text = hover.text_content()  # commit, date, value, rounds (SVG: no inner_text)
    assert point["commit"] in text and f"{point['rounds']} rounds" in text
    assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", text)
    page.mouse.click(point["x"], point["y"])
    page.wait_for_url("**/runs/**/index.html")
    assert page.url.endswith(point["href"])
    assert page.locator("h1").first.inner_text().startswith("visionbench report")
    assert page.locator("img").count() > 0
    page.click("text=← the history site")
    assert Path(page.url.removeprefix("file://")).name == "index.html"
    assert errors == []
