"""The history site in a real browser: Playwright driving the system's Chromium (never a
browser download) opens the site from disk, as a person would from file://.

Skipped, with the reason, where Playwright or Chromium is missing; `.ci/run` installs
Debian's `chromium`. VISIONBENCH_CHROMIUM names another Chromium or Chrome binary."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from history_helpers import TECHNIQUES, saved_history

from visionbench.history import series as hseries
from visionbench.history import site

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
          href: t.customdata[0][4]};
}"""


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("history")
    saved_history(root / "storage")
    history = hseries.read_history(root / "storage", lambda _: None)
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


def stored(history, key: str, fullname: str, metric: str) -> list[float]:
    """The values saved in the run files of one machine, in commit order."""
    machine = next(m for m in history.machines if m.key == key)
    values = []
    for run in machine.runs:
        bench = run.benchmarks[fullname]
        if metric == "time":
            values.append(bench.stats["median"])
        elif metric in bench.extra_info:
            values.append(bench.extra_info[metric])
    return values


def test_the_site_opens_from_disk_and_draws_the_stored_values(built, browser_page, tmp_path):
    out, history = built
    page, errors = browser_page
    page.goto((out / "index.html").as_uri())
    listed = page.locator("a[href^='technique-']").all_inner_texts()
    assert set(listed) == set(TECHNIQUES)
    assert "0005_broken.json" in page.inner_text("body")  # the skipped file is named

    page.click("a[href='technique-grad_zeroing.html']")
    page.wait_for_function(
        "() => { const g = document.querySelectorAll('.js-plotly-plot');"
        " return g.length === 4 && Array.from(g).every(d => d.data && d._fullLayout); }"
    )
    figures = page.evaluate(TRACES)
    page.screenshot(path=str(tmp_path / "grad_zeroing.png"), full_page=True)
    assert (tmp_path / "grad_zeroing.png").stat().st_size > 10_000
    machines = {m.key for m in history.machines}
    variants = set(TECHNIQUES["grad_zeroing"][1])
    for traces in figures:
        metric = traces[0]["meta"]["metric"]
        drawn = {(t["meta"]["variant"], t["meta"]["machine"]) for t in traces}
        want = variants - ({"set_to_none"} if metric == "ratio_vs_ref" else set())
        assert sorted(drawn) == sorted((v, m) for v in want for m in machines)  # one each
        assert len(traces) == len(drawn)
        for t in traces:
            meta = t["meta"]
            assert t["y"] == stored(history, meta["machine"], meta["benchmark"], metric)
            assert all(c[3] > 0 for c in t["custom"])  # rounds, for the hover
    assert errors == []


def test_a_click_on_a_point_opens_that_runs_report(built, browser_page):
    out, _ = built
    page, errors = browser_page
    page.goto((out / site.technique_file("model_size")).as_uri())
    graph = page.locator(".js-plotly-plot").first
    graph.wait_for()
    graph.scroll_into_view_if_needed()
    point = graph.evaluate(FIRST_POINT)
    page.mouse.move(point["x"], point["y"])
    page.mouse.click(point["x"], point["y"])
    page.wait_for_url("**/runs/**/index.html")
    assert page.url.endswith(point["href"])
    assert page.locator("h1").first.inner_text().startswith("visionbench report")
    assert page.locator("img").count() > 0
    page.click("text=← the history site")
    assert Path(page.url.removeprefix("file://")).name == "index.html"
    assert errors == []
