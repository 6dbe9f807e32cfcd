"""Trade-offs as a Pareto front: no "best variant" of a sweep, the front and who
dominates whom; and the report's pictures of them (the front, the curves, the
augmentation grid, accuracy on an axis where differences show)."""

from __future__ import annotations

import itertools

import matplotlib.image
import numpy as np
from gate_helpers import as_run, bench, run_data, steady
from hypothesis import given
from hypothesis import strategies as st

from visionbench import report
from visionbench.data.augment import AugmentSpec, examples
from visionbench.report import plots, sections, summary, tradeoffs
from visionbench.report.pareto import Point, dominates, pareto

MIB = 1 << 20

points = st.lists(
    st.builds(
        Point,
        name=st.text("abcdefgh", min_size=1, max_size=3),
        time=st.floats(0.1, 10),
        accuracy=st.floats(0, 1),
        memory=st.floats(1, 100),
    ),
    min_size=1,
    max_size=12,
    unique_by=lambda p: p.name,
)


@given(points)
def test_the_front_is_exactly_the_undominated_and_each_other_names_its_dominators(pts):
    found = pareto(pts)
    front = {p.name for p in found.front}
    for p in pts:
        beaten = [q for q in pts if dominates(q, p)]
        assert (p.name in front) == (not beaten)
        if p.name not in front:  # named beside the front variants that beat it
            assert found.dominated_by[p.name]
            assert set(found.dominated_by[p.name]) <= front
            by = {q.name for q in pts if q.name in found.dominated_by[p.name]}
            assert by == {q.name for q in beaten if q.name in front}
    times = [p.time for p in found.front]
    assert times == sorted(times)
    # along the front, more time buys more accuracy: else the slower one would be dominated
    accs = [p.accuracy for p in found.front]
    assert all(b >= a for a, b in itertools.pairwise(accs))


@given(points)
def test_memory_keeps_only_dominated_variants_that_need_less_memory_than_their_dominators(pts):
    found = pareto(pts)
    for p in found.by_memory:
        assert not found.on_front(p.name)
        beaten_by = [q for q in pts if dominates(q, p)]
        assert beaten_by and all(q.memory > p.memory for q in beaten_by)
        assert not any(dominates(q, p, memory=True) for q in pts)


def test_a_user_model_joins_the_model_size_front_under_its_name():
    runs = [
        bench(name, steady(ms), technique="model_size", reference="small_cnn", accuracy=acc,
              eval_images=1000, peak_mem_bytes=mem * MIB, dataset="mnist5k", device="cpu",
              **extra)
        for name, ms, acc, mem, extra in [
            ("small_cnn", 5, 0.95, 20, {}),
            ("resnet18", 300, 0.97, 400, {}),
            ("tiny", 2, 0.96, 10, {"model_source": "examples.tiny_net:build"}),
        ]
    ]  # fmt: skip
    (t,) = tradeoffs.trade_offs(as_run(run_data(runs)))
    assert [t.label(p.name) for p in t.front.front] == ["tiny (your model)", "resnet18"]
    assert t.front.dominated_by == {"small_cnn": ["tiny"]}  # slower and less accurate
    md = summary.summary_markdown(as_run(run_data(runs)))
    assert "front: tiny (your model), resnet18" in md and "small_cnn (by tiny)" in md


def _picture(path):
    image = matplotlib.image.imread(path)
    assert image.shape[0] > 200 and image.shape[1] > 300
    return image


def _sweep_run(with_curves=True):
    curves = {
        "small": ([[1.0, 0.5, 0.3], [1.1, 0.6, 0.35]], [[0.90, 0.94, 0.95], [0.89, 0.93, 0.95]]),
        "big": ([[0.8, 0.3, 0.1], [0.9, 0.35, 0.12]], [[0.93, 0.96, 0.97], [0.92, 0.96, 0.97]]),
        "slow": ([[1.2, 0.9, 0.8], [1.3, 1.0, 0.85]], [[0.80, 0.86, 0.90], [0.81, 0.85, 0.89]]),
    }

    def figures(name, rate):
        loss, acc = curves[name]
        return {"curves": {"loss": loss, "accuracy": acc, "train_time_s": [[1, 2, 3]] * 2,
                           "lr": [[rate] * 4] * 3}}  # fmt: skip

    return as_run(run_data([
        bench(name, steady(ms), technique="model_size", reference="small", accuracy=acc,
              eval_images=1000, seeds=2, accuracy_std=0.005, peak_mem_bytes=mem * MIB,
              dataset="mnist5k", device="cpu", **(figures(name, 1e-3) if with_curves else {}))
        for name, ms, acc, mem in [("small", 5, 0.951, 20), ("big", 40, 0.982, 180),
                                   ("slow", 60, 0.895, 200)]
    ]))  # fmt: skip


