"""`visionbench site`: the history read by fingerprint and commit date, the pages it
writes, and bad input (no storage, an empty one, a corrupt run among good ones)."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
from gate_helpers import MACHINE
from helpers import load_noxfile
from history_helpers import OTHER_FOLDER, TECHNIQUES, saved_history, write

from visionbench import cli
from visionbench.history import series as hseries
from visionbench.history import site
from visionbench.measure import results
from visionbench.report import summary


@pytest.fixture
def storage(tmp_path):
    root = tmp_path / "storage"
    saved_history(root)
    return root


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The fixture history's site, built once for the tests that only read it."""
    root = tmp_path_factory.mktemp("built")
    saved_history(root / "storage")
    history = hseries.read_history(root / "storage", lambda _: None)
    written = site.write_site(history, root / "site", say=lambda _: None)
    return history, root / "site", written


def plotly_data(page: str) -> list[dict]:
    """The traces of every figure of a page, as plotly.js is handed them."""
    calls = re.findall(r'Plotly\.newPlot\(\s*"[^"]+",\s*(\[.*?\]),\s*\{', page, re.DOTALL)
    return [trace for call in calls for trace in json.loads(call)]


def test_runs_are_kept_apart_by_fingerprint_and_ordered_by_commit_date(storage):
    messages = []
    history = hseries.read_history(storage, messages.append)
    assert len(history.machines) == 2
    ours, other = history.machines
    assert [r.path.name for r in ours.runs] == [
        "0001_first.json", "0002_second.json", "0004_third.json", "0003_fourth.json"
    ]  # fmt: skip
    assert [r.path.parent.name for r in other.runs] == [OTHER_FOLDER] * 2
    assert ours.label != other.label and "Other CPU" in other.label
    # the truncated file is named and skipped; the rest is read
    (skipped,) = history.skipped
    assert "0005_broken.json" in str(skipped)
    assert any("0005_broken.json" in m and "skipped" in m for m in messages)
    # a series never mixes machines
    for s in hseries.all_series(history):
        assert {hseries.machine_key(p.run) for p in s.points} == {s.machine.key}


def test_series_hold_each_runs_stored_values(storage):
    history = hseries.read_history(storage, lambda _: None)
    ours = history.machines[0]
    by_key = {(s.machine.key, s.fullname, s.metric): s for s in hseries.all_series(history)}
    name = "benches/bench_grad_zeroing.py::bench_step[zero]"
    for metric, read in (
        ("time", lambda b: b.stats["median"]),
        ("peak_mem_bytes", lambda b: b.extra_info["peak_mem_bytes"]),
        ("accuracy", lambda b: b.extra_info["accuracy"]),
        ("ratio_vs_ref", lambda b: b.extra_info["ratio_vs_ref"]),
    ):
        got = by_key[(ours.key, name, metric)]
        assert [p.value for p in got.points] == [read(r.benchmarks[name]) for r in ours.runs]
    ratio = by_key[(ours.key, name, "ratio_vs_ref")].points[0]
    stored = ours.runs[0].benchmarks[name].extra_info
    assert (ratio.low, ratio.high) == (stored["ratio_ci_low"], stored["ratio_ci_high"])
    # the reference has no ratio to itself
    ref = "benches/bench_grad_zeroing.py::bench_step[set_to_none]"
    assert (ours.key, ref, "ratio_vs_ref") not in by_key


def test_the_site_has_an_index_a_page_per_technique_and_every_runs_report(built):
    history, out, written = built
    assert {w.path.name for w in written} >= {
        "index.html", "plotly.min.js", *(site.technique_file(t) for t in TECHNIQUES)
    }  # fmt: skip
    index = (out / "index.html").read_text()
    for technique in TECHNIQUES:
        assert f'href="{site.technique_file(technique)}"' in index
    assert "0005_broken.json" in index  # named on the page too
    for machine in history.machines:  # the summary's verdicts of each machine's newest run
        for row in summary.technique_rows(machine.runs[-1]):
            assert html.escape(row.verdict()) in index
    # every page loads plotly.js from beside it: nothing from the network
    pages = [out / "index.html", *(out / site.technique_file(t) for t in TECHNIQUES)]
    for page in pages:
        text = page.read_text()
        assert not re.search(r"<script[^>]+src=\"https?:", text), page
    assert len(list(out.rglob("plotly*.js"))) == 1
    # every point links to its run's report, which exists
    page = (out / site.technique_file("grad_zeroing")).read_text()
    traces = [t for t in plotly_data(page) if t["meta"]["kind"] == "series"]
    links = {point[4] for t in traces for point in t["customdata"]}
    assert len(links) == 6  # 4 runs of ours, 2 of the other machine
    for href in links:
        report_page = out / href
        assert report_page.is_file()
        text = report_page.read_text()
        assert "visionbench report" in text and '<img src="' in text
        for img in re.findall(r'<img src="([^"]+)"', text):
            assert (report_page.parent / html.unescape(img)).is_file()


