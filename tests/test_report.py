"""`visionbench report` and `history`: markdown, PNG plots, one table row per run."""

from __future__ import annotations

import pytest
from gate_helpers import MACHINE, bench, run_data, save, steady

from visionbench import cli, report
from visionbench.measure import format, results
from visionbench.report import sections

MIB = 1 << 20


def run_benches(k: int) -> list[dict]:
    size = [
        bench(name, steady(ms * (1 + 0.02 * k), seed=k), technique="model_size", reference="small",
              peak_mem_bytes=mem * MIB, accuracy=acc, accuracy_std=0.01, seeds=3)
        for name, ms, mem, acc in [("small", 5, 20, 0.91), ("resnet18", 40, 180, 0.97)]
    ]  # fmt: skip
    res = [
        bench(f"px{px}", steady(px / 2, seed=k), technique="resolution", variant=str(px),
              reference="32", peak_mem_bytes=px * MIB)
        for px in (16, 24, 32)
    ]  # fmt: skip
    failed = bench("oom", [1.0], technique="resolution", variant="64", reference="32")
    failed["extra_info"]["error"] = "out of memory"
    return [*size, *res, failed]


@pytest.fixture
def storage(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root = tmp_path / ".benchmarks"
    for k in range(1, 5):
        when = f"2026-01-0{k}T12:00:00+00:00"
        save(root, k, f"c{k}", run_data(run_benches(k), commit=f"{k}abcdef0123", when=when))
    return root


def test_report_writes_markdown_and_plots(storage, tmp_path, capsys):
    assert cli.main(["report", "--storage", str(storage)]) == 0
    out_dir = tmp_path / "reports" / "0004_c4"
    md = (out_dir / "report.md").read_text()
    assert "## model_size" in md and "## resolution" in md
    assert "rounds" in md and "IQR" in md  # figures come with their spread and count
    assert "1.00×" in md and "(ref)" in md  # relative to the reference variant
    assert "failed: out of memory" in md
    pngs = sorted(p.name for p in out_dir.glob("*.png"))
    assert pngs == ["model_size.png", "model_size_trend.png", "pareto_model_size_train_step.png",
                    "resolution.png", "resolution_trend.png"]  # fmt: skip
    for name in pngs:
        assert (out_dir / name).stat().st_size > 5000
        assert f"]({name})" in md
    assert "reports/0004_c4/report.md" in capsys.readouterr().out


def test_report_of_a_named_run_into_another_folder(storage, tmp_path):
    assert cli.main(["report", "0002", "--storage", str(storage), "--out", "elsewhere"]) == 0
    assert (tmp_path / "elsewhere" / "0002_c2" / "report.md").is_file()


def test_an_interrupted_report_leaves_the_last_one_whole(storage, tmp_path, monkeypatch):
    out = tmp_path / "reports" / "0004_c4" / "report.md"
    assert cli.main(["report", "--storage", str(storage)]) == 0
    out.write_text("the last report, whole")
    before = out.read_text()

    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr("visionbench.core.files.os.replace", interrupted)
    assert cli.main(["report", "--storage", str(storage)]) == 130  # Ctrl-C's exit code
    assert out.read_text() == before


def test_history_table_has_one_row_per_benchmark_and_a_column_per_run(storage):
    runs = list(results.load_history(storage / MACHINE))
    headers, rows = report.history_table(runs, "time", "resnet")
    assert headers[0] == "benchmark" and headers[-1] == "change"
    assert [h.split("\n")[0] for h in headers[1:-1]] == ["0001_c1", "0002_c2", "0003_c3",
                                                         "0004_c4"]  # fmt: skip
    assert [h.split("\n")[2] for h in headers[1:-1]] == ["1abcdef0", "2abcdef0", "3abcdef0",
                                                         "4abcdef0"]  # fmt: skip
    assert len(rows) == 1 and "resnet18" in rows[0][0]
    assert all(cell.endswith("ms") for cell in rows[0][1:-1])
    assert rows[0][-1] == "+2%"  # run k is 1 + 0.02k slower: 1.08 / 1.06


def test_history_shows_the_newest_runs_only(storage):
    runs = list(results.load_history(storage / MACHINE))
    headers, rows = report.history_table(runs, "accuracy", last=2)
    assert [h.split("\n")[0] for h in headers[1:-1]] == ["0003_c3", "0004_c4"]
    assert len(rows) == 6  # every benchmark of the runs, failed one included
    assert {r[-1] for r in rows if r[1] != "-" and r[1] != "failed"} == {"+0.0 pt"}


def test_history_of_many_benchmarks_stays_narrow(tmp_path, monkeypatch):
    """80 benchmarks must give 80 short lines, not one line of 16,000 characters."""
    monkeypatch.chdir(tmp_path)
    many = [bench(f"b{i:02d}", steady(5), technique="model_size", reference="b00")
            for i in range(80)]  # fmt: skip
    root = tmp_path / ".benchmarks"
    save(root, 1, "one", run_data(many))
    runs = list(results.load_history(root / MACHINE))
    headers, rows = report.history_table(runs)
    assert len(rows) == 80
    from tabulate import tabulate

    assert max(map(len, tabulate(rows, headers=headers).splitlines())) < 120


def test_history_cli(storage, capsys):
    assert cli.main(["history", "--storage", str(storage), "--metric", "peak_mem_bytes",
                     "-k", "*px*"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert all(f"000{k}_c{k}" in out for k in (1, 2, 3, 4))  # 4 runs, fewer than 5
    lines = [ln for ln in out.splitlines() if "px" in ln]
    assert len(lines) == 3 and "16 MiB" in lines[0] and "failed" not in out
    assert cli.main(["history", "--storage", str(storage), "-n", "2"]) == 0
    out = capsys.readouterr().out
    assert "0002_c2" not in out and "0003_c3" in out and "0004_c4" in out
    assert cli.main(["history", "--storage", str(storage), "-n", "0"]) == 2
    assert "--last must be at least 1" in capsys.readouterr().err
    assert cli.main(["history", "--storage", str(storage), "-k", "oom"]) == 0
    assert "failed" in capsys.readouterr().out


def test_history_bad_input(storage, capsys):
    assert cli.main(["history", "--storage", str(storage), "--metric", "speed"]) == 2
    assert "speed" in capsys.readouterr().err
    assert cli.main(["history", "--storage", str(storage), "-k", "nothing-like-this"]) == 2


def test_report_skips_unreadable_history_with_a_warning(storage, tmp_path, capsys):
    (storage / MACHINE / "0003_c3.json").write_text("{")
    assert cli.main(["report", "--storage", str(storage)]) == 0
    assert "0003_c3.json" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("value", "text"),
    [(1010 * 1024, "1010 KiB"), (1.5 * MIB, "1.5 MiB"), (512, "512 B"), (3 << 30, "3 GiB")],
)
def test_bytes_read_without_exponents(value, text):
    assert format.fmt_bytes(value) == text


@pytest.mark.parametrize(("value", "text"), [(1234.0, "1234 s"), (0.0123, "12.3 ms")])
def test_seconds_read_without_exponents(value, text):
    assert format.fmt_seconds(value) == text


def report_of_one_bench(storage, out, **extra_info) -> str:
    """report.md of a saved run holding one model-size bench with these figures."""
    one = bench("small", steady(5, seed=1), technique="model_size", reference="small", **extra_info)
    save(storage, 5, "one", run_data([one]))
    assert cli.main(["report", "one", "--storage", str(storage), "--out", str(out)]) == 0
    return next(out.rglob("report.md")).read_text()


def test_a_single_seed_shows_no_spread(storage, tmp_path):
    text = report_of_one_bench(storage, tmp_path / "r", accuracy=0.91, accuracy_std=0.0, seeds=1)
    assert "91.0%" in text and "± 0.0 pt" not in text


@pytest.mark.parametrize(("ratio", "text"), [(1.0, "1.00×"), (0.37, "0.37×"), (0.0048, "0.0048×")])
def test_ratios_far_below_the_reference_keep_their_digits(ratio, text):
    assert format.fmt_ratio(ratio) == text


@pytest.mark.parametrize(
    ("accuracy", "classes", "images", "chance"),
    [
        (0.20, 5, 20, True),  # guessing among 5
        (0.35, 5, 20, True),  # within the 95% binomial interval of 20% on 20 images
        (0.35, 5, 1000, False),  # not on 1,000
        (0.96, 10, 1000, False),
        (0.20, None, 20, False),  # unknown classes: no claim
    ],
)
def test_accuracy_at_chance_is_marked(accuracy, classes, images, chance):
    info = {"accuracy": accuracy, "classes": classes, "eval_images": images}
    assert sections.at_chance(info) is chance


def test_the_report_marks_a_chance_level_accuracy(storage, tmp_path):
    text = report_of_one_bench(storage, tmp_path / "r", accuracy=0.2, classes=5, eval_images=20)
    assert "20.0% (chance)" in text
