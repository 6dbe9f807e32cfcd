"""Framework switches (the seed poster's experiment 3, PyTorch's performance-tuning
guide): autograd anomaly detection and the autograd profiler on against the
defaults, and on CUDA cudnn.benchmark and pinned host-to-device copies. Each
variant times the same training step from a host batch; visionbench.techniques.switches
says what each is expected to change. None changes the math, so no model is
trained and no accuracy is recorded.
"""

import pytest

from visionbench.techniques import switches


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "switch" in metafunc.fixturenames:
        metafunc.parametrize("switch", switches.VARIANTS)


@pytest.mark.vb_datasets("mnist5k")
@pytest.mark.benchmark(group=f"{switches.TECHNIQUE}:train_step")
def bench_train_step(benchmark, vb, switch):
    reason = switches.unsupported(switch, vb.device)
    if reason is not None:
        pytest.skip(reason)
    switches.measure(vb, benchmark, switch, vb.profile.step_techniques.zeroing_model)
