"""Framework switches (the seed poster's experiment 3, PyTorch's performance-tuning
guide): autograd anomaly detection and the autograd profiler on against the
defaults, and on CUDA cudnn.benchmark and pinned host-to-device copies. Each
variant times the same training step from a host batch; visionbench.techniques.framework_switches
says what each is expected to change. None changes the math, so no model is
trained and no accuracy is recorded. cudnn.benchmark runs in a process of its own
(cuDNN keeps its plans per process), its rounds replayed here.
"""

import pytest

from visionbench.measure import metrics
from visionbench.measure.runner import replay_clock
from visionbench.techniques import framework_switches

GROUP = f"{framework_switches.TECHNIQUE}:{metrics.TRAIN_STEP}"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "switch" in metafunc.fixturenames:
        # each variant's own benchmark mark: the ones timed in their own process are
        # replayed here, through the replay clock
        params = [
            pytest.param(
                s,
                marks=pytest.mark.benchmark(
                    group=GROUP,
                    **({"timer": replay_clock} if framework_switches.own_process(s) else {}),
                ),
            )
            for s in framework_switches.VARIANTS
        ]
        metafunc.parametrize("switch", params)


@pytest.mark.vb_datasets("mnist5k")
def bench_train_step(benchmark, vb, switch):
    reason = framework_switches.unsupported(switch, vb.device)
    if reason is not None:
        pytest.skip(reason)
    framework_switches.measure(vb, benchmark, switch, vb.profile.step_techniques.zeroing_model)
