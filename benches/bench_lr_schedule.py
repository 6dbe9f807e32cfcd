"""Learning-rate schedules: constant (the reference), one-cycle, cosine; and early stopping.

Every schedule trains the same model for the same epochs budget with the same
peak learning rate, over several seeds (seed i is the same initialisation and
data order in every schedule). The timed unit is a seed's training up to the
profile's target test accuracy: one round per seed, from its first step to the
end of the epoch whose evaluation first reached the target (evaluations
included; a seed that never reaches it counts its whole budget). Each run then
goes on, untimed, to the end of its budget. Recorded besides: epochs and
training seconds to the target (mean, spread and each seed's), the final
accuracy. Expected, as in the "1000 seconds" article: one-cycle's warm-up allows
the peak rate and its annealing settles higher and sooner than a constant rate;
cosine anneals without the warm-up. (A training step costs the same under every
schedule, so it is not timed here.)

`constant_early_stop` is constant LR stopped once the accuracy on a held-out
part of the training split (never the test split) has not improved for the
budget's patience. Every variant holds the same part out, so against the
constant reference it shows the epochs saved and the accuracy given up.
"""

import pytest

from visionbench.measure import metrics, techniques
from visionbench.measure.runner import Variant

TECHNIQUE = techniques.LR_SCHEDULE.name
VARIANTS = {  # variant -> (schedule, early stopping)
    "constant": ("constant", False),
    "onecycle": ("onecycle", False),
    "cosine": ("cosine", False),
    "constant_early_stop": ("constant", True),
}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "schedule" in metafunc.fixturenames:
        metafunc.parametrize("schedule", list(VARIANTS))


@pytest.mark.vb_datasets("mnist5k")
@pytest.mark.benchmark(group=f"{TECHNIQUE}:{metrics.TO_TARGET}")
def bench_time_to_target(benchmark, vb, schedule):
    budget = vb.profile.schedules
    lr_schedule, early_stop = VARIANTS[schedule]
    workload = vb.workload(
        budget.model,
        schedule=lr_schedule,
        epochs=budget.epochs,
        validation_fraction=budget.validation_fraction,
        early_stopping_patience=budget.patience if early_stop else None,
    )
    vb.time_to_target(
        benchmark,
        Variant(TECHNIQUE, schedule, reference=techniques.LR_SCHEDULE.reference),
        workload,
        seeds=vb.seeds_or(budget.seeds),
        target=vb.profile.target_accuracy,
    )
