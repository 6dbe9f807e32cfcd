"""The resolution sweep's knee: the smallest size as accurate as the largest, within noise."""

from types import SimpleNamespace

from visionbench.report import knee
from visionbench.report.knee import statement as knee_statement


def size(px, accuracy, median, memory, n=1000, seeds=1, std=0.0, ref=64):
    info = {
        "technique": "resolution",
        "image_size": px,
        "accuracy": accuracy,
        "eval_images": n,
        "seeds": seeds,
        "accuracy_std": std,
        "peak_mem_bytes": memory,
    }
    return SimpleNamespace(
        variant=f"{px}px", reference=f"{ref}px", extra_info=info, stats={"median": median},
        error=None,
    )  # fmt: skip


def test_the_knee_is_the_smallest_size_within_the_binomial_noise():
    sweep = [
        size(8, 0.80, 1.0, 10),
        size(16, 0.955, 2.0, 20),  # 1.5 pt below: inside ±1.8 pt on 1000 images each
        size(32, 0.97, 4.0, 40),
        size(64, 0.97, 8.0, 80),
    ]
    found, ref, noise = knee.knee(sweep)
    assert found.variant == "16px" and ref.variant == "64px"
    assert 0.015 < noise < 0.025
    text = knee_statement(sweep)
    assert "16px is the smallest size" in text and "0.25× its time" in text
    assert "0.25× its peak memory" in text


def test_more_test_images_make_a_small_drop_significant():
    sweep = [size(16, 0.955, 2.0, 20, n=20000), size(32, 0.97, 4.0, 40, n=20000),
             size(64, 0.97, 8.0, 80, n=20000)]  # fmt: skip
    assert knee.knee(sweep)[0].variant == "32px"


def test_seed_spread_widens_the_noise():
    sweep = [size(16, 0.93, 2.0, 20, seeds=3, std=0.04), size(64, 0.97, 8.0, 80, seeds=3, std=0.04)]
    assert knee.knee(sweep)[0].variant == "16px"  # 4 pt, inside the seeds' ±6.4 pt


def test_no_knee_when_every_smaller_size_loses_accuracy():
    sweep = [size(16, 0.5, 2.0, 20), size(32, 0.8, 4.0, 40), size(64, 0.97, 8.0, 80)]
    assert knee.knee(sweep)[0].variant == "64px"
    assert "no smaller size is within the noise" in knee_statement(sweep)


def test_other_techniques_get_no_knee():
    other = size(16, 0.9, 1.0, 1)
    other.extra_info["technique"] = "model_size"
    assert knee_statement([other]) == ""
