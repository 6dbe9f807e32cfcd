"""Root pytest plugin: visionbench's options, profiles and machine fingerprint.

Options (all also settable in `addopts`):
  --vb-profile {quick,standard,paper}  budgets and sweeps (default: standard with
                                       a GPU, quick without)
  --vb-device {auto,cpu,cuda,all}      where to run (auto: every CUDA device, or
                                       the CPU when there is none)
  --vb-data SPEC[,SPEC...]             mnist5k, digits, gradations,
                                       imagefolder:PATH, cifar10:PATH (default:
                                       each bench's own choice)
  --vb-seeds N                         seeds behind every accuracy figure
  --vb-threads N                       torch's intra-op CPU threads
"""

from __future__ import annotations

import pytest

from visionbench import fingerprint, profiles

pytest_plugins = [
    "fixtures.devices",
    "fixtures.datasets",
    "fixtures.models",
    "fixtures.data_paths",
    "fixtures.recipes",
]

DEVICE_CHOICES = ("auto", "cpu", "cuda", "all")
PROFILE_KEY = pytest.StashKey[profiles.Profile]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("visionbench")
    group.addoption(
        "--vb-profile",
        default=None,
        metavar="NAME",
        help="budgets and sweeps: quick, standard or paper "
        "(default: standard with a GPU, quick without)",
    )
    group.addoption(
        "--vb-device",
        default="auto",
        metavar="DEVICE",
        help="auto (every CUDA device, else the CPU), cpu, cuda or all",
    )
    group.addoption(
        "--vb-data",
        default=None,
        metavar="SPEC",
        help="comma-separated datasets: mnist5k, digits, gradations, "
        "imagefolder:PATH, cifar10:PATH (default: each bench's own)",
    )
    group.addoption(
        "--vb-threads",
        default=None,
        type=int,
        metavar="N",
        help="torch's intra-op CPU threads (default: torch's own, one per core); on a "
        "shared CPU, 1 keeps timings far steadier when other work competes",
    )
    group.addoption(
        "--vb-seeds",
        default=None,
        type=int,
        metavar="N",
        help="seeds behind each accuracy figure (default: the profile's)",
    )


def pytest_configure(config: pytest.Config) -> None:
    name = config.getoption("--vb-profile") or profiles.default_profile_name()
    try:
        config.stash[PROFILE_KEY] = profiles.get(name)
    except ValueError as exc:
        raise pytest.UsageError(f"--vb-profile: {exc}") from None
    device = config.getoption("--vb-device")
    if device not in DEVICE_CHOICES:
        raise pytest.UsageError(
            f"--vb-device: unknown device {device!r}; choose one of {', '.join(DEVICE_CHOICES)}"
        )
    seeds = config.getoption("--vb-seeds")
    if seeds is not None and seeds < 1:
        raise pytest.UsageError(f"--vb-seeds: must be at least 1, got {seeds}")
    threads = config.getoption("--vb-threads")
    if threads is not None:
        if threads < 1:
            raise pytest.UsageError(f"--vb-threads: must be at least 1, got {threads}")
        import torch

        torch.set_num_threads(threads)  # recorded in the fingerprint (`threads`)
    spec = config.getoption("--vb-data")
    if spec is not None:
        from visionbench.data.spec import parse_data_specs

        try:
            parse_data_specs(spec)
        except (ValueError, FileNotFoundError) as exc:
            raise pytest.UsageError(f"--vb-data: {exc}") from None


def profile_of(config: pytest.Config) -> profiles.Profile:
    """The profile chosen for this session."""
    return config.stash[PROFILE_KEY]


@pytest.fixture(scope="session")
def vb_profile(pytestconfig: pytest.Config) -> profiles.Profile:
    """The profile chosen with --vb-profile (budgets and sweeps)."""
    return profile_of(pytestconfig)


@pytest.hookimpl(optionalhook=True)
def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    machine_info["visionbench"] = fingerprint.fingerprint(profile_of(config).name)


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Device, then data, then the bench's own sweep: `[cpu-mnist5k-resnet18]`."""
    from fixtures.datasets import parametrize_data
    from fixtures.devices import parametrize_device

    parametrize_device(metafunc)
    parametrize_data(metafunc)


FAILED_KEY = pytest.StashKey[list]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """A bench that fails (a CUDA out-of-memory, a broken image, a bug) is recorded
    with its error in the saved run, so the gate reports it as failed, by name."""
    report = yield
    if (
        report.when in ("setup", "call")
        and report.failed
        and "benchmark" in getattr(item, "fixturenames", ())
    ):
        marker = item.get_closest_marker("benchmark")
        group = marker.kwargs.get("group") if marker is not None else None
        error = call.excinfo.exconly() if call.excinfo is not None else "failed"
        item.config.stash.setdefault(FAILED_KEY, []).append(
            {"fullname": item.nodeid, "name": item.name, "group": group,
             "extra_info": {"error": error[:500]}}
        )  # fmt: skip
    return report


@pytest.hookimpl(optionalhook=True)
def pytest_benchmark_update_json(config: pytest.Config, benchmarks, output_json: dict) -> None:
    """Failed benches go beside pytest-benchmark's own list (which drops them), under
    `visionbench_failed`; visionbench's results reader shows them as failed."""
    failed = config.stash.get(FAILED_KEY, [])
    if failed:
        output_json["visionbench_failed"] = failed


def pytest_report_header(config: pytest.Config) -> str:
    profile = profile_of(config)
    return f"visionbench: profile {profile.name} ({profile.description})"