def test_one_trace_per_variant_and_machine_with_the_paired_band(built):
    _, out, _ = built
    traces = plotly_data((out / site.technique_file("model_size")).read_text())
    lines = [t for t in traces if t["meta"]["kind"] == "series"]
    bands = [t for t in traces if t["meta"]["kind"] == "band"]
    # 4 figures (time, memory, accuracy: both variants; ratio: resnet18 only), 2 machines
    assert len(lines) == 2 * (3 * 2 + 1)
    assert {(t["meta"]["variant"], t["meta"]["metric"]) for t in bands} == {
        ("resnet18", "ratio_vs_ref")
    }
    assert len(bands) == 2  # one per machine
    for t in lines:
        assert t["name"].startswith(t["meta"]["variant"] + " · ")  # machines named: 2 here


def test_the_cli_writes_the_site_and_ends_with_a_table(storage, tmp_path, capsys):
    out = tmp_path / "site"
    assert cli.main(["site", "--storage", str(storage), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "0005_broken.json" in captured.err  # named, skipped
    assert "technique page 2/2" in captured.err  # progress
    table = captured.out
    for header in ("wrote", "what", "size"):
        assert header in table
    assert str(out / "index.html") in table
    # a second build keeps the run reports of unchanged runs (a stamp per report)
    stamp = next(out.glob("runs/*/*/.stamp"))
    before = (stamp.parent / "index.html").stat().st_mtime_ns
    assert cli.main(["site", "--storage", str(storage), "--out", str(out)]) == 0
    assert (stamp.parent / "index.html").stat().st_mtime_ns == before


def test_reports_can_be_limited_to_the_newest_runs(storage, tmp_path):
    out = tmp_path / "site"
    assert cli.main(["site", "--storage", str(storage), "--out", str(out), "--reports", "1"]) == 0
    assert len(list(out.glob("runs/*/*/index.html"))) == 2  # one per machine


@pytest.mark.parametrize("case", ["missing", "empty", "only-corrupt"])
def test_no_readable_run_is_bad_input(tmp_path, capsys, case):
    root = tmp_path / "storage"
    if case != "missing":
        (root / MACHINE).mkdir(parents=True)
    if case == "only-corrupt":
        write(root, MACHINE, 1, "bad", "{ not json")
    out = tmp_path / "site"
    assert cli.main(["site", "--storage", str(root), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert str(root) in err
    assert {"missing": "does not exist", "empty": "no saved runs", "only-corrupt": "unreadable"}[
        case
    ] in err
    assert not (out / "index.html").exists()


def test_a_storage_of_one_folder_is_read_as_well(storage, tmp_path):
    """--storage may name a machine folder itself, or the history branch's checkout."""
    history = hseries.read_history(storage / OTHER_FOLDER, lambda _: None)
    assert [len(m.runs) for m in history.machines] == [2]


def test_stored_runs_are_left_as_they_were(storage, tmp_path):
    from gate_helpers import snapshot

    before = snapshot(storage)
    assert cli.main(["site", "--storage", str(storage), "--out", str(tmp_path / "s")]) == 0
    assert snapshot(storage) == before
    assert results.run_files(storage / MACHINE)  # still there


def test_nox_site_runs_the_shared_virtualenvs_visionbench(monkeypatch):
    noxfile = load_noxfile()
    monkeypatch.setattr(noxfile, "shared_env", lambda session: {})

    class Session:
        def __init__(self) -> None:
            self.posargs = ["--out", "elsewhere"]
            self.commands: list = []

        def run(self, *args, **kwargs):
            self.commands.append(args)

    session = Session()
    noxfile.site.func(session)
    ((program, *args),) = session.commands
    assert Path(program) == noxfile.BIN / "visionbench"
    assert args == ["site", "--out", "elsewhere"]