def test_the_report_draws_the_front_the_curves_and_a_readable_accuracy_axis(tmp_path):
    run = _sweep_run()
    md = report.write_report(run, [run], tmp_path).read_text()
    pareto_png = next(tmp_path.glob("pareto_*.png"))
    assert f"![model_size: Pareto front]({pareto_png.name})" in md
    _picture(pareto_png)
    assert "model_size_train_step_curves.png" in md or "_curves.png" in md
    _picture(next(tmp_path.glob("*_curves.png")))
    assert "### Trade-off: model_size" in md and "dominated by small, big" in md
    # no LR panel when every variant ran the same schedule: two panels, wider than tall
    curves = _picture(next(tmp_path.glob("*_curves.png")))
    assert curves.shape[1] < 2.8 * curves.shape[0]


def test_the_time_axis_labels_a_range_narrower_than_one_step_at_the_variants(tmp_path, monkeypatch):
    """Two variants at 0.566x and 1x: a 1-2-5 log axis labels only "1x", and the other
    point's time cannot be read. Such a range is ticked at the variants' own times; a
    range spanning 1-2-5 steps keeps them."""
    from matplotlib.figure import Figure

    drawn: list = []
    monkeypatch.setattr(Figure, "savefig", lambda fig, path, **kw: drawn.append(fig))

    def labels(times):
        runs = [
            bench(name, steady(ms), technique="model_size", reference="a", accuracy=acc,
                  eval_images=1000, dataset="mnist5k", device="cpu")
            for name, ms, acc in zip("abc", times, (0.96, 0.78, 0.90), strict=False)
        ]  # fmt: skip
        (t,) = tradeoffs.trade_offs(as_run(run_data(runs)))
        plots.plot_pareto(t, tmp_path / "p.png")
        fig = drawn.pop()
        fig.canvas.draw()
        ax = fig.axes[0]
        low, high = ax.get_xlim()
        return {x.get_text() for x in ax.get_xticklabels() if low <= x.get_position()[0] <= high}

    assert labels((10, 5.66)) == {"0.566×", "1×"}
    assert {"0.2×", "0.5×", "1×"} <= labels((10, 2, 4))


def test_the_accuracy_panel_starts_where_the_differences_show(tmp_path):
    """95.1% and 98.2% on an axis from 0 to 100 would differ by a few pixels; the panel's
    axis spans the intervals instead (89.5% over two seeds: Student's t with one degree
    of freedom makes its interval about ±4.5 pt)."""
    from matplotlib.figure import Figure

    fig = Figure()
    ax = fig.subplots()
    benches = list(_sweep_run(with_curves=False).benchmarks.values())
    plots._accuracy_panel(ax, benches, [b.variant for b in benches], 0)
    low, high = ax.get_xlim()
    assert 80 < low < 85 and 98.5 < high <= 100
    assert (98.2 - 95.1) / (high - low) > 0.15  # a sixth of the panel, not 3% of it


def test_the_schedules_curves_add_the_learning_rate_panel(tmp_path):
    def schedule(name, rates):
        return bench(name, steady(5), technique="lr_schedule", variant=name,
                     reference="constant", accuracy=0.97, unit="to_target",
                     curves={"loss": [[1.0, 0.5]], "accuracy": [[0.9, 0.97]],
                             "train_time_s": [[1.0, 2.0]], "lr": rates})  # fmt: skip

    run = as_run(run_data([
        schedule("constant", [[1e-3] * 4, [1e-3] * 4]),
        schedule("onecycle", [[4e-5, 6e-4, 1e-3, 9e-4], [6e-4, 3e-4, 8e-5, 1e-6]]),
        schedule("cosine", [[1e-3, 9.6e-4, 8.5e-4, 6.9e-4], [5e-4, 3.1e-4, 1.5e-4, 4e-5]]),
    ]))  # fmt: skip
    (section,) = sections.by_section(run).values()
    path = plots.plot_curves("lr_schedule", section, tmp_path / "c.png")
    image = _picture(path)
    assert image.shape[1] > 2.8 * image.shape[0]  # three panels side by side


def test_the_augmentation_grid_is_drawn_from_the_saved_levels(tmp_path):
    images = np.random.default_rng(0).integers(0, 255, (20, 1, 16, 16)).astype("uint8")
    import torch

    grid = examples(torch.from_numpy(images), AugmentSpec(pad=2, flip=False, cutout=4), (0,))
    run = as_run(run_data([
        bench("none", steady(5), technique="augmentation", variant="none", reference="none"),
        bench("batched", steady(5), technique="augmentation", variant="batched",
              reference="none", augmented_examples=grid),
    ]))  # fmt: skip
    md = report.write_report(run, [run], tmp_path).read_text()
    assert "## Augmentation examples: augmentation" in md
    assert "pad+crop: padded and randomly cropped back; cutout: a square cut out" in md
    assert "flip:" not in md  # the bench trained without it: no column, no word
    image = _picture(next(tmp_path.glob("augment_*.png")))
    assert image.shape[0] > image.shape[1]  # six rows of four columns
