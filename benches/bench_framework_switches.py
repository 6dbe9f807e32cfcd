"""Framework switches (the seed poster's experiment 3, PyTorch's performance-tuning
guide): autograd anomaly detection and the autograd profiler on against the
defaults, and on CUDA cudnn.benchmark and pinned host-to-device copies. Each
variant times the same training step from a host batch; visionbench.techniques.framework_switches
says what each is expected to change. None changes the math, so no model is
trained and no accuracy is recorded.
"""

import pytest

from visionbench.measure import metrics
from visionbench.techniques import framework_switches


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "switch" in metafunc.fixturenames:
        metafunc.parametrize("switch", framework_switches.VARIANTS)


@pytest.mark.vb_datasets("mnist5k")
@pytest.mark.benchmark(group=f"{framework_switches.TECHNIQUE}:{metrics.TRAIN_STEP}")
def bench_train_step(benchmark, vb, switch):
    reason = framework_switches.unsupported(switch, vb.device)
    if reason is not None:
        pytest.skip(reason)
    framework_switches.measure(vb, benchmark, switch, vb.profile.step_techniques.zeroing_model)
