"""Every string a run file carries is untrusted (a machine's name, a user's folder or
model, a branch): given markup that would act, the history site and every run's report
page show it as text. A real saved run (tests/data) has markup appended to every string
of its JSON, and to its file and folder names; the site is built from two such runs and
every page is opened in Chromium (as test_history_browser.py does), every figure's first
point hovered: no script runs, no handler fires, no dialog opens."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_history_browser import ARGS, FIRST_POINT, chromium

from visionbench.history import series, site

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency")
pytestmark = pytest.mark.skipif(chromium() is None, reason="no Chromium installed")

ROOT = Path(__file__).resolve().parents[1]
SAVED = ROOT / "tests" / "data" / "0001_c167359.json"
ACT = "window.__pwned=(window.__pwned||0)+1"
#: Markup that runs script where it is taken as HTML, in an attribute, in a link or in
#: plotly's text; and a name's (no slash in a file name).
MARKUP = (
    f'"\'><img src=x onerror="{ACT}"><script>{ACT}</script>'
    f'<svg onload="{ACT}"></svg>[link](javascript:{ACT})'
)
NAME_MARKUP = f"\"'><img src=x onerror={ACT}>"


def tainted(value):
    """Every string of a JSON value with MARKUP appended (keys kept: they are the schema)."""
    if isinstance(value, str):
        return value + MARKUP
    if isinstance(value, list):
        return [tainted(v) for v in value]
    if isinstance(value, dict):
        return {k: tainted(v) for k, v in value.items()}
    return value


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("untrusted")
    folder = root / "storage" / f"Linux{NAME_MARKUP}"
    folder.mkdir(parents=True)
    data = tainted(json.loads(SAVED.read_text()))
    for number in (1, 2):
        (folder / f"{number:04d}_{NAME_MARKUP}{number}.json").write_text(json.dumps(data))
    history = series.read_history(root / "storage", lambda _: None)
    assert len(history.runs) == 2 and not history.skipped  # read, so drawn: not refused
    site.write_site(history, root / "site", say=lambda _: None)
    return root / "site"


def test_no_page_of_the_site_runs_what_a_run_file_carries(built):
    pages = sorted(built.rglob("*.html"))
    assert any(p.parent == built and p.name.startswith("technique-") for p in pages)
    assert sum("runs" in p.parts for p in pages) == 2  # both runs' report pages
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        shown = 0
        for path in pages:
            page.goto(path.as_uri())
            page.wait_for_load_state("load")
            for graph in page.locator(".js-plotly-plot").all():
                graph.wait_for()
                graph.scroll_into_view_if_needed()
                point = graph.evaluate(FIRST_POINT)
                page.mouse.move(point["x"], point["y"])  # plotly's hover text drawn
                page.wait_for_timeout(200)
            page.wait_for_timeout(300)  # an image's onerror fires after load
            acted = page.evaluate("() => window.__pwned || 0")
            assert acted == 0, f"{path.relative_to(built)}: the markup of a run ran"
            body = page.inner_text("body")
            shown += "onerror=" in body or "<script>" in body
        browser.close()
    assert dialogs == []
    assert shown >= 3  # the markup is on the pages, as text
