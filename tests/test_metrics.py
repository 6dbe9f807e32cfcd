"""The metric schema: one definition, validated on the way in."""

import math

import pytest
from helpers import FakeBenchmark

from visionbench.measure import metrics


def test_every_metric_is_fully_described():
    for name, m in metrics.METRICS.items():
        assert m.name == name
        assert m.unit and m.description
        assert m.better in ("lower", "higher", "none")


def test_record_stores_valid_figures():
    bench = FakeBenchmark()
    metrics.record(
        bench,
        technique="model_size",
        variant="resnet18",
        accuracy=0.97,
        peak_mem_bytes=1234,
        diverged=False,
        energy_j=None,
        route_share={"small_cnn": 0.7, "resnet18": 0.3},
    )
    assert bench.extra_info["accuracy"] == 0.97
    assert bench.extra_info["route_share"]["resnet18"] == 0.3


@pytest.mark.parametrize(
    ("figures", "message"),
    [
        ({"acuracy": 0.9}, "unknown metric 'acuracy'"),
        ({"accuracy": 1.5}, "fraction"),
        ({"accuracy": math.nan}, "NaN"),
        ({"peak_mem_bytes": -1}, "negative"),
        ({"diverged": 1}, "true or false"),
        ({"flops": "many"}, "number"),
        ({"params": True}, "number"),
        ({"image_size": "28"}, "image_size"),
        ({"route_share": [0.5]}, "mapping"),
        ({"unit": "inference"}, "unknown unit 'inference'; known: train_step, infer_batch"),
        ({"energy_j": -0.5}, "negative"),
    ],
)
def test_bad_figures_are_refused_by_name(figures, message):
    bench = FakeBenchmark()
    with pytest.raises(metrics.SchemaError, match=message):
        metrics.record(bench, **figures)
    assert bench.extra_info == {}


def test_the_posters_figures_are_in_the_schema_with_their_gate_kind():
    kinds = {name: (m.unit, m.better, m.kind) for name, m in metrics.METRICS.items()}
    assert kinds["train_accuracy"] == ("fraction", "higher", "accuracy")  # gated as accuracy
    assert kinds["run_peak_mem_bytes"] == ("B", "lower", "memory")  # gated as memory
    assert kinds["model_bytes"] == ("B", "lower", "info")


def test_each_timed_unit_is_named_once_and_recorded_units_are_known():
    assert len(set(metrics.UNITS)) == len(metrics.UNITS)
    for unit in metrics.UNITS:
        metrics.validate({"unit": unit})
    units_in_use = {m.unit for m in metrics.METRICS.values()}
    assert {metrics.SECONDS, metrics.BYTES, metrics.FRACTION, metrics.COUNT} <= units_in_use
    assert set(metrics.NON_NEGATIVE) <= units_in_use
